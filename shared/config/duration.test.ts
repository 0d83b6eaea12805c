import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration } from './duration.js';

describe('parseDuration', () => {
  it.each([
    ['500ms', 500],
    ['30s', 30_000],
    ['5m', 300_000],
    ['1h30m', 5_400_000],
    ['1.5s', 1500],
    ['30d', 2_592_000_000],
    ['1d12h', 129_600_000],
  ])('reads %s as %d ms', (text, ms) => expect(parseDuration(text)).toBe(ms));

  it.each(['', '5', 'five minutes', '5x', '5m junk', '-5m'])('refuses %j', (text) => {
    expect(parseDuration(text)).toBeUndefined();
  });

  it('formats back to the largest whole unit', () => {
    expect([300_000, 30_000, 7_200_000, 1500].map(formatDuration)).toEqual([
      '5m',
      '30s',
      '2h',
      '1500ms',
    ]);
  });
});
