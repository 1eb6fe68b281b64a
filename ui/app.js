// Tributary's web UI: plain JavaScript over the daemon's own APIs (no build step).
// Log query: GET /api/v1/query (pages by cursor); histogram and metric queries: the Loki API's
// query_range (any LogQL); label browser: the Loki API's labels and label values;
// live tail: SSE /api/v1/tail; anomalies: GET /api/v1/anomalies + SSE /api/v1/anomalies/stream.

const LEVELS = ['DEBUG', 'INFO', 'WARN', 'ERROR'];
const COLOURS = { DEBUG: '#8b949e', INFO: '#58a6ff', WARN: '#d29922', ERROR: '#f85149' };
const PAGE = 200;
/** Rows kept in the table while tailing: the oldest go first. */
const MAX_LIVE_ROWS = 2000;

const $ = (id) => document.getElementById(id);
const state = { query: '{}', zoom: undefined, cursor: undefined, loading: undefined, generation: 0, tail: undefined, chart: undefined };

function nsOf(ms) {
  return (BigInt(Math.round(ms)) * 1000000n).toString();
}

function parseSince(text) {
  const m = /^(\d+)([smhdw])$/.exec(text);
  const unit = { s: 1e3, m: 60e3, h: 3600e3, d: 86400e3, w: 604800e3 }[m[2]];
  return Number(m[1]) * unit;
}

/** The [from, to) in ms: the zoomed range, the absolute one typed in, or the selected one back from now. */
function currentRange() {
  if (state.zoom) return state.zoom;
  if ($('range').value === 'absolute') {
    const from = Date.parse($('from').value);
    const to = Date.parse($('to').value);
    if (Number.isFinite(from) && Number.isFinite(to) && to > from) return { from, to };
  }
  const to = Date.now();
  return { from: to - parseSince($('range').value === 'absolute' ? '1h' : $('range').value), to };
}

