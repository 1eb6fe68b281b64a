import test from 'ava';
import { credentials, Metadata, status, type Client, type ServiceClientConstructor, type ServiceError } from '@grpc/grpc-js';
import { loadTributaryPackage } from '../../src/grpc/proto.js';
import { isTributaryError } from '../../src/errors.js';
import { Daemon } from '../../src/daemon/daemon.js';
import { TokenSet } from '../../src/security/tokens.js';
import { startDaemon } from '../helpers/daemon.js';
import { tempDir } from '../helpers/system.js';
import { waitUntil } from '../helpers/workers.js';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const TOKEN = 'a-good-token-0123456789abcdef';
const OPEN = new Set(['/healthz', '/readyz', '/ready', '/ui/login', '/ui/logout']);

test('a token is accepted only when it is exactly one of the configured ones', (t) => {
  const tokens = new TokenSet([TOKEN, 'another-token-0123456789']);
  t.true(tokens.enabled);
  t.true(tokens.accepts(TOKEN));
  t.true(tokens.accepts('another-token-0123456789'));
  for (const wrong of [undefined, '', TOKEN.slice(0, -1), `${TOKEN}x`, TOKEN.toUpperCase(), ` ${TOKEN}`]) t.false(tokens.accepts(wrong));
  t.false(new TokenSet([]).enabled);
  t.is(TokenSet.fromHeaderOf(`Bearer ${TOKEN}`), TOKEN);
  t.is(TokenSet.fromHeaderOf(`bearer   ${TOKEN}`), TOKEN);
  t.is(TokenSet.fromHeaderOf(`Basic ${TOKEN}`), undefined);
});

/** fetch, with the route named when it does not answer within 5 s. */
async function fetchOrSay(what: string, url: string, init: RequestInit): Promise<Response> {
  try {
    return await fetch(url, { ...init, signal: AbortSignal.timeout(5000) });
  } catch (err) {
    throw new Error(`${what} (${JSON.stringify(init.headers)}): ${(err as Error).message}`);
  }
}

/** A URL for a route pattern: parameters filled in with something the route takes. */
const concrete = (url: string) => url.replace(':name', 'service').replace('*', 'x');

