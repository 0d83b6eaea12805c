import { deflateRawSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { CorruptRecordError } from '../../shared/ports/rollout-store.js';
import { aHistoryEntry, aRolloutState, nextVersion } from '../../test/support/state-builders.js';
import { decodeSummary, encodeSummary } from './finished-rollout-summary.js';

describe('finished rollout summary', () => {
  const state = nextVersion(aRolloutState().build(), { status: 'succeeded' });
  const history = Array.from({ length: 40 }, (_, i) =>
    aHistoryEntry(state, { version: i + 1, input: 'stage_applied', detail: `c${i % 10} at 5%` }),
  );

  it('reads back exactly the state and history it was given', () => {
    expect(decodeSummary('k', encodeSummary({ state, history }))).toEqual({ state, history });
    expect(decodeSummary('k', encodeSummary({ state, history: [] }))).toEqual({
      state,
      history: [],
    });
  });

  it('is several times smaller than the JSON it holds', () => {
    const json = JSON.stringify({ state, history }).length;
    expect(encodeSummary({ state, history }).length * 4).toBeLessThan(json);
  });

  it('names the key and the fault when the bytes are not a summary', () => {
    const read = (bytes: Buffer) => () => decodeSummary('rollout:summary:r1', bytes);
    expect(read(Buffer.from([7, 1, 2]))).toThrow(CorruptRecordError);
    expect(read(Buffer.from([7, 1, 2]))).toThrow(/rollout:summary:r1.*unknown summary format 7/);
    expect(read(Buffer.from([1, 0xff, 0xfe]))).toThrow(/not a deflated JSON summary/);
    const wrongShape = Buffer.concat([
      Buffer.from([1]),
      deflateRawSync(JSON.stringify({ state: { ...state, status: 'exploded' }, history })),
    ]);
    expect(read(wrongShape)).toThrow(/rollout:summary:r1[^]*status/);
    expect(read(Buffer.alloc(0))).toThrow(/unknown summary format/);
  });
});
