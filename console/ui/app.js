// hookstream's operator console. Plain ES module, no dependencies: it
// talks to the admin API of the instance that serves it, with the bearer
// token kept in this tab's session storage. Every value from the API is
// written as text (never as HTML).

const TOKEN_KEY = 'hookstream.token';
const HISTORY = 900; // 15 minutes of one-second samples
const FORMATS = ['standard', 'raw', 'cloudevents', 'cloudevents-binary', 'slack', 'teams', 'discord', 'pagerduty', 'github-dispatch', 'template'];
const OPS = ['eq', 'ne', 'in', 'not_in', 'regex', 'contains', 'prefix', 'gt', 'gte', 'lt', 'lte', 'exists'];
const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'];

let session = null; // {scope, open} once signed in
// created is the secret of the subscription just created, shown once on
// its page and then forgotten.
let created = null;
const live = { samples: [], last: null, state: 'idle', abort: null, listeners: new Set() };
let cleanup = () => {};

// ---- helpers ----

// h builds an element: h('a', {href: '#'}, 'text', child…). Attributes
// starting with "on" are listeners; strings become text nodes.
function h(tag, attrs, ...children) {
  const el = tag === 'svg' || tag === 'polyline' ? document.createElementNS('http://www.w3.org/2000/svg', tag) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'value' && 'value' in el) el.value = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const $main = () => document.getElementById('main');

// fill replaces el's children, leaving out null, undefined and false.
function fill(el, ...children) {
  el.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
}
const canWrite = () => session && session.scope === 'admin';
const fmt = (n, digits = 0) => (n === null || n === undefined || Number.isNaN(n)) ? '–' : Number(n).toLocaleString('en', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const pct = (r) => (r === null || r === undefined) ? '–' : (r * 100).toFixed(1) + '%';
const when = (t) => t ? new Date(t).toLocaleString() : '–';

class APIError extends Error {
  constructor(status, problem) {
    super((problem && (problem.detail || problem.title)) || ('HTTP ' + status));
    this.status = status;
    this.problem = problem || {};
  }
}

function authHeaders() {
  const tok = sessionStorage.getItem(TOKEN_KEY);
  return tok ? { Authorization: 'Bearer ' + tok } : {};
}

// api calls the admin API; a refused token returns to sign-in.
async function api(method, path, body) {
  const headers = authHeaders();
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const resp = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await resp.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = { detail: text }; }
  }
  if (resp.status === 401 && session) {
    signOut('The token was refused: sign in again.');
  }
  if (!resp.ok) throw new APIError(resp.status, data);
  return data;
}

function showError(where, err) {
  fill(where, h('p', { class: 'error', role: 'alert' }, err.message || String(err)));
}

// ---- sign-in ----

async function start() {
  document.getElementById('signout').addEventListener('click', () => signOut());
  window.addEventListener('hashchange', route);
  try {
    session = await api('GET', '/v1/session');
  } catch (err) {
    session = null;
    return signIn(err.status === 401 ? '' : err.message);
  }
  enter();
}

function signIn(message) {
  document.getElementById('bar').hidden = true;
  const token = h('input', { type: 'password', id: 'token', name: 'token', autocomplete: 'off', required: true, placeholder: 'hst_…' });
  const err = h('p', { class: 'error', id: 'signin-error', role: 'alert' }, message || '');
  const form = h('form', { class: 'stack signin', id: 'signin' },
    h('h1', {}, 'Sign in to hookstream'),
    h('p', { class: 'muted' }, 'Paste an admin or read token (admin.tokens). It stays in this tab only.'),
    h('label', {}, 'Token', token),
    err,
    h('button', { type: 'submit' }, 'Sign in'));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, token.value.trim());
    try {
      session = await api('GET', '/v1/session');
      enter();
    } catch (ex) {
      sessionStorage.removeItem(TOKEN_KEY);
      err.textContent = ex.status === 401 ? 'This token is not valid.' : ex.message;
    }
  });
  cleanup();
  cleanup = () => {};
  fill($main(), form);
  token.focus();
}

function signOut(message) {
  session = null;
  sessionStorage.removeItem(TOKEN_KEY);
  stopLive();
  signIn(message);
}

function enter() {
  document.getElementById('bar').hidden = false;
  const scope = document.getElementById('scope');
  scope.textContent = session.open ? 'open API' : session.scope + ' token';
  document.getElementById('signout').hidden = session.open;
  startLive();
  if (!location.hash || location.hash === '#/') location.hash = '#/overview';
  else route();
}

// ---- routing ----

