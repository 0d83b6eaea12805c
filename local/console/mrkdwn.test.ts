import { describe, expect, it } from 'vitest';
import { alertView } from '../../bot/slack/alert-messages.js';
import { escapeText } from '../../bot/slack/slack-text.js';
import { decodeEntities, emojify, parseMrkdwn, type MrkdwnNode } from './public/mrkdwn.js';

/** The text a tree shows, with formatting marked the way a test can read it. */
function shown(nodes: MrkdwnNode[]): string {
  return nodes
    .map((n): string => {
      switch (n.t) {
        case 'text':
          return n.v;
        case 'br':
          return '\n';
        case 'b':
          return `[b:${shown(n.c)}]`;
        case 'i':
          return `[i:${shown(n.c)}]`;
        case 's':
          return `[s:${shown(n.c)}]`;
        case 'quote':
          return `[quote:${shown(n.c)}]`;
        case 'code':
          return `[code:${n.v}]`;
        case 'pre':
          return `[pre:${n.v}]`;
        case 'user':
        case 'group':
        case 'channel':
          return `[${n.t}:${n.id}${n.label ? `|${n.label}` : ''}]`;
        case 'date':
          return `[date:${n.ts}|${n.fallback}]`;
        case 'special':
          return `[@${n.v}]`;
        case 'link':
          return `[link:${n.url}|${n.label}]`;
      }
    })
    .join('');
}

describe('parseMrkdwn', () => {
  it('reads the card headline: bold, code, a mention and a quoted reason', () => {
    expect(
      shown(
        parseMrkdwn(
          '*checkout* `2.5.0` (from `2.4.0`) · canary · started by <@U0LOCAL>\n> fixes INC-42',
        ),
      ),
    ).toBe(
      '[b:checkout] [code:2.5.0] (from [code:2.4.0]) · canary · started by [user:U0LOCAL][quote:fixes INC-42]',
    );
  });

  it('turns the escaped text people typed back into characters, never into markup', () => {
    const typed = '<img src=x onerror=alert(1)> & <b>';
    const nodes = parseMrkdwn(`reason: ${escapeText(typed)}`);
    expect(nodes).toEqual([{ t: 'text', v: `reason: ${typed}` }]);
  });

  it('keeps markers inside words and unpaired markers as text', () => {
    expect(shown(parseMrkdwn('snake_case_name and 2*3*4 and *open'))).toBe(
      'snake_case_name and 2*3*4 and *open',
    );
    expect(shown(parseMrkdwn('_no sample yet_ · ~5%~ done'))).toBe(
      '[i:no sample yet] · [s:5%] done',
    );
  });

  it('reads bold around a mention, and a date whose format has an underscore', () => {
    expect(shown(parseMrkdwn('*approved by <@U0LEAD> today*'))).toBe(
      '[b:approved by [user:U0LEAD] today]',
    );
    expect(
      shown(parseMrkdwn('`id` · updated <!date^1795377168^{time_secs}|12:00:00 UTC> _later_')),
    ).toBe('[code:id] · updated [date:1795377168|12:00:00 UTC] [i:later]');
  });

  it('reads groups, channels, specials and links, with labels', () => {
    expect(
      shown(
        parseMrkdwn(
          '<!subteam^S0ONCALL> <!subteam^S1|@oncall> <#C0CHECKOUT> <!here> <https://x.test/a?b=1&amp;c=2|docs>',
        ),
      ),
    ).toBe(
      '[group:S0ONCALL] [group:S1|@oncall] [channel:C0CHECKOUT] [@here] [link:https://x.test/a?b=1&c=2|docs]',
    );
  });

  it('leaves what is inside code alone and reads preformatted blocks', () => {
    expect(shown(parseMrkdwn('`*not bold*` and ```\nline *1*\nline 2\n```\nafter'))).toBe(
      '[code:*not bold*] and [pre:line *1*\nline 2]after',
    );
  });

  it('reads an alert the bot sends: mention, emoji, bold and code all come through', () => {
    const view = alertView(
      {
        id: 'checkout-1',
        plan: { service: 'checkout', version: '2.5.0' },
      } as unknown as Parameters<typeof alertView>[0],
      'approval_needed',
      'approve it <please>',
      'S0ONCALL',
    );
    const first = view.blocks[0] as { text: { text: string } };
    expect(shown(parseMrkdwn(first.text.text))).toBe(
      ':raised_hand: Approval needed · [b:checkout] [code:2.5.0]\napprove it <please>',
    );
  });
});

describe('decodeEntities and emojify', () => {
  it('decodes only the three entities Slack uses, once', () => {
    expect(decodeEntities('&amp;lt; &lt; &gt; &amp; &quot;')).toBe('&lt; < > & &quot;');
  });

  it('shows the emoji the bot uses and leaves others as typed', () => {
    expect(emojify(':rocket: :no_such_emoji: 10:30:00')).toBe('🚀 :no_such_emoji: 10:30:00');
  });
});
