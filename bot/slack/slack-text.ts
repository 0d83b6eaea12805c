/**
 * Text as Slack shows it: escaping for mrkdwn, people and groups as mentions, actors as words.
 * Pure helpers shared by the card, the thread, alerts and replies.
 */

/** Escapes the three characters mrkdwn gives meaning to (`>` would otherwise start a quote). */
export function escapeText(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
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
