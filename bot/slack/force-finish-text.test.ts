import { describe, expect, it } from 'vitest';
import { aPlan } from '../../test/support/plan-builders.js';
import { effectsOf, rolloutIn } from '../../test/support/rollout-driver.js';
import { alertView } from './alert-messages.js';
import { renderCard } from './card.js';
import { historyText } from './replies.js';
import { outcomeText } from './rollout-text.js';

const HOSTILE = '<!subteam^S0ONCALL> <@U0BOSS1> U0LEAD12 <!channel> *bold* \u202Eevil';

describe('a force-finish reason', () => {
  it('is shown literally on the card, in the alert, its outcome and the history: no mention, no formatting, no bidi', () => {
    const d = rolloutIn('rolling_back', aPlan().withClusters('eu', 'us').build());
    d.accept({ type: 'rolled_back', cluster: 'eu' });
    d.accept({
      type: 'command_failed',
      cluster: 'us',
      commandId: 'c-1',
      commandType: 'rollback',
      reason: 'cluster gone',
    });
    const effects = d.accept({ type: 'force_finish', actor: 'U0LEAD', reason: HOSTILE });
    const [alert] = effectsOf(effects, 'notify');
    const shown = [
      alertView(d.state, alert!.kind, alert!.message, 'S0ONCALL').text,
      JSON.stringify(alertView(d.state, alert!.kind, alert!.message, 'S0ONCALL').blocks),
      outcomeText(d.state),
      JSON.stringify(renderCard(d.state, { samples: [], buttons: false })),
      historyText('checkout', [d.state]),
    ];
    for (const text of shown) {
      expect(text).not.toContain('<!subteam^S0ONCALL> <@U0BOSS1>');
      expect(text).not.toContain('<@U0BOSS1>');
      expect(text).not.toContain('<@U0LEAD12>');
      expect(text).not.toContain('<!channel>');
      expect(text).not.toContain('\u202E');
    }
    // The bot's own page of on-call is still a mention.
    expect(alertView(d.state, alert!.kind, alert!.message, 'S0ONCALL').text).toMatch(
      /^<!subteam\^S0ONCALL> /,
    );
  });
});