/** A datetime-local input's value for a time in ms (local time, to the second). */
function localInput(ms) {
  const d = new Date(ms);
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** LogQL metric queries start with a function or a number; log queries with a selector. */
const isMetric = (query) => !query.trimStart().startsWith('{');

async function api(path, params) {
  const url = `${path}?${new URLSearchParams(params)}`;
  const res = await fetch(url, { headers: { accept: 'application/json' } });
  if (res.status === 401) {
    location.reload(); // the sign-in page
    throw new Error('signed out');
  }
  const body = await res.json().catch(() => ({ status: 'error', error: { message: `${res.status} ${res.statusText}` } }));
  if (!res.ok || body.status === 'error') throw Object.assign(new Error(body.error?.message ?? body.message ?? res.statusText), { detail: body.error });
  return body.data;
}

function showError(err) {
  const box = $('query-error');
  const input = $('query');
  if (!err) {
    box.hidden = true;
    input.classList.remove('invalid');
    return;
  }
  let text = err.message;
  const pos = err.detail?.context?.position;
  if (typeof pos === 'number') text = `${state.query}\n${' '.repeat(pos)}^\n${text}`;
  box.textContent = text;
  box.hidden = false;
  input.classList.add('invalid');
  if (typeof pos === 'number') input.setSelectionRange(pos, pos + 1);
}

function formatTime(entry) {
  const ms = Number(BigInt(entry.ts) / 1000000n);
  const d = new Date(ms);
  const pad = (n, w = 2) => String(n).padStart(w, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

function row(entry, isNew) {
  const tr = document.createElement('tr');
  if (isNew) tr.className = 'new';
  tr.dataset.ts = entry.ts;
  const cells = [formatTime(entry), entry.level, entry.service, entry.server, entry.region, entry.message];
  cells.forEach((text, i) => {
    const td = document.createElement('td');
    td.textContent = text;
    if (i === 1) td.className = `lvl lvl-${entry.level}`;
    if (i === 5) td.className = 'msg';
    tr.appendChild(td);
  });
  return tr;
}

function setMore(text) {
  $('more').textContent = text;
}

async function loadPage(generation) {
  // One page at a time per query (scrolling asks again while a page loads); a new query does not wait for an old one's page.
  if (state.loading === generation || state.cursor === null) return;
  state.loading = generation;
  const { from, to } = currentRange();
  try {
    const params = { query: state.query, from: nsOf(from), to: nsOf(to), limit: String(PAGE), direction: 'backward' };
    if (state.cursor) params.cursor = state.cursor;
    const data = await api('/api/v1/query', params);
    if (generation !== state.generation) return;
    const body = $('results').tBodies[0];
    for (const e of data.entries) body.appendChild(row(e, false));
    state.cursor = data.nextCursor ?? null;
    const shown = body.rows.length;
    setMore(state.cursor ? `${shown} entries shown, scroll for more` : shown === 0 ? 'no entries in this range' : `${shown} entries, that is all`);
    if (data.partial) setMore(`${$('more').textContent} (partial: ${data.partial.reasons.join('; ')})`);
    showError(undefined);
  } catch (err) {
    if (generation === state.generation) {
      showError(err);
      setMore('');
    }
  } finally {
    if (state.loading === generation) state.loading = undefined;
  }
}

function stepFor(rangeMs) {
  return `${Math.max(1, Math.round(rangeMs / 1000 / 120))}s`;
}

async function loadHistogram(generation) {
  const { from, to } = currentRange();
  const step = stepFor(to - from);
  let data;
  try {
    data = await api('/loki/api/v1/query_range', { query: `sum by (level) (count_over_time(${state.query} [${step}]))`, start: nsOf(from), end: nsOf(to), step });
  } catch {
    // The query's own error is shown by the results; the chart of the query before it goes.
    if (generation === state.generation) clearChart();
    return;
  }
  if (generation !== state.generation) return;
  const stepMs = parseSince(step);
  const times = new Set();
  for (const s of data.result) for (const [t] of s.values) times.add(t);
  const xs = [...times].sort((a, b) => a - b);
  const index = new Map(xs.map((x, i) => [x, i]));
  const counts = Object.fromEntries(LEVELS.map((l) => [l, new Array(xs.length).fill(0)]));
  for (const s of data.result) {
    const level = (s.metric.level ?? '').toUpperCase();
    if (!counts[level]) continue;
    for (const [t, c] of s.values) counts[level][index.get(t)] += Number(c);
  }
  // A point at t counts (t - step, t]: its bar spans the step before it.
  drawChart(
    xs.map((x) => x - stepMs / 1000),
    counts,
    stepMs,
  );
  $('chart').dataset.drawn = String(generation);
}

/** A metric query: its series drawn as lines, and listed with their last, least and greatest values. */
async function loadMetric(generation) {
  const { from, to } = currentRange();
  const step = stepFor(to - from);
  let data;
  try {
    data = await api('/loki/api/v1/query_range', { query: state.query, start: nsOf(from), end: nsOf(to), step });
  } catch (err) {
    if (generation !== state.generation) return;
    clearChart();
    showError(err);
    setMore('');
    return;
  }
  if (generation !== state.generation) return;
  showError(undefined);
  const name = (m) => `{${Object.entries(m).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(', ')}}`;
  const times = new Set();
  for (const s of data.result) for (const [t] of s.values) times.add(t);
  const xs = [...times].sort((a, b) => a - b);
  const index = new Map(xs.map((x, i) => [x, i]));
  const ys = data.result.map((s) => {
    const y = new Array(xs.length).fill(null);
    for (const [t, v] of s.values) y[index.get(t)] = Number(v);
    return y;
  });
  const palette = ['#58a6ff', '#3fb950', '#d29922', '#f85149', '#bc8cff', '#39c5cf', '#ff7b72', '#8b949e'];
  const opts = {
    width: $('chart-box').clientWidth - 10,
    height: 190,
    scales: { x: { time: true } },
    axes: [{ stroke: '#8b949e', grid: { stroke: '#2d3640' } }, { stroke: '#8b949e', grid: { stroke: '#2d3640' } }],
    series: [{}, ...data.result.map((s, i) => ({ label: name(s.metric), stroke: palette[i % palette.length], width: 1.5, spanGaps: false }))],
  };
  clearChart();
  if (xs.length > 0) state.chart = new uPlot(opts, [xs, ...ys], $('chart'));
  const body = $('series').tBodies[0];
  body.textContent = '';
  data.result.forEach((s) => {
    const vs = s.values.map(([, v]) => Number(v));
    const tr = document.createElement('tr');
    for (const text of [name(s.metric), vs.at(-1), Math.min(...vs), Math.max(...vs)]) {
      const td = document.createElement('td');
      td.textContent = String(text);
      tr.appendChild(td);
    }
    body.appendChild(tr);
  });
  setMore(data.result.length === 0 ? 'no series in this range' : `${data.result.length} series`);
}

/** Stacked bars: each level drawn as the running total up to it, the tallest first, so each band shows one level. */
function drawChart(xs, counts, stepMs) {
  const stacked = [];
  let running = new Array(xs.length).fill(0);
  for (const l of LEVELS) {
    running = running.map((v, i) => v + counts[l][i]);
    stacked.push(running);
  }
  const order = [...LEVELS.keys()].reverse();
  const bars = uPlot.paths.bars({ size: [0.9, Infinity], align: 1 });
  const opts = {
    width: $('chart-box').clientWidth - 10,
    height: 190,
    cursor: { drag: { x: true, y: false } },
    scales: { x: { time: true } },
    axes: [{ stroke: '#8b949e', grid: { stroke: '#2d3640' } }, { stroke: '#8b949e', grid: { stroke: '#2d3640' } }],
    series: [
      {},
      ...order.map((i) => ({
        label: LEVELS[i],
        stroke: COLOURS[LEVELS[i]],
        fill: COLOURS[LEVELS[i]],
        paths: bars,
        points: { show: false },
        value: (_u, _v, _s, idx) => (idx === null || idx === undefined ? '-' : counts[LEVELS[i]][idx]),
      })),
    ],
    hooks: {
      setSelect: [
        (u) => {
          if (u.select.width < 3) return;
          const from = u.posToVal(u.select.left, 'x') * 1000;
          const to = u.posToVal(u.select.left + u.select.width, 'x') * 1000 + stepMs;
          u.setSelect({ width: 0, height: 0 }, false);
          zoom({ from, to });
        },
      ],
    },
  };
  const data = [xs, ...order.map((i) => stacked[i])];
  if (state.chart) state.chart.destroy();
  $('chart').textContent = '';
  state.chart = new uPlot(opts, data, $('chart'));
}

function clearChart() {
  state.chart?.destroy();
  state.chart = undefined;
  $('chart').textContent = '';
}

function describeRange() {
  const label = $('range-label');
  if (!state.zoom) {
    label.textContent = '';
    return;
  }
  label.textContent = `zoomed to ${new Date(state.zoom.from).toLocaleString()} - ${new Date(state.zoom.to).toLocaleString()} `;
  const reset = document.createElement('a');
  reset.href = '#';
  reset.id = 'reset-zoom';
  reset.textContent = 'reset';
  reset.onclick = (e) => {
    e.preventDefault();
    state.zoom = undefined;
    run();
  };
  label.appendChild(reset);
}

function zoom(range) {
  state.zoom = range;
  $('live').checked = false;
  run();
}

function run() {
  state.query = $('query').value.trim() || '{}';
  state.generation++;
  state.cursor = undefined;
  $('results').tBodies[0].textContent = '';
  setMore('loading...');
  describeRange();
  const params = new URLSearchParams(location.search);
  params.set('query', state.query);
  history.replaceState(null, '', `?${params}`);
  const generation = state.generation;
  // What the chart is drawn for, beside what it should be: a page (and a test) can tell a stale chart from this query's.
  $('chart').dataset.want = String(generation);
  const metric = isMetric(state.query);
  $('results').hidden = metric;
  $('series').hidden = !metric;
  $('series').tBodies[0].textContent = '';
  if (metric) {
    state.cursor = null;
    state.tail?.close();
    state.tail = undefined;
    void loadMetric(generation);
    return;
  }
  void loadPage(generation);
  void loadHistogram(generation);
  restartTail();
}

/** The label browser: label names over the range, a name's values among the query's streams, a value added to the selector. */
async function loadLabels() {
  const { from, to } = currentRange();
  const names = $('label-names');
  names.textContent = '';
  $('label-values').textContent = '';
  let labels;
  try {
    labels = await api('/loki/api/v1/labels', { start: nsOf(from), end: nsOf(to) });
  } catch (err) {
    names.textContent = err.message;
    return;
  }
  for (const label of labels) {
    const b = document.createElement('button');
    b.type = 'button';
    b.textContent = label;
    b.onclick = () => {
      for (const other of names.children) other.classList.toggle('open', other === b);
      void loadValues(label);
    };
    names.appendChild(b);
  }
}

function selectorOf(query) {
  const m = /^\s*\{[^}]*\}/.exec(query);
  return m && m[0].trim() !== '{}' ? m[0].trim() : undefined;
}

async function loadValues(label) {
  const { from, to } = currentRange();
  const box = $('label-values');
  box.textContent = 'loading...';
  const params = { start: nsOf(from), end: nsOf(to) };
  const selector = selectorOf($('query').value);
  if (selector) params.query = selector;
  let values;
  try {
    values = await api(`/loki/api/v1/label/${encodeURIComponent(label)}/values`, params);
  } catch (err) {
    box.textContent = err.message;
    return;
  }
  box.textContent = values.length === 0 ? `no values of ${label} here` : '';
  for (const value of values.slice(0, 500)) {
    const b = document.createElement('button');
    b.type = 'button';
    b.textContent = value;
    b.title = `add ${label}="${value}" to the selector and run`;
    b.onclick = () => {
      $('query').value = withMatcher($('query').value, `${label}=${JSON.stringify(value)}`);
      state.zoom = undefined;
      run();
    };
    box.appendChild(b);
  }
}

/** The query with a matcher added to its stream selector (a new selector when it has none). */
function withMatcher(query, matcher) {
  const m = /^(\s*)\{([^}]*)\}/.exec(query);
  if (!m) return `{${matcher}}`;
  const inner = m[2].trim();
  return `${m[1]}{${inner === '' ? matcher : `${inner}, ${matcher}`}}${query.slice(m[0].length)}`;
}

function restartTail() {
  state.tail?.close();
  state.tail = undefined;
  if (!$('live').checked) return;
  const source = new EventSource(`/api/v1/tail?${new URLSearchParams({ query: state.query, since: '10s', delay_ms: '2000' })}`);
  const body = $('results').tBodies[0];
  source.addEventListener('entries', (ev) => {
    const entries = JSON.parse(ev.data);
    for (const e of entries) {
      if (body.querySelector(`tr[data-ts="${e.ts}"]`)) continue;
      body.insertBefore(row(e, true), body.firstChild);
    }
    while (body.rows.length > MAX_LIVE_ROWS) body.deleteRow(-1);
    setMore(`live: ${body.rows.length} entries shown`);
  });
  source.addEventListener('error', (ev) => {
    if (ev.data) showError(new Error(JSON.parse(ev.data).message));
  });
  state.tail = source;
}

// Anomaly panel: the flagged services now and the recent events, kept current by SSE.
const anomalies = { flagged: new Map(), events: [] };

function renderAnomalies() {
  const list = $('flagged');
  list.textContent = '';
  if (anomalies.flagged.size === 0) {
    const li = document.createElement('li');
    li.className = 'none';
    li.textContent = 'no service flagged';
    list.appendChild(li);
  }
  for (const e of [...anomalies.flagged.values()].sort((a, b) => a.service.localeCompare(b.service))) {
    const li = document.createElement('li');
    li.textContent = `${e.service}: ${e.errors} errors in the last ${e.window} (threshold ${e.threshold})`;
    li.title = 'click to query its errors';
    li.style.cursor = 'pointer';
    li.onclick = () => {
      $('query').value = `{service=${JSON.stringify(e.service)}} | level >= ERROR`;
      run();
    };
    list.appendChild(li);
  }
  const events = $('events');
  events.textContent = '';
  for (const e of anomalies.events.slice(0, 50)) {
    const li = document.createElement('li');
    li.className = e.type;
    li.textContent = `${new Date(e.at).toLocaleTimeString()} ${e.type === 'flag' ? 'flagged' : 'cleared'} ${e.service} (${e.errors}/${e.window})`;
    events.appendChild(li);
  }
}

function onAnomaly(e) {
  if (e.type === 'flag') anomalies.flagged.set(e.service, e);
  else anomalies.flagged.delete(e.service);
  anomalies.events.unshift(e);
  anomalies.events.length = Math.min(anomalies.events.length, 200);
  renderAnomalies();
}

async function startAnomalies() {
  try {
    const data = await api('/api/v1/anomalies', { limit: '50' });
    for (const e of data.current) anomalies.flagged.set(e.service, e);
    anomalies.events = data.history.slice().reverse();
  } catch {
    $('flagged').textContent = 'anomaly detection is off';
    return;
  }
  renderAnomalies();
  const source = new EventSource('/api/v1/anomalies/stream');
  for (const type of ['flag', 'clear']) {
    source.addEventListener(type, (ev) => {
      const e = JSON.parse(ev.data);
      // The stream opens with a flag per service flagged now: those are not new events.
      if (type === 'flag' && anomalies.flagged.get(e.service)?.ts === e.ts) return;
      onAnomaly(e);
    });
  }
}

async function health() {
  try {
    const res = await fetch('/readyz');
    const body = await res.json();
    $('health').textContent = res.ok ? 'ready' : `not ready: ${(body.reasons ?? []).join('; ')}`;
  } catch {
    $('health').textContent = 'daemon unreachable';
  }
}

function main() {
  const fromUrl = new URLSearchParams(location.search).get('query');
  if (fromUrl) $('query').value = fromUrl;
  $('query-form').addEventListener('submit', (e) => {
    e.preventDefault();
    state.zoom = undefined;
    run();
  });
  $('range').addEventListener('change', () => {
    state.zoom = undefined;
    const absolute = $('range').value === 'absolute';
    $('absolute').hidden = !absolute;
    if (absolute && !$('from').value) {
      $('to').value = localInput(Date.now());
      $('from').value = localInput(Date.now() - 3600e3);
    }
    run();
  });
  for (const id of ['from', 'to']) $(id).addEventListener('change', () => run());
  $('labels-box').addEventListener('toggle', () => {
    if ($('labels-box').open) void loadLabels();
  });
  $('live').addEventListener('change', () => restartTail());
  new IntersectionObserver((items) => {
    if (items.some((i) => i.isIntersecting) && state.cursor) void loadPage(state.generation);
  }, { root: $('results-box') }).observe($('more'));
  window.addEventListener('resize', () => state.chart?.setSize({ width: $('chart-box').clientWidth - 10, height: 190 }));
  run();
  void startAnomalies();
  void health();
  setInterval(health, 5000);
}

main();
