import { describe, expect, it } from 'vitest';
import { aPlan } from '../test/support/plan-builders.js';
import { versionOrderNote, versionRefusal } from './start-checks.js';

const plan = (version: string, stableVersion: string) => ({
  ...aPlan().build(),
  service: 'checkout',
  version,
  stableVersion,
});

describe('versionRefusal', () => {
  it('refuses the stable version itself, naming it', () => {
    const err = versionRefusal(plan('2.4.0', '2.4.0'), false);
    expect(err?.code).toBe('same_as_stable');
    expect(err?.message).toBe(
      'checkout already runs 2.4.0 as its stable version, so a rollout of 2.4.0 would change nothing: start a newer version',
    );
    expect(versionRefusal(plan('v2.4.0', '2.4.0'), true)?.code).toBe('same_as_stable');
  });

  it('refuses an older version unless the person allows a downgrade', () => {
    const err = versionRefusal(plan('2.3.9', '2.4.0'), false);
    expect(err?.code).toBe('downgrade');
    expect(err?.message).toBe(
      "2.3.9 is older than checkout's stable version 2.4.0: to go back to it, add --allow-downgrade to the same command",
    );
    expect(versionRefusal(plan('2.3.9', '2.4.0'), true)).toBeUndefined();
    expect(versionRefusal(plan('2.4.0-rc.1', '2.4.0'), false)?.code).toBe('downgrade');
  });

  it('lets a newer version, or another build of the same release, go', () => {
    expect(versionRefusal(plan('2.4.1', '2.4.0'), false)).toBeUndefined();
    expect(versionRefusal(plan('2.10.0', '2.9.0'), false)).toBeUndefined();
    expect(versionRefusal(plan('2.4.0+b2', '2.4.0+b1'), false)).toBeUndefined();
  });

  it('refuses only equality when the versions cannot be ordered, and says so', () => {
    expect(versionRefusal(plan('2.4.1', 'main-abc123'), false)).toBeUndefined();
    expect(versionOrderNote(plan('2.4.1', 'main-abc123'))).toContain(
      'cannot be ordered as versions',
    );
    expect(versionOrderNote(plan('2.4.1', '2.4.0'))).toBeUndefined();
    expect(versionRefusal(plan('main-abc123', 'main-abc123'), false)?.message).toContain(
      'only starting the stable version itself is refused',
    );
  });
});