function route() {
  if (!session) return;
  cleanup();
  cleanup = () => {};
  const parts = location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
  const view = parts[0] || 'overview';
  for (const a of document.querySelectorAll('header nav a')) a.classList.toggle('active', a.dataset.view === view);
  const views = {
    overview: overviewView,
    subscriptions: () => parts[1] === 'new' ? editView(null) : parts[2] === 'edit' ? editView(parts[1]) : parts[1] ? subscriptionView(parts[1]) : subscriptionsView(),
    dlq: dlqView,
    sources: sourcesView,
    send: sendView,
  };
  const render = views[view] || overviewView;
  const c = render();
  if (typeof c === 'function') cleanup = c;
}

// every runs fn now and every ms until the view changes.
function every(ms, fn) {
  let stopped = false;
  let timer;
  const tick = async () => {
    if (stopped) return;
    try { await fn(); } catch (err) { console.warn(err); }
    if (!stopped) timer = setTimeout(tick, ms);
  };
  tick();
  return () => { stopped = true; clearTimeout(timer); };
}

// ---- live figures: GET /v1/stats/stream ----

// startLive reads the stats stream (fetch, so the token travels in a
// header) and reconnects 2 s after it drops.
function startLive() {
  if (live.abort) return;
  const ctl = new AbortController();
  live.abort = ctl;
  const run = async () => {
    while (!ctl.signal.aborted) {
      try {
        setLiveState('connecting');
        const resp = await fetch('/v1/stats/stream', { headers: authHeaders(), signal: ctl.signal });
        if (resp.status === 401) { signOut('The token was refused: sign in again.'); return; }
        if (!resp.ok || !resp.body) throw new Error('HTTP ' + resp.status);
        setLiveState('live');
        await readEvents(resp.body, (event, data) => {
          if (event === 'stats') addSample(JSON.parse(data));
        });
      } catch (err) {
        if (ctl.signal.aborted) return;
      }
      setLiveState('reconnecting');
      await new Promise((r) => setTimeout(r, 2000));
    }
  };
  run();
}

function stopLive() {
  if (live.abort) live.abort.abort();
  live.abort = null;
  live.samples = [];
  live.last = null;
}

// readEvents parses a text/event-stream body and calls fn(event, data)
// for each event.
async function readEvents(body, fn) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += value;
    let end;
    while ((end = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, end);
      buf = buf.slice(end + 2);
      let event = 'message';
      const data = [];
      for (const line of block.split('\n')) {
        if (line.startsWith('event:')) event = line.slice(6).trim();
        else if (line.startsWith('data:')) data.push(line.slice(5).trimStart());
      }
      if (data.length) fn(event, data.join('\n'));
    }
  }
}

function setLiveState(state) {
  live.state = state;
  for (const l of live.listeners) l();
}

function addSample(s) {
  live.last = s;
  live.samples.push(s);
  if (live.samples.length > HISTORY) live.samples.shift();
  for (const l of live.listeners) l();
}

function sparkline(values) {
  const w = HISTORY, hgt = 40;
  const top = Math.max(1e-9, ...values.filter((v) => v !== null));
  const x0 = w - values.length;
  const pts = values.map((v, i) => `${x0 + i},${(hgt - 2 - ((v ?? 0) / top) * (hgt - 4)).toFixed(1)}`).join(' ');
  return h('svg', { viewBox: `0 0 ${w} ${hgt}`, preserveAspectRatio: 'none', 'aria-hidden': 'true' }, h('polyline', { points: pts }));
}

// ---- overview ----

// backlog is how many records wait on every retry rung.
const backlog = (s) => s.rungs.reduce((n, r) => n + r.backlog, 0);

function overviewView() {
  const root = h('section', { id: 'overview' });
  fill($main(), h('h1', {}, 'Overview'), root);
  const draw = () => {
    const s = live.last;
    const series = (f) => live.samples.map(f);
    const card = (id, label, value, values) => h('div', { class: 'card', id: 'card-' + id },
      h('div', { class: 'label' }, label), h('div', { class: 'value', dataset: { value: String(value) } }, value), values ? sparkline(values) : null);
    const state = h('p', { class: 'status muted', id: 'live-state' }, live.state === 'live' ? 'Live, once a second.' : `Stream ${live.state}…`);
    if (!s) { fill(root, state); return; }
    fill(root, 
      state,
      h('div', { class: 'cards' },
        card('events', 'events/s', fmt(s.events_per_s, 1), series((x) => x.events_per_s)),
        card('delivered', 'delivered/s', fmt(s.delivered_per_s, 1), series((x) => x.delivered_per_s)),
        card('success', 'success ratio', pct(s.success_ratio), series((x) => x.success_ratio)),
        card('inbound', 'inbound receipts/s', fmt(s.inbound_per_s, 1), series((x) => x.inbound_per_s)),
        card('inflight', 'in flight', fmt(s.in_flight), series((x) => x.in_flight)),
        card('backlog', 'waiting on the retry rungs', fmt(backlog(s)), series(backlog)),
        card('dlq', 'DLQ records', fmt(s.dlq), series((x) => x.dlq)),
        card('breakers', 'open breakers', fmt(s.open_breakers)),
        card('disabled', 'disabled subscriptions', `${fmt(s.disabled_subscriptions)} of ${fmt(s.subscriptions)}`)),
      h('h2', {}, 'Retry rungs'),
      h('table', { id: 'rungs' }, h('thead', {}, h('tr', {}, h('th', {}, 'rung'), h('th', {}, 'topic'), h('th', {}, 'backlog'))),
        h('tbody', {}, s.rungs.map((r) => h('tr', {}, h('td', {}, r.rung), h('td', {}, h('code', {}, r.topic)), h('td', { class: 'num' }, fmt(r.backlog)))))),
      h('p', { class: 'muted', id: 'totals', dataset: { events: String(s.totals.events), delivered: String(s.totals.delivered) } }, `Since this instance started: ${fmt(s.totals.events)} events, ${fmt(s.totals.attempts)} attempts, ${fmt(s.totals.delivered)} delivered, ${fmt(s.totals.inbound)} inbound.`));
  };
  live.listeners.add(draw);
  draw();
  return () => live.listeners.delete(draw);
}

