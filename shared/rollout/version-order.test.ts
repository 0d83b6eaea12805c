import { describe, expect, it } from 'vitest';
import { compareVersions, sameVersion } from './version-order.js';

describe('compareVersions', () => {
  it('orders numeric dot parts as numbers, missing parts as 0', () => {
    expect(compareVersions('2.10.0', '2.9.0')).toBe(1);
    expect(compareVersions('2.4.0', '2.4.1')).toBe(-1);
    expect(compareVersions('1.2', '1.2.0')).toBe(0);
    expect(compareVersions('v2.4.1', '2.4.1')).toBe(0);
  });

  it('puts a pre-release before its release and orders pre-releases as semver does', () => {
    expect(compareVersions('2.5.0-rc.1', '2.5.0')).toBe(-1);
    expect(compareVersions('2.5.0-rc.2', '2.5.0-rc.10')).toBe(-1);
    expect(compareVersions('2.5.0-alpha', '2.5.0-alpha.1')).toBe(-1);
    expect(compareVersions('2.5.0-1', '2.5.0-alpha')).toBe(-1);
    expect(compareVersions('2.5.0-rc.1', '2.4.9')).toBe(1);
  });

  it('ignores build metadata for the order and cannot order what is not a version', () => {
    expect(compareVersions('2.4.1+b2', '2.4.1+b1')).toBe(0);
    expect(compareVersions('latest', '2.4.1')).toBeUndefined();
    expect(compareVersions('2.4.1', 'main-abc123')).toBeUndefined();
  });
});

describe('sameVersion', () => {
  it('is the same release and build', () => {
    expect(sameVersion('2.4.1', '2.4.1')).toBe(true);
    expect(sameVersion('v2.4.1', '2.4.1')).toBe(true);
    expect(sameVersion('2.4.1+b2', '2.4.1+b1')).toBe(false);
    expect(sameVersion('2.4.1', '2.4.2')).toBe(false);
    expect(sameVersion('main-abc', 'main-abc')).toBe(true);
  });
});
