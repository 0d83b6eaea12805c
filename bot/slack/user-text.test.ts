import { describe, expect, it } from 'vitest';
import { parsePolicy } from '../../shared/config/policy-loader.js';
import type { RolloutState } from '../../shared/rollout/state.js';
import { aPlan } from '../../test/support/plan-builders.js';
import { slackPolicyYaml } from '../../test/support/slack-policy.js';
import { blocksText } from '../../test/support/slack-requests.js';
import { aRolloutState } from '../../test/support/state-builders.js';
import { TransitionRefusedError } from '../rollout-service.js';
import { alertView } from './alert-messages.js';
import { renderCard } from './card.js';
import { parseCommand } from './command-parser.js';
import { historyText, planText, refusalText } from './replies.js';
import { quotesOf } from './rollout-text.js';
import { literal, slackifyQuoting, typedQuote } from './slack-text.js';
import { threadLine } from './thread-lines.js';

/** Each way a typed text could ping, link or disguise itself, with how it must read instead. */
const VECTORS: [name: string, typed: string, shown: string][] = [
  ['a user group mention', '<!subteam^S0123AB>', '&lt;!subteam^S\u20600123AB&gt;'],
  ['a user mention', '<@U0999XY>', '&lt;@U\u20600999XY&gt;'],
  ['a channel link with a label', '<#C0OTHER|general>', '&lt;#C0OTHER|general&gt;'],
  ['@channel', '<!channel>', '&lt;!channel&gt;'],
  ['@here', '<!here>', '&lt;!here&gt;'],
  ['a bare group id', 'S0PEOPLE', 'S\u20600PEOPLE'],
  ['a bare user id', 'U0OTHER1', 'U\u20600OTHER1'],
  ['bold', '*bold*', '\u2217bold\u2217'],
  ['italics', '_it_', '\uFF3Fit\uFF3F'],
  ['strike-through', '~gone~', '\u223Cgone\u223C'],
  ['code', '`code`', '\u02CBcode\u02CB'],
  [
    'a link with a chosen label',
    '<http://evil.example|click me>',
    '&lt;http://evil.example|click me&gt;',
  ],
  ['a right-to-left override', 'invoice\u202Etxt.exe', 'invoicetxt.exe'],
];
const TYPED = VECTORS.map(([, typed]) => typed).join(' ');
const SHOWN = VECTORS.map(([, , shown]) => shown).join(' ');