// ---- subscriptions ----

function subscriptionsView() {
  const q = h('input', { type: 'search', id: 'search', placeholder: 'Search by name, id or URL' });
  const state = h('select', { id: 'state' }, h('option', { value: '' }, 'all'), h('option', { value: 'enabled' }, 'enabled'), h('option', { value: 'disabled' }, 'disabled'));
  const body = h('div', {}, h('p', { class: 'muted' }, 'Loading…'));
  fill($main(), 
    h('h1', {}, 'Subscriptions'),
    h('div', { class: 'toolbar' }, q, state, canWrite() ? h('a', { href: '#/subscriptions/new' }, h('button', { type: 'button', id: 'new-subscription' }, 'New subscription')) : null),
    body);
  let rows = [];
  const draw = () => {
    const term = q.value.trim().toLowerCase();
    const shown = rows.filter((r) => (!term || [r.id, r.name, r.url].some((v) => (v || '').toLowerCase().includes(term))) &&
      (!state.value || (state.value === 'enabled') === r.enabled));
    fill(body, h('table', { id: 'subscriptions' },
      h('thead', {}, h('tr', {}, ['name', 'id', 'URL', 'format', 'state', 'breaker', 'rate limit', 'success', 'attempts', 'dead-lettered', 'last attempt'].map((c) => h('th', {}, c)))),
      h('tbody', {}, shown.map((r) => h('tr', { class: 'click', dataset: { id: r.id }, onclick: () => { location.hash = '#/subscriptions/' + encodeURIComponent(r.id); } },
        h('td', {}, r.name), h('td', {}, h('code', {}, r.id)), h('td', {}, r.url), h('td', {}, (r.payload && r.payload.format) || 'standard'),
        h('td', {}, h('span', { class: 'badge ' + (r.enabled ? 'ok' : 'bad') }, r.enabled ? 'enabled' : ('disabled' + (r.disabled_reason ? ': ' + r.disabled_reason : '')))),
        h('td', {}, r.stats && r.stats.breaker ? h('span', { class: 'badge ' + ({ closed: 'ok', open: 'bad' }[r.stats.breaker] || 'warn') }, r.stats.breaker) : '–'),
        h('td', {}, r.rate_limit ? `${r.rate_limit.per_second}/s, burst ${r.rate_limit.burst}` : '–'),
        h('td', { class: 'num' }, r.stats ? pct(r.stats.attempts ? r.stats.success_rate : null) : '–'),
        h('td', { class: 'num' }, fmt(r.stats && r.stats.attempts)), h('td', { class: 'num' }, fmt(r.stats && r.stats.dead_lettered)),
        h('td', {}, when(r.stats && r.stats.last_attempt)))))),
    shown.length ? null : h('p', { class: 'muted' }, rows.length ? 'No subscription matches.' : 'No subscriptions yet.'));
  };
  q.addEventListener('input', draw);
  state.addEventListener('change', draw);
  return every(5000, async () => {
    try {
      const [subs, stats] = await Promise.all([allSubscriptions(), api('GET', '/v1/stats')]);
      const byID = new Map((stats.subscriptions || []).map((s) => [s.id, s]));
      rows = subs.map((s) => ({ ...s, stats: byID.get(s.id) }));
      draw();
    } catch (err) { showError(body, err); }
  });
}

// allSubscriptions reads the subscriptions page by page, up to
// MAX_LISTED (the search filters them in the page).
const MAX_LISTED = 10000;
async function allSubscriptions() {
  let out = [];
  let cursor = '';
  do {
    const page = await api('GET', '/v1/subscriptions?limit=1000' + (cursor ? '&cursor=' + encodeURIComponent(cursor) : ''));
    out = out.concat(page.data);
    cursor = page.next_cursor || '';
  } while (cursor && out.length < MAX_LISTED);
  return out;
}

