/**
 * The local console page: the services' channels as the bot writes them, a message box that
 * sends `/rollout …` as Slack would, the card's buttons (with their confirm dialogs), and the
 * fault panel. Everything arrives over server-sent events; everything shown is built with text
 * nodes (mrkdwn.js, blocks.js), never from markup.
 */
import { renderBlocks, renderText } from './blocks.js';
import { renderMrkdwn } from './mrkdwn.js';

const $ = (id) => document.getElementById(id);

const state = {
  command: '/rollout',
  channels: [],
  people: [],
  clusters: [],
  services: [],
  /** `${channel} ${ts}` → message */
  messages: new Map(),
  ephemerals: [],
  faults: [],
  current: undefined,
  me: 'U0LOCAL',
  unread: new Map(),
  history: [],
  historyAt: 0,
};

const names = {
  person: (id) => id,
  group: (id) => id,
  channel: (id) => state.channels.find((c) => c.id === id)?.name ?? id,
  time: (ms, format) =>
    /date/.test(format) ? new Date(ms).toLocaleString() : new Date(ms).toLocaleTimeString(),
};

const keyOf = (channel, ts) => `${channel} ${ts}`;

// ─── Live feed ────────────────────────────────────────────────────────────────────────────────

function connect() {
  const events = new EventSource('/console/api/events');
  events.addEventListener('open', () => setStatus('live', 'ok'));
  events.addEventListener('error', () => setStatus('reconnecting…', 'bad'));
  events.addEventListener('snapshot', (e) => {
    const snap = JSON.parse(e.data);
    state.command = snap.command;
    state.channels = snap.channels;
    state.people = snap.people;
    state.clusters = snap.clusters;
    state.services = snap.services;
    state.messages = new Map(snap.messages.map((m) => [keyOf(m.channel, m.ts), m]));
    state.ephemerals = snap.ephemerals;
    state.faults = snap.faults;
    const wanted = decodeURIComponent(location.hash.slice(1));
    if (!state.channels.some((c) => c.id === state.current)) {
      state.current = state.channels.some((c) => c.id === wanted) ? wanted : state.channels[0]?.id;
    }
    renderPeople();
    renderFaultForm();
    renderFaults();
    renderChannels();
    renderChannel();
  });
  events.addEventListener('message', (e) => upsertMessage(JSON.parse(e.data)));
  events.addEventListener('ephemeral', (e) => addEphemeral(JSON.parse(e.data)));
  events.addEventListener('faults', (e) => {
    state.faults = JSON.parse(e.data);
    renderFaults();
  });
}

function setStatus(text, kind) {
  const status = $('status');
  status.textContent = text;
  status.dataset.kind = kind;
}