test('with tokens, no HTTP route that reads or writes logs answers without a valid token', async (t) => {
  const d = await startDaemon(t, { auth: { tokens: [TOKEN] }, anomaly: { rule: { size: 10, threshold: 2 } } });
  const routes = d.httpRoutes.filter((r) => r.method !== 'OPTIONS');
  // Every door is among them: if one is renamed or added, the test walks it too.
  for (const must of [
    '/api/v1/query',
    '/api/v1/ingest',
    '/api/v1/sources',
    '/loki/api/v1/push',
    '/v1/logs',
    '/loki/api/v1/tail',
    '/api/v1/tail',
    '/metrics',
    '/',
    '/api/v1/anomalies/stream',
  ]) {
    t.true(
      routes.some((r) => r.url === must),
      `${must} is a route`,
    );
  }
  const checked: string[] = [];
  for (const r of routes) {
    const url = `${d.url}${concrete(r.url)}`;
    const body = r.method === 'POST' || r.method === 'PUT' ? '{}' : undefined;
    const ask = (headers: Record<string, string>) =>
      fetchOrSay(`${r.method} ${r.url}`, url, { method: r.method, redirect: 'manual', headers: { 'content-type': 'application/json', ...headers }, body });
    const none = await ask({});
    const wrong = await ask({ authorization: 'Bearer not-the-token-0123456789' });
    // The UI's cookie is honoured on GET only: a cross-site form cannot push with it.
    const cookie = await ask({ cookie: `tributary_token=${TOKEN}` });
    if (OPEN.has(r.url)) {
      // Probes and sign-out answer anyone; sign-in answers 401 to a wrong token, itself.
      if (r.url !== '/ui/login') t.not(none.status, 401, `${r.method} ${r.url} is open`);
      continue;
    }
    t.is(none.status, 401, `${r.method} ${r.url} without a token`);
    t.is(wrong.status, 401, `${r.method} ${r.url} with a wrong token`);
    if (r.method !== 'GET' && r.method !== 'HEAD') t.is(cookie.status, 401, `${r.method} ${r.url} with the cookie`);
    const good = await ask({ authorization: `Bearer ${TOKEN}` });
    t.not(good.status, 401, `${r.method} ${r.url} with the token`);
    await Promise.all([none, wrong, cookie, good].map((res) => res.body?.cancel()));
    checked.push(`${r.method} ${r.url}`);
  }
  t.true(checked.length >= 20, checked.join(', '));
  const login = await fetch(`${d.url}/ui/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: TOKEN }) });
  t.is(login.status, 200);
  t.regex(login.headers.get('set-cookie') ?? '', /^tributary_token=.*; HttpOnly; SameSite=Strict; Path=\//);
});

test('with tokens, every gRPC method ends UNAUTHENTICATED without a valid token, and works with it', async (t) => {
  const d = await startDaemon(t, { auth: { tokens: [TOKEN] }, grpc: { port: 0 } });
  const pkg = loadTributaryPackage();
  const query = new (pkg.Query as ServiceClientConstructor)(d.grpcAddress, credentials.createInsecure()) as Client & Record<string, any>;
  const ingest = new (pkg.Ingest as ServiceClientConstructor)(d.grpcAddress, credentials.createInsecure()) as Client & Record<string, any>;
  t.teardown(() => {
    query.close();
    ingest.close();
  });
  const md = (token?: string) => {
    const m = new Metadata();
    if (token) m.set('authorization', `Bearer ${token}`);
    return m;
  };
  const unary = (client: Record<string, any>, method: string, req: unknown, m: Metadata) =>
    new Promise<ServiceError | null>((resolve) => client[method](req, m, (err: ServiceError | null) => resolve(err)));
  const stream = (call: NodeJS.EventEmitter & { end?: () => void }) =>
    new Promise<ServiceError | null>((resolve) => {
      call.on('error', (err: ServiceError) => resolve(err));
      call.on('data', () => {});
      call.on('end', () => resolve(null));
      call.end?.();
    });
  const calls: [string, (m: Metadata) => Promise<ServiceError | null>][] = [
    ['Query.Query', (m) => stream(query.Query({ query: '{}', limit: 1 }, m))],
    ['Query.Metric', (m) => unary(query, 'Metric', { query: 'count_over_time({} [1m])' }, m)],
    ['Query.LabelValues', (m) => unary(query, 'LabelValues', { name: 'service' }, m)],
    ['Ingest.Push', (m) => unary(ingest, 'Push', { entries: [] }, m)],
    ['Ingest.Ring', (m) => unary(ingest, 'Ring', {}, m)],
    ['Ingest.PushBatches', (m) => stream(ingest.PushBatches(m))],
  ];
  for (const [name, call] of calls) {
    t.is((await call(md()))?.code, status.UNAUTHENTICATED, `${name} without a token`);
    t.is((await call(md('not-the-token-0123456789')))?.code, status.UNAUTHENTICATED, `${name} with a wrong token`);
    const good = await call(md(TOKEN));
    t.not(good?.code, status.UNAUTHENTICATED, `${name} with the token: ${good?.message}`);
  }
});

test('with tokens, a hosted collector sends with the daemon token and its lines are stored', async (t) => {
  const dir = tempDir(t);
  writeFileSync(
    join(dir, 'app.log'),
    Array.from({ length: 5 }, (_, i) => JSON.stringify({ level: 'info', service: 'tok', msg: `line ${i}` })).join('\n') + '\n',
  );
  const d = await startDaemon(t, {
    auth: { tokens: [TOKEN] },
    grpc: { port: 0 },
    collectors: [{ include: [join(dir, '*.log')], stateDir: join(dir, 'state') }],
  });
  const stored = async () => {
    const res = await fetch(`${d.url}/api/v1/query?${new URLSearchParams({ query: '{service="tok"}', since: '1h' })}`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    return ((await res.json()) as { data: { entries: unknown[] } }).data.entries.length;
  };
  let count = 0;
  await waitUntil('the collector lines stored', async () => (count = await stored()) === 5, 15_000);
  t.is(count, 5);
});

test('syslog without certificates is refused when tokens are set', async (t) => {
  const error = await t.throwsAsync(
    Daemon.start({ dataDir: tempDir(t), http: { port: 0 }, grpc: false, workers: 1, auth: { tokens: [TOKEN] }, syslog: { port: 0 } }),
  );
  t.true(isTributaryError(error, 'E_CONFIG_INVALID'));
  t.regex(error!.message, /syslog has no place for a bearer token/);
});
