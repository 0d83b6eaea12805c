import { describe, expect, it } from 'vitest';
import { releaseTransition } from '../../shared/release/transition.js';
import { aReleaseState } from '../../test/support/release-builders.js';
import { releaseCardText } from './release-card.js';

describe('the release card', () => {
  it('lists members in plan order with status, what each waits for, its rollout id and time', () => {
    const started = releaseTransition(
      aReleaseState('rel-7', 0),
      { type: 'start', actor: 'U1' },
      1_000,
    );
    if (!started.ok) throw new Error(started.reason);
    const text = releaseCardText(started.state, 61_000);
    expect(text).toContain('*Release `rel-7`* · 3 services · started by <@U1>');
    expect(text).toContain('*running* · 61s');
    expect(text).toContain('1. *payments* `2.0.0` · starting · 1m · `rel-7-payments`');
    expect(text).toContain('3. *checkout* `3.1.0` · waiting · after payments · `rel-7-checkout`');
  });

  it('shows why it goes back, and a typed reason literally (no mention, no formatting)', () => {
    const state = { ...aReleaseState('rel-7', 0), reason: '<!channel> *now*' };
    const aborted = releaseTransition(
      state,
      { type: 'abort', actor: 'U2', reason: '<!here> stop' },
      5_000,
    );
    if (!aborted.ok) throw new Error(aborted.reason);
    const text = releaseCardText(aborted.state, 5_000);
    expect(text).not.toContain('<!channel>');
    expect(text).not.toContain('<!here>');
    expect(text).toContain('aborted');
    expect(text).toContain('cancelled (never started)');
  });

  it('shows the failure budget spent of release.errorBudget, and none without one', () => {
    const base = aReleaseState('rel-7', 0);
    expect(releaseCardText(base, 0)).not.toContain('error budget');
    const withBudget = {
      ...base,
      errorBudget: {
        budget: 200,
        tallies: {
          payments: {
            'eu-west': {
              canaryRequests: 1000,
              canaryErrors: 22,
              expectedErrors: 9.5,
              pooledRequests: 0,
              stableRequests: 10_000,
              stableErrors: 95,
              windows: [[0, 1000]] as [number, number][],
            },
          },
        },
      },
    };
    expect(releaseCardText(withBudget, 0)).toContain('· error budget 12.5/200');
  });
});