async function post(path, body) {
  const response = await fetch(path, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const answer = await response.json().catch(() => ({}));
  if (response.status === 413) {
    // Too big for the console (its limit is in the answer): say so, not "HTTP 413".
    const limit = answer.limitBytes ? `${Math.floor(answer.limitBytes / 1024)} KiB` : 'its limit';
    throw new Error(`that is too long for the console (over ${limit}); shorten it and try again`);
  }
  if (!response.ok) throw new Error(answer.error ?? `HTTP ${response.status}`);
  return answer;
}

// ─── Channels ─────────────────────────────────────────────────────────────────────────────────

function renderChannels() {
  const list = $('channels');
  list.replaceChildren(
    ...state.channels.map((channel) => {
      const li = document.createElement('li');
      const button = document.createElement('button');
      button.type = 'button';
      button.className = channel.id === state.current ? 'channel-link current' : 'channel-link';
      button.textContent = `# ${channel.name}`;
      const unread = state.unread.get(channel.id) ?? 0;
      if (unread > 0) {
        const badge = document.createElement('span');
        badge.className = 'badge';
        badge.textContent = String(unread);
        button.append(badge);
      }
      button.addEventListener('click', () => {
        state.current = channel.id;
        state.unread.delete(channel.id);
        history.replaceState(null, '', `#${encodeURIComponent(channel.id)}`);
        renderChannels();
        renderChannel();
      });
      li.append(button);
      return li;
    }),
  );
}

function renderChannel() {
  const channel = state.channels.find((c) => c.id === state.current);
  $('channel-title').textContent = channel ? `# ${channel.name}` : '#';
  $('channel-topic').textContent = channel
    ? `Rollout cards, their threads and alerts for ${channel.services.join(', ')}`
    : '';
  $('message').placeholder = channel
    ? `Message #${channel.name}: try ${state.command} help`
    : `${state.command} help`;
  const items = [];
  for (const m of state.messages.values()) {
    if (m.channel !== state.current) continue;
    if (!m.threadTs) items.push({ at: m.postedAt, element: () => messageItem(m) });
    else if (m.broadcast) items.push({ at: m.postedAt, element: () => broadcastItem(m) });
  }
  for (const e of state.ephemerals) {
    if (e.channel === state.current) items.push({ at: e.at, element: () => ephemeralItem(e) });
  }
  items.sort((a, b) => a.at - b.at);
  const stream = $('stream');
  stream.replaceChildren(...items.map((i) => i.element()));
  for (const m of state.messages.values()) {
    if (m.channel === state.current && m.threadTs) placeReply(m);
  }
  if (items.length === 0) {
    const empty = document.createElement('li');
    empty.className = 'empty';
    empty.textContent = `Nothing here yet. Type ${state.command} start <service> <version> below, or ${state.command} help.`;
    stream.append(empty);
  }
  stream.scrollTop = stream.scrollHeight;
}

function bump(channel) {
  state.unread.set(channel, (state.unread.get(channel) ?? 0) + 1);
  renderChannels();
}

/** Keeps the stream at its bottom across a change if the reader was there. */
function keepingScroll(change) {
  const stream = $('stream');
  const atBottom = stream.scrollHeight - stream.scrollTop - stream.clientHeight < 80;
  change();
  if (atBottom) stream.scrollTop = stream.scrollHeight;
}

function upsertMessage(m) {
  const key = keyOf(m.channel, m.ts);
  const known = state.messages.has(key);
  state.messages.set(key, m);
  if (m.channel !== state.current) {
    if (!known && (!m.threadTs || m.broadcast)) bump(m.channel);
    return;
  }
  keepingScroll(() => {
    $('stream').querySelector(':scope > li.empty')?.remove();
    if (m.threadTs) {
      placeReply(m);
      if (m.broadcast) replaceOrAppend(`b ${m.ts}`, () => broadcastItem(m));
      return;
    }
    const existing = findItem(`m ${m.ts}`);
    // A message updated in place keeps its place and its thread; only its body changes.
    if (existing) existing.querySelector(':scope .body').replaceChildren(bodyOf(m));
    else $('stream').append(messageItem(m));
  });
}

function addEphemeral(e) {
  state.ephemerals.push(e);
  if (e.channel !== state.current) {
    bump(e.channel);
    return;
  }
  keepingScroll(() => {
    $('stream').querySelector(':scope > li.empty')?.remove();
    $('stream').append(ephemeralItem(e));
  });
}

function findItem(key) {
  return [...$('stream').children].find((li) => li.dataset.key === key);
}

function replaceOrAppend(key, make) {
  const existing = findItem(key);
  if (existing) existing.replaceWith(make());
  else $('stream').append(make());
}

// ─── Messages ─────────────────────────────────────────────────────────────────────────────────

function item(key, className, meta, body) {
  const li = document.createElement('li');
  li.className = className;
  li.dataset.key = key;
  const avatar = document.createElement('div');
  avatar.className = 'avatar';
  avatar.textContent = 'R';
  const content = document.createElement('div');
  content.className = 'content';
  const bodyDiv = document.createElement('div');
  bodyDiv.className = 'body';
  bodyDiv.append(body);
  content.append(meta, bodyDiv);
  li.append(avatar, content);
  return li;
}

function meta(at, ...extra) {
  const div = document.createElement('div');
  div.className = 'meta';
  const author = document.createElement('span');
  author.className = 'author';
  author.textContent = 'Rollout';
  const tag = document.createElement('span');
  tag.className = 'app-tag';
  tag.textContent = 'APP';
  const time = document.createElement('time');
  time.textContent = new Date(at).toLocaleTimeString();
  div.append(author, tag, time, ...extra);
  return div;
}

function note(text, className = 'note') {
  const span = document.createElement('span');
  span.className = className;
  span.textContent = text;
  return span;
}

function messageItem(m) {
  return item(`m ${m.ts}`, 'msg', meta(m.postedAt), bodyOf(m));
}

function broadcastItem(m) {
  const parent = state.messages.get(keyOf(m.channel, m.threadTs));
  const about = parent ? ` ${parent.text.slice(0, 80)}` : '';
  return item(
    `b ${m.ts}`,
    'msg broadcast',
    meta(m.postedAt, note(`replied to a thread:${about}`)),
    bodyOf(m),
  );
}

function ephemeralItem(e) {
  const who = e.user === state.me ? 'you' : `@${e.user}`;
  const body = document.createElement('div');
  if (e.command) {
    const typed = document.createElement('div');
    typed.className = 'typed';
    typed.textContent = `@${e.user}: ${e.command}`;
    body.append(typed);
  }
  body.append(bodyOf(e, false));
  return item(`e ${e.id}`, 'msg ephemeral', meta(e.at, note(`Only visible to ${who}`)), body);
}

function placeReply(m) {
  const parent = findItem(`m ${m.threadTs}`);
  if (!parent) return;
  let thread = parent.querySelector(':scope .thread');
  if (!thread) {
    thread = document.createElement('details');
    thread.className = 'thread';
    thread.open = true;
    thread.append(document.createElement('summary'), document.createElement('ol'));
    parent.querySelector(':scope .content').append(thread);
  }
  const list = thread.querySelector('ol');
  const reply = document.createElement('li');
  reply.className = m.broadcast ? 'reply broadcast' : 'reply';
  reply.dataset.ts = m.ts;
  const time = document.createElement('time');
  time.textContent = new Date(m.postedAt).toLocaleTimeString();
  const body = document.createElement('div');
  body.className = 'body';
  body.append(bodyOf(m));
  reply.append(time, body);
  const existing = [...list.children].find((li) => li.dataset.ts === m.ts);
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  if (existing) existing.replaceWith(reply);
  else list.append(reply);
  // The thread scrolls on its own; its latest reply stays in view unless the reader scrolled up.
  if (atBottom) list.scrollTop = list.scrollHeight;
  const count = list.children.length;
  thread.querySelector('summary').textContent = `${count} ${count === 1 ? 'reply' : 'replies'}`;
}

function bodyOf(m, clickable = true) {
  if (Array.isArray(m.blocks) && m.blocks.length > 0) {
    return renderBlocks(m.blocks, {
      doc: document,
      names,
      onButton: clickable
        ? (button, blockId) => void click(m, button, blockId)
        : () => setStatus('buttons on ephemeral messages do nothing here', 'bad'),
    });
  }
  const div = document.createElement('div');
  div.className = 'text';
  div.append(renderMrkdwn(m.text, document, names));
  return div;
}

async function click(m, button, blockId) {
  if (button.confirm && !(await confirmed(button.confirm))) return;
  try {
    await post('/console/api/click', {
      channel: m.channel,
      user: state.me,
      ts: m.ts,
      button: {
        actionId: button.action_id,
        blockId,
        text: button.text?.text ?? '',
        ...(button.value !== undefined ? { value: button.value } : {}),
        ...(button.style ? { style: button.style } : {}),
      },
    });
  } catch (err) {
    setStatus(`the click failed: ${err.message}`, 'bad');
  }
}

/** Slack's confirm dialog: title, text, confirm and deny buttons. Resolves true on confirm. */
function confirmed(confirm) {
  const dialog = $('confirm');
  const ctx = { doc: document, names };
  $('confirm-title').replaceChildren(renderText(confirm.title ?? { text: 'Are you sure?' }, ctx));
  $('confirm-text').replaceChildren(renderText(confirm.text, ctx));
  $('confirm-ok').textContent = confirm.confirm?.text ?? 'Yes';
  $('confirm-ok').className = `btn ${confirm.style === 'danger' ? 'danger' : 'primary'}`;
  $('confirm-deny').textContent = confirm.deny?.text ?? 'Cancel';
  dialog.returnValue = '';
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'confirm'), {
      once: true,
    });
  });
}