/** Every mention, broadcast or link in a Slack text (`<@…>`, `<!…>`, `<#…>`, `<http…>`). */
function specials(text: string): string[] {
  return [...text.matchAll(/<[@!#h][^<>]*>/g)]
    .map((m) => m[0])
    .filter((m) => !m.startsWith('<!date^'));
}

function expectInert(text: string, allowed: string[] = []): void {
  expect(new Set(specials(text))).toEqual(new Set(allowed));
  expect(text).not.toMatch(/[\u202A-\u202E\u2066-\u2069\u200E\u200F\u061C]/);
  for (const marked of ['*bold*', '_it_', '~gone~', '`code`']) expect(text).not.toContain(marked);
  expect(text).not.toMatch(/\bS0PEOPLE\b|\bU0OTHER1\b/);
}

const plan = aPlan().withReason(TYPED).startedBy('U0STARTER').build();
const lead = 'U0LEAD';
const aborted: RolloutState = {
  ...aRolloutState().withId('checkout-3f9a1c').withPlan(plan).build(),
  status: 'aborted',
  outcome: `aborted by ${lead}: ${TYPED}`,
  rollback: { cause: 'aborted', actor: lead },
};
const rollingBack: RolloutState = { ...aborted, status: 'rolling_back' };

describe('literal: typed text shows as typed', () => {
  for (const [name, typed, shown] of VECTORS) {
    it(`neutralises ${name}`, () => {
      expect(literal(typed)).toBe(shown);
      expectInert(literal(typed));
    });
  }

  it('keeps ordinary text, underscores inside words and line breaks as spaces', () => {
    expect(literal('fixes INC_42 in feature_flag & more')).toBe(
      'fixes INC_42 in feature_flag &amp; more',
    );
    expect(literal('one\n> two')).toBe('one &gt; two');
  });
});

describe('what people typed, wherever the bot shows it', () => {
  it('the card shows the start reason and the abort reason literally, mentioning only the bot’s people', () => {
    for (const state of [aborted, rollingBack]) {
      const card = renderCard(state);
      const text = `${card.text}\n${blocksText(card.blocks)}`;
      expectInert(text, ['<@U0STARTER>', '<@U0LEAD>']);
      expect(text).toContain(`> ${SHOWN}`);
      expect(text).toContain(`aborted by <@U0LEAD>: ${SHOWN}`);
    }
  });

  it('the thread line of an abort shows the reason literally', () => {
    const line = threadLine(rollingBack, {
      actor: `user:${lead}`,
      input: 'abort',
      detail: TYPED,
      status: 'rolling_back',
    });
    expectInert(line ?? '', ['<@U0LEAD>']);
    expect(line).toBe(`:no_entry: <@U0LEAD> aborted the rollout: ${SHOWN}; rolling back`);
  });

  it('an alert that quotes a rollout’s outcome pages only the on-call group', () => {
    const alert = alertView(
      rollingBack,
      'rollout_stuck',
      `Rollout checkout-3f9a1c has been rolling back (${rollingBack.outcome}) for 5m`,
      'S0PAGER',
    );
    const text = `${alert.text}\n${blocksText(alert.blocks)}`;
    expectInert(text, ['<!subteam^S0PAGER>', '<@U0LEAD>']);
    expect(text).toContain(`(aborted by <@U0LEAD>: ${SHOWN}) for 5m`);
  });

  it('ephemeral answers (history, dry run, a refusal that quotes the state, a parse error) show it literally', () => {
    const history = historyText('checkout', [aborted]);
    expectInert(history, ['<@U0STARTER>', '<@U0LEAD>']);
    expect(history).toContain(SHOWN);

    const policy = parsePolicy(slackPolicyYaml(), 'slack-policy.yaml');
    const dryRun = planText(plan, policy.services.checkout!, {
      userId: 'U0STARTER',
      mayStart: true,
    });
    expectInert(dryRun, ['<@U0STARTER>', '<!subteam^S0DEPLOYERS>']);
    expect(dryRun).toContain(`*Reason*: ${SHOWN}`);

    const refused = new TransitionRefusedError(
      'invalid_transition',
      `pause ignored: checkout-3f9a1c has ended, aborted (${aborted.outcome})`,
    );
    const refusal = refusalText(refused, quotesOf(aborted));
    expectInert(refusal, ['<@U0LEAD>']);
    expect(refusal).toContain(SHOWN);

    for (const text of [`list ${TYPED}`, `start checkout 2.4.1 --bake ${VECTORS[0]![1]}`]) {
      const parsed = parseCommand(text);
      expect(parsed.ok).toBe(false);
      if (!parsed.ok) expectInert(parsed.error);
    }
  });
});

describe('slackifyQuoting', () => {
  it('leaves the bot’s mentions whole when a harmless typed name occurs inside them', () => {
    const text = 'you may not abort rollouts of payments; ask one of <!subteam^S0LEADS>';
    expect(slackifyQuoting(text, [typedQuote('team')])).toBe(text);
    expect(slackifyQuoting(`${text} (<@U1X>)`, [typedQuote('<@U1X>')])).toBe(
      `${text} (&lt;@U1X&gt;)`,
    );
  });
});

describe('literal: markers that cannot format are kept', () => {
  it('keeps markers Slack could not pair, and unmarks nested spans', () => {
    expect(literal('window.__pwned=1 and 5 * 3 and a_b_c')).toBe(
      'window.__pwned=1 and 5 * 3 and a_b_c',
    );
    expect(literal('*_both_*')).toBe('\u2217\uFF3Fboth\uFF3F\u2217');
    expect(literal('```block```')).not.toContain('`');
  });
});
