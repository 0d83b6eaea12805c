/**
 * Slack's mrkdwn, parsed into a small tree and rendered with text nodes only: whatever a message
 * holds (a service name, a reason with HTML in it) can only ever become text on the page.
 *
 * Supported: *bold*, _italic_, ~strike~, `code`, ```preformatted```, "> " quotes, line breaks,
 * &lt; &gt; &amp;, <@U…> and <!subteam^S…> mentions, <#C…> channels, <!date^…|fallback>,
 * <!here>, links <https://…|label>, and the :emoji: the bot uses.
 */

const EMOJI = {
  warning: '⚠️',
  rocket: '🚀',
  memo: '📝',
  boom: '💥',
  hourglass_flowing_sand: '⏳',
  hourglass: '⌛',
  arrows_counterclockwise: '🔄',
  stopwatch: '⏱️',
  raised_hand: '✋',
  double_vertical_bar: '⏸️',
  rewind: '⏪',
  white_check_mark: '✅',
  heavy_check_mark: '✔️',
  leftwards_arrow_with_hook: '↩️',
  no_entry: '⛔',
  x: '❌',
  large_blue_circle: '🔵',
  arrow_forward: '▶️',
  rotating_light: '🚨',
  sos: '🆘',
  grey_question: '❔',
  satellite_antenna: '📡',
  tada: '🎉',
  eyes: '👀',
};

/** `&lt;` `&gt;` `&amp;` back to the characters they stand for. */
export function decodeEntities(text) {
  return text.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}

/** Replaces the :shortcodes: this console knows; others stay as typed. */
export function emojify(text) {
  return text.replace(/:([a-z0-9_+-]+):/g, (whole, name) => EMOJI[name] ?? whole);
}

/** The tree: see mrkdwn.d.ts for its node types. */
export function parseMrkdwn(text) {
  const nodes = [];
  const parts = String(text).split('```');
  parts.forEach((part, i) => {
    // Odd parts were between fences (an unclosed fence leaves the rest as it is).
    if (i % 2 === 1 && i < parts.length - 1) {
      nodes.push({ t: 'pre', v: decodeEntities(part.replace(/^\n/, '').replace(/\n$/, '')) });
      return;
    }
    const piece = i % 2 === 1 ? '```' + part : part;
    if (piece !== '') nodes.push(...parseLines(piece, nodes.length > 0));
  });
  return nodes;
}

function parseLines(text, afterBlock) {
  const nodes = [];
  let quote = null;
  let first = true;
  for (const line of text.split('\n')) {
    const quoted = /^>\s?/.exec(line);
    if (quoted) {
      if (!quote) {
        quote = { t: 'quote', c: [] };
        nodes.push(quote);
      } else quote.c.push({ t: 'br' });
      quote.c.push(...parseInline(line.slice(quoted[0].length)));
      first = false;
      continue;
    }
    // A quote or a preformatted block ends its own line.
    if (first && afterBlock && line === '') {
      afterBlock = false;
      continue;
    }
    if (!first && !quote) nodes.push({ t: 'br' });
    quote = null;
    first = false;
    nodes.push(...parseInline(line));
  }
  return nodes;
}

// Formatting markers open after a start, space or punctuation and close before one.
const MARKERS = [
  { t: 'b', re: /\*(?=\S)((?:<[^<>]*>|[^*])*?[^\s*])\*/g, ch: '*' },
  { t: 'i', re: /_(?=\S)((?:<[^<>]*>|[^_])*?[^\s_])_/g, ch: '_' },
  { t: 's', re: /~(?=\S)((?:<[^<>]*>|[^~])*?[^\s~])~/g, ch: '~' },
];

const WORD = /[A-Za-z0-9]/;