function subscriptionView(id) {
  const head = h('div', {});
  const out = h('div', { id: 'action-result' });
  const attempts = h('div', {}, h('p', { class: 'muted' }, 'Loading…'));
  const preview = h('div', { id: 'preview' });
  fill($main(), head, out, h('h2', {}, 'Attempts'), attempts, h('h2', {}, 'Request preview'), preview);
  let sub = null;
  const act = async (fn) => {
    try { await fn(); } catch (err) { showError(out, err); }
  };
  const drawHead = () => {
    const w = canWrite();
    fill(head, 
      h('h1', {}, sub.name, ' ', h('span', { class: 'badge ' + (sub.enabled ? 'ok' : 'bad'), id: 'sub-state' }, sub.enabled ? 'enabled' : 'disabled')),
      h('p', {}, h('code', {}, sub.id), ' → ', h('code', {}, sub.url)),
      sub.disabled_reason ? h('p', { class: 'notice' }, `Disabled by hookstream (${sub.disabled_reason}) at ${when(sub.disabled_at)}; enabling clears it.`) : null,
      h('p', { class: 'muted' }, `Format ${(sub.payload && sub.payload.format) || 'standard'}, ${sub.max_attempts} attempts, timeout ${sub.timeout}` +
        (sub.rate_limit ? `, at most ${sub.rate_limit.per_second}/s (burst ${sub.rate_limit.burst})` : '') + '.'),
      h('pre', { id: 'filter' }, JSON.stringify(sub.filter || {}, null, 2)),
      w ? h('div', { class: 'row' },
        h('button', { type: 'button', id: 'toggle', class: 'secondary', onclick: () => act(async () => {
          sub = await api('PATCH', '/v1/subscriptions/' + encodeURIComponent(id), { enabled: !sub.enabled });
          drawHead();
        }) }, sub.enabled ? 'Disable' : 'Enable'),
        h('a', { href: `#/subscriptions/${encodeURIComponent(id)}/edit` }, h('button', { type: 'button', class: 'secondary', id: 'edit' }, 'Edit')),
        h('button', { type: 'button', id: 'send-test', class: 'secondary', onclick: () => act(async () => {
          fill(out, h('p', { class: 'muted' }, 'Sending a test delivery…'));
          const r = await api('POST', '/v1/subscriptions/' + encodeURIComponent(id) + '/test');
          fill(out, h('h2', {}, 'Test delivery'), h('p', {}, `${r.outcome} (${r.reason || 'ok'}), status ${r.status || '–'}, ${fmt(r.latency_ms, 1)} ms`),
            r.error ? h('p', { class: 'error' }, r.error) : null, h('pre', { id: 'test-response' }, r.response_body || '(empty body)'));
        }) }, 'Send test'),
        h('button', { type: 'button', id: 'rotate', class: 'secondary', onclick: () => act(async () => {
          if (!confirm('Rotate the signing secret? The current one keeps signing for the rotation window.')) return;
          const r = await api('POST', '/v1/subscriptions/' + encodeURIComponent(id) + '/rotate-secret');
          fill(out, h('div', { class: 'notice' }, h('p', {}, 'The new secret, shown this once:'), h('pre', { id: 'new-secret' }, r.secret)));
        }) }, 'Rotate secret'),
        h('button', { type: 'button', id: 'delete', class: 'danger', onclick: () => act(async () => {
          if (!confirm(`Delete ${sub.name}? Its pending retries are dropped.`)) return;
          await api('DELETE', '/v1/subscriptions/' + encodeURIComponent(id));
          location.hash = '#/subscriptions';
        }) }, 'Delete')) : null);
  };
  if (created && created.id === id) {
    fill(out, h('div', { class: 'notice', id: 'created-secret' }, h('p', {}, 'The signing secret, shown this once: keep it where the endpoint verifies signatures.'), h('pre', {}, created.secret)));
  }
  created = null;
  act(async () => {
    sub = await api('GET', '/v1/subscriptions/' + encodeURIComponent(id));
    drawHead();
    if (canWrite()) {
      const p = await api('POST', '/v1/subscriptions/' + encodeURIComponent(id) + '/preview');
      fill(preview, h('pre', {}, `${p.method} ${p.url}\n` + Object.entries(p.headers).sort().map(([k, v]) => `${k}: ${v}`).join('\n') + '\n\n' + p.body));
    } else {
      fill(preview, h('p', { class: 'muted' }, 'An admin token renders the request a delivery would send.'));
    }
  });
  return every(2000, async () => {
    try {
      const list = await api('GET', `/v1/subscriptions/${encodeURIComponent(id)}/attempts?limit=100`);
      fill(attempts, attemptsTable(list.data));
    } catch (err) { showError(attempts, err); }
  });
}

// openAttempts are the attempts whose request is shown, kept across the
// table's refreshes.
const openAttempts = new Set();