// ─── Message box ──────────────────────────────────────────────────────────────────────────────

function renderPeople() {
  const select = $('who');
  select.replaceChildren(
    ...state.people.map((p) => {
      const option = document.createElement('option');
      option.value = p.id;
      option.textContent = `@${p.id} (${p.note})`;
      option.selected = p.id === state.me;
      return option;
    }),
  );
}

$('who').addEventListener('change', (e) => {
  state.me = e.target.value;
  renderChannel();
});

$('composer').addEventListener('submit', async (e) => {
  e.preventDefault();
  const input = $('message');
  const text = input.value.trim();
  if (!text || !state.current) return;
  input.value = '';
  state.history.push(text);
  state.historyAt = state.history.length;
  try {
    await post('/console/api/command', { channel: state.current, user: state.me, text });
  } catch (err) {
    setStatus(`could not send: ${err.message}`, 'bad');
    // Give back what was typed (unless something new was typed meanwhile), to fix and resend.
    if (input.value === '') input.value = text;
  }
});

$('message').addEventListener('keydown', (e) => {
  if (e.key !== 'ArrowUp' && e.key !== 'ArrowDown') return;
  const step = e.key === 'ArrowUp' ? -1 : 1;
  const at = Math.min(state.history.length, Math.max(0, state.historyAt + step));
  if (at === state.historyAt) return;
  state.historyAt = at;
  e.target.value = state.history[at] ?? '';
  e.preventDefault();
});