function nextMatch(text, from) {
  const candidates = [];
  const code = /`([^`]+)`/g;
  code.lastIndex = from;
  const c = code.exec(text);
  if (c)
    candidates.push({
      index: c.index,
      end: c.index + c[0].length,
      node: { t: 'code', v: decodeEntities(c[1]) },
    });
  const angle = /<([^<>]+)>/g;
  angle.lastIndex = from;
  const a = angle.exec(text);
  if (a) candidates.push({ index: a.index, end: a.index + a[0].length, node: angleNode(a[1]) });
  for (const marker of MARKERS) {
    marker.re.lastIndex = from;
    let m;
    while ((m = marker.re.exec(text))) {
      const before = text[m.index - 1];
      const after = text[m.index + m[0].length];
      const opens = before === undefined || !(WORD.test(before) || before === marker.ch);
      const closes = after === undefined || !(WORD.test(after) || after === marker.ch);
      if (opens && closes) {
        candidates.push({
          index: m.index,
          end: m.index + m[0].length,
          node: { t: marker.t, c: parseInline(m[1]) },
        });
        break;
      }
      marker.re.lastIndex = m.index + 1;
    }
  }
  // The earliest wins; on a tie, the order above (code, then links and mentions, then markers).
  return candidates.reduce((best, x) => (best === null || x.index < best.index ? x : best), null);
}

/** The tree: see mrkdwn.d.ts for its node types. */
export function parseInline(text) {
  const nodes = [];
  let at = 0;
  for (;;) {
    const match = nextMatch(text, at);
    if (!match) break;
    if (match.index > at) nodes.push({ t: 'text', v: decodeEntities(text.slice(at, match.index)) });
    nodes.push(match.node);
    at = match.end;
  }
  if (at < text.length) nodes.push({ t: 'text', v: decodeEntities(text.slice(at)) });
  return nodes;
}

function angleNode(inner) {
  const bar = inner.indexOf('|');
  const target = bar === -1 ? inner : inner.slice(0, bar);
  const label = bar === -1 ? undefined : decodeEntities(inner.slice(bar + 1));
  const withLabel = (node) => (label !== undefined ? { ...node, label } : node);
  if (/^@[UW][A-Z0-9]+$/.test(target)) return withLabel({ t: 'user', id: target.slice(1) });
  if (/^#[CG][A-Z0-9]+$/.test(target)) return withLabel({ t: 'channel', id: target.slice(1) });
  const group = /^!subteam\^(S[A-Z0-9]+)$/.exec(target);
  if (group) return withLabel({ t: 'group', id: group[1] });
  const date = /^!date\^(\d+)\^([^^]*)/.exec(target);
  if (date) return { t: 'date', ts: Number(date[1]), format: date[2], fallback: label ?? '' };
  if (/^!(here|channel|everyone)$/.test(target)) return { t: 'special', v: target.slice(1) };
  if (/^(https?:\/\/|mailto:)/i.test(target))
    return { t: 'link', url: decodeEntities(target), label: label ?? decodeEntities(target) };
  return { t: 'text', v: decodeEntities(label ?? `<${inner}>`) };
}

/**
 * Builds the tree into DOM nodes with `doc` (text nodes and plain elements, never markup).
 * `names` turns ids into what the page shows: `person(id)`, `channel(id)`, `time(ms, format)`.
 */
export function renderMrkdwn(text, doc, names = {}) {
  const fragment = doc.createDocumentFragment();
  for (const node of parseMrkdwn(text)) fragment.append(toDom(node, doc, names));
  return fragment;
}

function el(doc, tag, className, children) {
  const element = doc.createElement(tag);
  if (className) element.className = className;
  for (const child of children) element.append(child);
  return element;
}

function toDom(node, doc, names) {
  const all = (nodes) => nodes.map((n) => toDom(n, doc, names));
  switch (node.t) {
    case 'text':
      return doc.createTextNode(emojify(node.v));
    case 'br':
      return doc.createElement('br');
    case 'b':
      return el(doc, 'strong', '', all(node.c));
    case 'i':
      return el(doc, 'em', '', all(node.c));
    case 's':
      return el(doc, 'del', '', all(node.c));
    case 'code':
      return el(doc, 'code', '', [doc.createTextNode(node.v)]);
    case 'pre':
      return el(doc, 'pre', '', [doc.createTextNode(node.v)]);
    case 'quote':
      return el(doc, 'blockquote', '', all(node.c));
    case 'user':
      return el(doc, 'span', 'mention', [`@${node.label ?? names.person?.(node.id) ?? node.id}`]);
    case 'group':
      return el(doc, 'span', 'mention mention-group', [
        node.label ?? `@${names.group?.(node.id) ?? node.id}`,
      ]);
    case 'channel':
      return el(doc, 'span', 'mention mention-channel', [
        `#${node.label ?? names.channel?.(node.id) ?? node.id}`,
      ]);
    case 'special':
      return el(doc, 'span', 'mention', [`@${node.v}`]);
    case 'date':
      return el(doc, 'time', '', [
        names.time ? names.time(node.ts * 1000, node.format) : node.fallback,
      ]);
    case 'link': {
      const a = el(doc, 'a', '', [node.label]);
      a.href = node.url;
      a.target = '_blank';
      a.rel = 'noopener noreferrer';
      return a;
    }
    default:
      return doc.createTextNode('');
  }
}