function attemptsTable(list, highlight) {
  if (!list.length) return h('p', { class: 'muted', id: 'no-attempts' }, 'No attempts yet.');
  return h('table', { id: 'attempts' },
    h('thead', {}, h('tr', {}, ['time', 'webhook-id', 'attempt', 'rung', 'outcome', 'status', 'latency', 'error', 'next', ''].map((c) => h('th', {}, c)))),
    h('tbody', {}, list.map((a) => {
      // A failed attempt keeps what it sent and the start of the answer.
      const key = a.webhook_id + '#' + a.attempt;
      const sent = a.request ? h('tr', { hidden: !openAttempts.has(key), class: 'sent' }, h('td', { colspan: 10 },
        h('pre', {}, `${a.request.method} ${a.request.url}\n` + Object.entries(a.request.headers).sort().map(([k, v]) => `${k}: ${v}`).join('\n') +
          '\n\n' + a.request.body + (a.request.body_bytes > a.request.body.length ? `\n… (${a.request.body_bytes} bytes in all)` : '')),
        h('p', { class: 'muted' }, 'Response'), h('pre', {}, a.response || '(empty body)'))) : null;
      return [h('tr', { dataset: { webhookId: a.webhook_id, outcome: a.outcome }, class: highlight && highlight.has(a.webhook_id) ? 'active' : '' },
        h('td', {}, when(a.time)), h('td', {}, h('code', {}, a.webhook_id)), h('td', { class: 'num' }, a.attempt), h('td', {}, a.rung || 'first'),
        h('td', {}, h('span', { class: 'badge ' + (a.outcome === 'delivered' ? 'ok' : a.outcome === 'permanent' ? 'bad' : 'warn') }, a.outcome + (a.reason ? ' · ' + a.reason : ''))),
        h('td', { class: 'num' }, a.status || '–'), h('td', { class: 'num' }, fmt(a.latency_ms, 1) + ' ms'), h('td', {}, a.error || ''), h('td', {}, a.next || ''),
        h('td', {}, sent ? h('button', { type: 'button', class: 'secondary show-request', onclick: () => {
          sent.hidden = !sent.hidden;
          if (sent.hidden) openAttempts.delete(key); else openAttempts.add(key);
        } }, 'Request') : null)), sent];
    })));
}

// ---- create and edit ----

