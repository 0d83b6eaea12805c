/**
 * Text as Slack shows it: escaping for mrkdwn, people and groups as mentions, actors as words.
 * Pure helpers shared by the card, the thread, alerts and replies.
 */

/** Escapes the three characters mrkdwn gives meaning to (`>` would otherwise start a quote). */
export function escapeText(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

// Bidi embeddings and overrides (U+202A–U+202E), isolates (U+2066–U+2069), the LRM/RLM marks
// and the Arabic letter mark: they reorder what readers see ("txt.exe" shown as "exe.txt").
const BIDI_CONTROLS = /[\u202A-\u202E\u2066-\u2069\u200E\u200F\u061C]/g;

// mrkdwn has no escape character, so markers a person typed that Slack would pair into
// formatting (`*bold*`, `_it_`, `~gone~`, `` `code` ``) are swapped for look-alikes that mean
// nothing to Slack. Zero-width characters beside a marker were the other option, but whether
// Slack then still formats is not documented; a different character never formats. A marker
// that cannot pair (`feature_flag`, `window.__init`, `5 * 3`) is kept as typed.
const MARKERS: Record<string, string> = {
  '*': '\u2217', // ∗ asterisk operator
  '~': '\u223C', // ∼ tilde operator
  '`': '\u02CB', // ˋ modifier letter grave accent
  _: '\uFF3F', // ＿ fullwidth low line
};
// An opening marker not inside a word and before a non-space, some text without that marker,
// and the same marker after a non-space and not followed by a word: how Slack finds a span.
const MARKED_SPAN = /(?<![\p{L}\p{N}])([*_~`])(?=\S)(?:(?!\1).)+?(?<=\S)\1(?![\p{L}\p{N}])/gu;

function unmark(text: string): string {
  // Spans nest (`*_x_*`): unmark the outer ones, then look again.
  for (let i = 0; i < 8; i++) {
    const next = text.replace(
      MARKED_SPAN,
      (span, marker: string) => `${MARKERS[marker]}${span.slice(1, -1)}${MARKERS[marker]}`,
    );
    if (next === text) return text;
    text = next;
  }
  return text;
}

// A Slack id as slackify would turn it into a mention (`U0LEAD`, `S0123AB`), anywhere in a word.
const ANY_ID = /\b([UWS])((?=[A-Z0-9]*\d)[A-Z0-9]{4,})\b/g;

/**
 * Text a person typed (a reason, an abort reason), to be shown exactly as typed inside bot text:
 * no mention, broadcast, link or formatting, whatever it contains. `&`, `<` and `>` are escaped
 * (so `<!channel>`, `<@U1>` and `<http://x|label>` show as typed), mrkdwn markers are swapped
 * for look-alikes, line breaks become spaces (no `>` quote at a line start), bidi controls are
 * removed, and a bare Slack id gets an invisible word joiner after its first letter, so that no
 * later step (`slackify`) or client takes it for an id. Use it wherever typed text enters a
 * message, and nothing after it.
 */
export function literal(text: string): string {
  const flat = text.replace(BIDI_CONTROLS, '').replace(/[\r\n\t\v\f\u2028\u2029]+/g, ' ');
  return unmark(escapeText(flat)).replace(
    ANY_ID,
    (_m, first: string, rest: string) => `${first}\u2060${rest}`,
  );
}

/** Something people typed, as it appears in bot text, and how to show it (`literal` by default). */
export interface Quote {
  text: string;
  shown: string;
}

export function typedQuote(text: string): Quote {
  return { text, shown: literal(text) };
}

/**
 * Bot text that quotes what people typed (an abort reason inside a refusal): each occurrence of
 * a quote's text is shown as the quote says, the bot's own words around it with `slackify`
 * (their ids become mentions). Longer quotes win where they start at the same place.
 */
export function slackifyQuoting(text: string, quotes: readonly Quote[]): string {
  // A quote that reads the same either way is left to slackify: a short one (a rollout id) could
  // otherwise match inside the bot's own mentions and split them.
  const usable = quotes
    .filter((q) => q.text.trim() !== '' && q.shown !== slackify(q.text))
    .sort((a, b) => b.text.length - a.text.length);
  let out = '';
  let rest = text;
  for (;;) {
    let at = -1;
    let quote: Quote | undefined;
    for (const q of usable) {
      const i = rest.indexOf(q.text);
      if (i !== -1 && (at === -1 || i < at)) [at, quote] = [i, q];
    }
    if (quote === undefined) return out + slackify(rest);
    out += slackify(rest.slice(0, at)) + quote.shown;
    rest = rest.slice(at + quote.text.length);
  }
}

/** `U…`/`W…` → `<@U…>`, `S…` → `<!subteam^S…>`. */
export function mention(id: string): string {
  return id.startsWith('S') ? `<!subteam^${id}>` : `<@${id}>`;
}

// Slack ids are upper-case letters and digits and always contain a digit (`U0LEAD`, `S02AB3`).
const BARE_ID = /(^|[\s(,:'"])([UWS](?=[A-Z0-9]*\d)[A-Z0-9]{4,})(?=$|[\s),.;:'"])/g;

// Mentions already written out (`<@U1>`, `<!subteam^S1>`, `<#C1>`) pass through escaping;
// anything else in angle brackets (`<!channel>`, a link) is escaped.
const MENTION = /<(?:@[UW][A-Z0-9]+|!subteam\^S[A-Z0-9]+|#[CG][A-Z0-9]+)(?:\|[^<>]*)?>/g;

/**
 * Escapes `text` and turns bare Slack ids in it (as the state machine and policy write them)
 * into mentions, so "approvers are U0LEAD, S0LEADS" reads as names in Slack. Mentions already
 * in the text are kept.
 */
export function slackify(text: string): string {
  let out = '';
  let last = 0;
  for (const match of text.matchAll(MENTION)) {
    out += plain(text.slice(last, match.index)) + match[0];
    last = match.index + match[0].length;
  }
  return out + plain(text.slice(last));
}

function plain(text: string): string {
  return escapeText(text).replace(BARE_ID, (_m, lead: string, id: string) => lead + mention(id));
}

/** Who caused something, for people: `user:U1` → `<@U1>`, `agent:eu-west` → `the agent in eu-west`. */
export function actorLabel(actor: string): string {
  const [kind, name] = actor.includes(':')
    ? [actor.slice(0, actor.indexOf(':')), actor.slice(actor.indexOf(':') + 1)]
    : ['', actor];
  switch (kind) {
    case 'user':
      return mention(name);
    case 'agent':
      return `the agent in ${escapeText(name)}`;
    case 'system':
      return name === 'gate' ? 'the gate' : name === 'bot' ? 'the bot' : `the ${escapeText(name)}`;
    default:
      return /^[UW][A-Z0-9]+$/.test(actor) ? mention(actor) : escapeText(actor);
  }
}

/** Slack renders this in each reader's time zone; the fallback is UTC. */
export function slackTime(ms: number): string {
  const fallback = new Date(ms).toISOString().slice(11, 19) + ' UTC';
  return `<!date^${Math.floor(ms / 1000)}^{time_secs}|${fallback}>`;
}

/** Keeps a text within Slack's limit for a field, marking the cut. */
export function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

export function percent(fraction: number, digits = 1): string {
  return `${(fraction * 100).toFixed(digits)}%`;
}