// ─── Fault panel ──────────────────────────────────────────────────────────────────────────────

function options(select, entries) {
  const previous = select.value;
  select.replaceChildren(
    ...entries.map(([value, label]) => {
      const option = document.createElement('option');
      option.value = value;
      option.textContent = label;
      return option;
    }),
  );
  if (entries.some(([value]) => value === previous)) select.value = previous;
}

function renderFaultForm() {
  options(
    $('fault-cluster'),
    state.clusters.map((c) => [c, c]),
  );
  renderServiceOptions();
  renderKind();
}

function renderServiceOptions() {
  const cluster = $('fault-cluster').value;
  options($('fault-service'), [
    ['', 'every service'],
    ...state.services.filter((s) => s.clusters.includes(cluster)).map((s) => [s.name, s.name]),
  ]);
}

function renderKind() {
  const kind = $('fault-kind').value;
  $('fault-value-label').hidden = kind === 'routerFailure';
  $('fault-role').disabled = kind === 'routerFailure';
  if (kind === 'errorRate' && !$('fault-value').value) $('fault-value').value = '30';
}

$('fault-cluster').addEventListener('change', renderServiceOptions);
$('fault-kind').addEventListener('change', () => {
  $('fault-value').value = $('fault-kind').value === 'addedLatencyMs' ? '500' : '30';
  renderKind();
});

$('fault-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const kind = $('fault-kind').value;
  const value = Number($('fault-value').value);
  const service = $('fault-service').value;
  const fault = {
    ...(service ? { service } : {}),
    ...(kind === 'routerFailure' ? { routerFailure: true } : { role: $('fault-role').value }),
    ...(kind === 'errorRate' ? { errorRate: value / 100 } : {}),
    ...(kind === 'addedLatencyMs' ? { addedLatencyMs: value } : {}),
  };
  $('fault-error').textContent = '';
  try {
    await post('/console/api/faults', { cluster: $('fault-cluster').value, fault });
  } catch (err) {
    $('fault-error').textContent = err.message;
  }
});

$('clear-faults').addEventListener('click', async () => {
  $('fault-error').textContent = '';
  await post('/console/api/faults/clear', {}).catch((err) => {
    $('fault-error').textContent = err.message;
  });
});

function describeFault({ cluster, fault }) {
  const where = [
    cluster,
    fault.service ?? 'every service',
    fault.version ? `version ${fault.version}` : fault.role,
    fault.fromStage !== undefined ? `from stage ${fault.fromStage + 1}` : undefined,
  ];
  const what = [];
  if (fault.errorRate !== undefined) what.push(`+${+(fault.errorRate * 100).toFixed(2)}% errors`);
  if (fault.addedLatencyMs !== undefined) what.push(`+${fault.addedLatencyMs} ms latency`);
  if (fault.routerFailure !== undefined) {
    what.push(
      Array.isArray(fault.routerFailure)
        ? `router fails on ${fault.routerFailure.join(', ')}`
        : 'router fails',
    );
  }
  if (fault.noTraffic) what.push('no traffic');
  if (fault.metricsUnavailable) what.push('metrics unavailable');
  return `${where.filter(Boolean).join(' · ')}: ${what.join(', ')}`;
}

function renderFaults() {
  const list = $('fault-list');
  if (state.faults.length === 0) {
    const li = document.createElement('li');
    li.className = 'empty';
    li.textContent = 'None: every cluster is healthy.';
    list.replaceChildren(li);
    return;
  }
  list.replaceChildren(
    ...state.faults.map((f) => {
      const li = document.createElement('li');
      li.append(note(describeFault(f), 'fault'));
      const clear = document.createElement('button');
      clear.type = 'button';
      clear.className = 'btn small';
      clear.textContent = 'Clear';
      clear.addEventListener('click', () =>
        post('/console/api/faults/clear', { cluster: f.cluster, id: f.id }).catch((err) => {
          $('fault-error').textContent = err.message;
        }),
      );
      li.append(clear);
      return li;
    }),
  );
}

connect();