function editView(id) {
  if (!canWrite()) {
    fill($main(), h('p', { class: 'error' }, 'A read token cannot change subscriptions.'));
    return;
  }
  const f = {
    name: h('input', { name: 'name', required: true }),
    url: h('input', { name: 'url', type: 'url', required: true, placeholder: 'https://hooks.example.com/…' }),
    types: h('input', { name: 'filter.types', placeholder: 'order.failed, payment.*' }),
    sources: h('input', { name: 'filter.sources', placeholder: 'billing, payment-*' }),
    format: h('select', { name: 'payload.format' }, FORMATS.map((v) => h('option', { value: v }, v))),
    routing: h('input', { name: 'payload.routing_key', placeholder: 'PagerDuty routing key' }),
    body: h('textarea', { name: 'payload.body', placeholder: '{"text": "{{ .message }} on {{ .source }}"}' }),
    attempts: h('input', { name: 'max_attempts', type: 'number', min: 1, max: 100 }),
    timeout: h('input', { name: 'timeout', placeholder: '10s' }),
  };
  const levels = LEVELS.map((l) => h('input', { type: 'checkbox', name: 'filter.levels', value: l }));
  const where = h('div', { class: 'stack', id: 'where' });
  const addWhere = (p = { path: '', op: 'eq', value: '' }) => {
    const row = h('div', { class: 'where' },
      h('input', { class: 'w-path', placeholder: 'path, e.g. order.amount', value: p.path }),
      h('select', { class: 'w-op' }, OPS.map((o) => h('option', { value: o, selected: o === p.op }, o))),
      h('input', { class: 'w-value', placeholder: 'value (JSON or text)', value: p.value === undefined ? '' : (typeof p.value === 'string' ? p.value : JSON.stringify(p.value)) }),
      h('button', { type: 'button', class: 'secondary', onclick: () => row.remove() }, '×'));
    where.append(row);
  };
  const general = h('div', { role: 'alert' });
  const previewBox = h('pre', { id: 'form-preview' }, 'Fill in a URL to see the request.');
  const field = (label, input, name) => h('label', {}, label, input, h('span', { class: 'field-error', dataset: { field: name } }));
  const specific = h('div', { class: 'stack' });
  const drawSpecific = () => {
    fill(specific, 
      f.format.value === 'pagerduty' ? field('Routing key', f.routing, 'payload.routing_key') : null,
      f.format.value === 'template' ? field('Body template (Go text/template)', f.body, 'payload.body') : null);
  };
  f.format.addEventListener('change', drawSpecific);
  const form = h('form', { class: 'stack', id: 'subscription-form', novalidate: true },
    h('h1', {}, id ? 'Edit subscription' : 'New subscription'),
    field('Name', f.name, 'name'), field('URL', f.url, 'url'),
    h('h2', {}, 'Filter'),
    field('Types (comma-separated, * wildcards)', f.types, 'filter.types'),
    h('div', {}, h('div', {}, 'Levels'), h('div', { class: 'row' }, levels.map((c) => h('label', { class: 'inline' }, c, c.value))),
      h('span', { class: 'field-error', dataset: { field: 'filter.levels' } })),
    field('Sources (comma-separated, * wildcards)', f.sources, 'filter.sources'),
    h('div', {}, h('div', {}, 'Fields'), where, h('span', { class: 'field-error', dataset: { field: 'filter.where' } }),
      h('button', { type: 'button', class: 'secondary', id: 'add-where', onclick: () => addWhere() }, 'Add a field condition')),
    h('h2', {}, 'Payload and delivery'),
    field('Format', f.format, 'payload.format'), specific,
    field('Attempts (first try included)', f.attempts, 'max_attempts'), field('Timeout per attempt', f.timeout, 'timeout'),
    h('h2', {}, 'Preview of the request a sample event makes'), previewBox,
    general,
    h('div', { class: 'row' }, h('button', { type: 'submit', id: 'save' }, id ? 'Save' : 'Create'), h('a', { href: id ? `#/subscriptions/${encodeURIComponent(id)}` : '#/subscriptions' }, 'Cancel')));
  fill($main(), form);
  const list = (s) => s.split(',').map((x) => x.trim()).filter(Boolean);
  let original = {};
  if (id) {
    api('GET', '/v1/subscriptions/' + encodeURIComponent(id)).then((s) => {
      original = s;
      f.name.value = s.name; f.url.value = s.url;
      f.types.value = (s.filter.types || []).join(', ');
      f.sources.value = (s.filter.sources || []).join(', ');
      for (const c of levels) c.checked = (s.filter.levels || []).includes(c.value);
      for (const p of s.filter.where || []) addWhere(p);
      f.format.value = (s.payload && s.payload.format) || 'standard';
      f.body.value = (s.payload && s.payload.body) || '';
      f.attempts.value = s.max_attempts; f.timeout.value = s.timeout;
      drawSpecific();
      preview();
    }).catch((err) => showError(general, err));
  } else {
    drawSpecific();
  }
  // body is what the form says, as a create (full) or patch body.
  const body = (full) => {
    const wh = [...where.querySelectorAll('.where')].map((row) => {
      const raw = row.querySelector('.w-value').value.trim();
      let value = raw;
      try { if (raw !== '') value = JSON.parse(raw); } catch { /* text */ }
      const op = row.querySelector('.w-op').value;
      return { path: row.querySelector('.w-path').value.trim(), op, value: op === 'exists' ? undefined : value };
    });
    const sub = {
      name: f.name.value.trim(),
      filter: { types: list(f.types.value), sources: list(f.sources.value), levels: levels.filter((c) => c.checked).map((c) => c.value), where: wh },
    };
    // The API shows secrets masked: what the form did not change is not
    // sent back, so a masked value never replaces a stored one.
    if (full || !id || f.url.value.trim() !== original.url) sub.url = f.url.value.trim();
    const was = original.payload || {};
    if (full || !id || f.format.value !== (was.format || 'standard') || f.body.value !== (was.body || '') || f.routing.value) {
      // The payload's other settings stay when the format does; its
      // secrets (headers, routing key) are set again here or by the API.
      const keep = f.format.value === (was.format || 'standard') ? was : {};
      const payload = {};
      for (const k of ['summary', 'title', 'source', 'type', 'dedup_key', 'resolve_when', 'event_type', 'content_type', 'method', 'path', 'query']) {
        if (keep[k] !== undefined) payload[k] = keep[k];
      }
      payload.format = f.format.value;
      if (f.format.value === 'pagerduty' && f.routing.value) payload.routing_key = f.routing.value;
      if (f.format.value === 'template') payload.body = f.body.value;
      sub.payload = payload;
    }
    if (f.attempts.value) sub.max_attempts = Number(f.attempts.value);
    if (f.timeout.value) sub.timeout = f.timeout.value.trim();
    return sub;
  };
  // A live preview, 400 ms after the last change.
  let pending;
  const preview = () => {
    clearTimeout(pending);
    pending = setTimeout(async () => {
      if (!f.url.value.trim()) return;
      try {
        const p = await api('POST', '/v1/subscriptions/preview', { subscription: body(true) });
        fill(previewBox, `${p.method} ${p.url}\n` + Object.entries(p.headers).sort().map(([k, v]) => `${k}: ${v}`).join('\n') + '\n\n' + p.body);
      } catch (err) {
        fill(previewBox, [err.message, ...((err.problem && err.problem.errors) || []).map((e) => `${e.field}: ${e.message}`)].join('\n'));
      }
    }, 400);
  };
  form.addEventListener('input', preview);
  form.addEventListener('change', preview);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    for (const el of form.querySelectorAll('.field-error')) el.textContent = '';
    fill(general, );
    const sub = body(false);
    try {
      const saved = id ? await api('PATCH', '/v1/subscriptions/' + encodeURIComponent(id), sub) : await api('POST', '/v1/subscriptions', sub);
      if (!id) created = { id: saved.id, secret: saved.secret };
      location.hash = '#/subscriptions/' + encodeURIComponent(saved.id);
    } catch (err) {
      const rest = [];
      for (const fe of (err.problem && err.problem.errors) || []) {
        const name = fe.field.replace(/\[\d+\].*$/, '').replace(/\.\d+.*$/, '');
        const slot = form.querySelector(`.field-error[data-field="${CSS.escape(fe.field)}"]`) || form.querySelector(`.field-error[data-field="${CSS.escape(name)}"]`);
        if (slot) slot.textContent = (slot.textContent ? slot.textContent + ' ' : '') + fe.message;
        else rest.push(`${fe.field}: ${fe.message}`);
      }
      fill(general, h('p', { class: 'error', id: 'form-error' }, err.message), ...rest.map((r) => h('p', { class: 'error' }, r)));
    }
  });
}

// ---- DLQ ----

function dlqView() {
  const sub = h('input', { type: 'search', id: 'dlq-subscription', placeholder: 'subscription id' });
  const since = h('input', { type: 'datetime-local', id: 'dlq-since' });
  const body = h('div', {});
  const out = h('div', { id: 'replay-result', role: 'status' });
  let records = [];
  const selected = new Set();
  const query = () => {
    const p = new URLSearchParams({ limit: '200' });
    if (sub.value.trim()) p.set('subscription', sub.value.trim());
    if (since.value) p.set('since', new Date(since.value).toISOString());
    return p;
  };
  let next = '';
  // load shows the first page of the selection; more appends the next.
  const load = async (more) => {
    try {
      const q = query();
      if (more) q.set('cursor', next);
      const page = await api('GET', '/v1/dlq?' + q);
      records = more ? records.concat(page.data) : page.data;
      next = page.next_cursor || '';
      if (!more) selected.clear();
      draw();
    } catch (err) { showError(body, err); }
  };
  const replay = async () => {
    const ids = [...selected];
    try {
      const dry = await api('POST', '/v1/dlq/replay', { ids, dry_run: true });
      if (!confirm(`Replay ${dry.matched} deliveries on the first retry rung?` + (dry.skipped_poison ? ` (${dry.skipped_poison} poison records are skipped)` : ''))) return;
      const done = await api('POST', '/v1/dlq/replay', { ids });
      fill(out, h('p', { class: 'notice' }, `Replayed ${done.replayed} of ${done.matched} selected deliveries.`));
    } catch (err) { showError(out, err); }
  };
  const draw = () => {
    fill(body, records.length ? h('table', { id: 'dlq' },
      h('thead', {}, h('tr', {}, h('th', {}, ''), ['time', 'kind', 'subscription', 'reason', 'attempts', 'error', ''].map((c) => h('th', {}, c)))),
      h('tbody', {}, records.map((r) => {
        const detail = h('tr', { hidden: true }, h('td', { colspan: 8 }, h('pre', {}, JSON.stringify({ ...r, value: undefined }, null, 2) + '\n\n' + r.value)));
        return [h('tr', { dataset: { id: r.id } },
          h('td', {}, canWrite() && r.kind === 'delivery' ? h('input', { type: 'checkbox', class: 'pick', onchange: (e) => { e.target.checked ? selected.add(r.id) : selected.delete(r.id); drawTools(); } }) : null),
          h('td', {}, when(r.time)), h('td', {}, r.kind), h('td', {}, r.subscription || '–'), h('td', {}, r.reason), h('td', { class: 'num' }, r.attempts),
          h('td', {}, r.error || ''), h('td', {}, h('button', { type: 'button', class: 'secondary', onclick: () => { detail.hidden = !detail.hidden; } }, 'Inspect'))), detail];
      }))) : h('p', { class: 'muted' }, 'The DLQ holds no record for this selection.'),
    next ? h('button', { type: 'button', class: 'secondary', id: 'dlq-more', onclick: () => load(true) }, 'Show more') : null);
    drawTools();
  };
  const tools = h('div', { class: 'row' });
  const drawTools = () => fill(tools, canWrite() ? h('button', { type: 'button', id: 'replay', disabled: selected.size === 0, onclick: replay }, `Replay selected (${selected.size})`) : null);
  fill($main(), h('h1', {}, 'Dead-letter queue'),
    h('div', { class: 'toolbar' }, sub, h('label', { class: 'inline' }, 'since', since), h('button', { type: 'button', class: 'secondary', id: 'dlq-load', onclick: () => load(false) }, 'Show'), tools),
    out, body);
  load(false);
}

// ---- sources ----

function sourcesView() {
  const body = h('div', {}, h('p', { class: 'muted' }, 'Loading…'));
  const receipts = h('div', { id: 'receipts' });
  fill($main(), h('h1', {}, 'Inbound sources'), body, receipts);
  const show = async (src) => {
    try {
      const list = await api('GET', `/v1/sources/${encodeURIComponent(src.id)}/receipts`);
      fill(receipts, h('h2', {}, `Recent receipts of ${src.name}`), list.data.length ? h('table', {},
        h('thead', {}, h('tr', {}, ['time', 'outcome', 'status', 'type', 'delivery id'].map((c) => h('th', {}, c)))),
        h('tbody', {}, list.data.map((r) => h('tr', {}, h('td', {}, when(r.time)),
          h('td', {}, h('span', { class: 'badge ' + (r.outcome === 'published' || r.outcome === 'duplicate' || r.outcome === 'answered' ? 'ok' : 'bad') }, r.outcome)),
          h('td', { class: 'num' }, r.status), h('td', {}, r.type || ''), h('td', {}, h('code', {}, r.delivery_id || '')))))) : h('p', { class: 'muted' }, 'None yet.'));
    } catch (err) { showError(receipts, err); }
  };
  api('GET', '/v1/sources').then((list) => {
    const base = session.gateway || '';
    fill(body, list.data.length ? h('table', { id: 'sources' },
      h('thead', {}, h('tr', {}, ['name', 'provider', 'URL to give the provider', 'topic', 'state'].map((c) => h('th', {}, c)))),
      h('tbody', {}, list.data.map((s) => h('tr', { class: 'click', onclick: () => show(s) }, h('td', {}, s.name), h('td', {}, s.provider),
        h('td', {}, h('code', {}, `${base}/in/${s.id}`)), h('td', {}, s.topic || '(input)'),
        h('td', {}, h('span', { class: 'badge ' + (s.enabled ? 'ok' : 'bad') }, s.enabled ? 'enabled' : 'disabled')))))) :
      h('p', { class: 'muted' }, 'No inbound sources. Create one with: hookstream sources create --id stripe --provider stripe --secret …'));
  }).catch((err) => showError(body, err.status === 404 ? new Error('The inbound gateway is off on this instance (gateway.addr).') : err));
}

// ---- send an event ----

function sendView() {
  const sample = { type: 'order.failed', level: 'error', source: 'billing', message: 'card declined', order: { id: 'ord_1', amount: 4200 } };
  const text = h('textarea', { id: 'event', name: 'event' });
  text.value = JSON.stringify(sample, null, 2);
  const out = h('div', { id: 'send-result', role: 'status' });
  let stop = () => {};
  const send = async (e) => {
    e.preventDefault();
    stop();
    let ev;
    try { ev = JSON.parse(text.value); } catch (err) { fill(out, h('p', { class: 'error' }, 'Not JSON: ' + err.message)); return; }
    try {
      const r = await api('POST', '/v1/events', ev);
      const head = h('p', {}, `Published to ${r.topic}/${r.partition} at offset ${r.offset}. `,
        r.deliveries.length ? `It matches ${r.deliveries.length} subscription(s):` : 'It matches no subscription.');
      const follow = h('div', { id: 'follow' });
      fill(out, head, follow);
      const ids = new Set(r.deliveries.map((d) => d.webhook_id));
      stop = every(500, async () => {
        const parts = await Promise.all(r.deliveries.map(async (d) => {
          const list = await api('GET', `/v1/subscriptions/${encodeURIComponent(d.subscription_id)}/attempts?limit=100`);
          return [d, list.data.filter((a) => a.webhook_id === d.webhook_id)];
        }));
        fill(follow, ...parts.map(([d, list]) => h('div', {},
          h('h2', {}, h('a', { href: '#/subscriptions/' + encodeURIComponent(d.subscription_id) }, d.subscription_id), ' ', h('code', {}, d.webhook_id)),
          list.length ? attemptsTable(list, ids) : h('p', { class: 'muted' }, 'Waiting for the first attempt…'))));
      });
    } catch (err) { showError(out, err); }
  };
  const form = h('form', { class: 'stack', id: 'send-form' },
    h('h1', {}, 'Send an event'),
    h('p', { class: 'muted' }, 'Publish a JSON log event to the input topic and follow it to its deliveries.'),
    h('label', {}, 'Event', text),
    canWrite() ? h('button', { type: 'submit', id: 'send' }, 'Publish') : h('p', { class: 'muted' }, 'A read token cannot publish events.'),
    out);
  form.addEventListener('submit', send);
  fill($main(), form);
  return () => stop();
}

start();
