import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { registerAuth } from './auth.js';
import type { TokenSet } from '../security/tokens.js';
import type { TlsMaterial } from '../security/tls.js';
import { TributaryError, publicError } from '../errors.js';
import type { IdentifiedEntry } from '../model/entry.js';
import { LEVEL_NAMES } from '../model/level.js';
import { entryStrings } from '../model/entry-wire.js';
import { isLabelName } from '../model/labels.js';
import { LABEL_NAMES_QUERY } from '../query/labels.js';
import type { QueryService } from '../query/engine.js';
import { compileLogQL, type Compiled } from '../query/logql/compile.js';
import { parseLogQL, type CompiledQuery } from '../query/logql.js';
import { MAX_LIMIT, type LogQuery } from '../query/model.js';
import { formatTime, nowNs, parseDuration, parseTime } from '../query/time.js';
import { int, statusOf, type Query } from './common.js';
import { registerLokiApi } from './loki.js';
import { sseStreams } from './sse.js';
import { startTail } from '../query/tail.js';

/** Live tails over SSE open at once on one server; more are refused with 429. */
const MAX_TAILS = 32;

/** Every route the server has (method and URL pattern), as registered: what the authentication test walks. */
export function serverRoutes(app: FastifyInstance): readonly { method: string; url: string }[] {
  return (app as unknown as { tributaryRoutes: { method: string; url: string }[] }).tributaryRoutes;
}

export interface HttpServerOptions {
  /** HTTPS from these (with a CA: clients must present a certificate it signed). */
  readonly tls?: TlsMaterial;
  /** Bearer tokens for every route but the probes (see registerAuth). */
  readonly tokens?: TokenSet;
  /** Answers a request without a valid token instead of the 401 (the UI's sign-in page); true when it did. */
  readonly onDenied?: (req: FastifyRequest, reply: FastifyReply) => boolean;
  /** Where an internal error's details go (the answer says only that there was one). */
  readonly log?: (level: 'error', message: string) => void;
}

export interface HttpDeps {
  readonly engine: QueryService;
  labelValues(name: string, from?: bigint, to?: bigint): Promise<string[]>;
}

/** An entry as JSON: timestamps as strings of nanoseconds (JSON numbers lose precision past 2^53), plus RFC 3339. */
export function entryJson(e: IdentifiedEntry & { stream?: Readonly<Record<string, string>> }): Record<string, string | Readonly<Record<string, string>>> {
  // A pipeline's entry carries every label it ended with (parsed ones too) as `stream`.
  return { ...entryStrings(e), time: formatTime(e.ts), ...(e.stream ? { stream: e.stream } : {}) };
}

/** The [from, to) of a request: `from`/`to` in any accepted form, or `since` back from now (default 1 hour). */
function timeRange(q: Query): { from: bigint; to: bigint } {
  const now = nowNs();
  const to = q.to !== undefined ? parseTime(q.to, 'to', now) : now;
  const from = q.from !== undefined ? parseTime(q.from, 'from', now) : to - parseDuration(q.since ?? '1h', 'since');
  return { from, to };
}

/** The request's LogQL query, compiled, and of the kind the route serves. */
type QueryOf = { [K in CompiledQuery['type']]: Extract<CompiledQuery, { type: K }>['query'] };

function requestQuery<T extends CompiledQuery['type']>(q: Query, type: T): QueryOf[T] {
  if (!q.query) throw new TributaryError('E_QUERY_INVALID', 'missing query parameter "query"', { field: 'query' });
  let compiled: CompiledQuery;
  try {
    compiled = parseLogQL(q.query);
  } catch (err) {
    // Loki's full LogQL: pipelines are answered here (logRequest); metric expressions and constants by the Loki API.
    const full = compileLogQL(q.query);
    if (full.type === 'constant')
      throw new TributaryError('E_QUERY_INVALID', 'a constant expression reads no logs: ask the Loki API (/loki/api/v1/query)', { field: 'query' });
    if (full.type === 'log' || full.type === 'metric') throw err;
    if (full.type === 'pipeline' && type === 'log') throw Object.assign(new TributaryError('E_QUERY_INVALID', 'a pipeline', {}), { pipeline: full });
    throw new TributaryError(
      'E_QUERY_INVALID',
      full.type === 'pipeline'
        ? 'a log query goes to /api/v1/query'
        : 'this metric query uses LogQL this API does not count (parsers, other aggregations, operators): ask the Loki API (/loki/api/v1/query_range)',
      { field: 'query' },
    );
  }
  if (compiled.type !== type) {
    throw new TributaryError('E_QUERY_INVALID', type === 'log' ? 'a metric query goes to /api/v1/query_range' : 'a log query goes to /api/v1/query', {
      field: 'query',
    });
  }
  return compiled.query as QueryOf[T];
}

/** A log query: what the storage filters, and the pipeline stages run on the shards (none for Tributary's own syntax). */
function logRequest(q: Query): { query: QueryOf['log']; stages?: Extract<Compiled, { type: 'pipeline' }>['stages'] } {
  try {
    return { query: requestQuery(q, 'log') };
  } catch (err) {
    const pipeline = (err as { pipeline?: Extract<Compiled, { type: 'pipeline' }> }).pipeline;
    if (pipeline === undefined) throw err;
    return { query: pipeline.query, stages: pipeline.stages };
  }
}

/** The query API. Every failure answers JSON with the error's code; a bad query is a 400, never a 500. */
export async function createHttpServer(deps: HttpDeps, options: HttpServerOptions = {}): Promise<FastifyInstance> {
  const tls = options.tls;
  // A stopping daemon closes every connection (live tails, SSE streams, idle keep-alives) rather than wait on them.
  const app = Fastify({
    logger: false,
    bodyLimit: 16 * 1024 * 1024,
    forceCloseConnections: true,
    ...(tls ? { https: { cert: tls.cert, key: tls.key, ...(tls.ca ? { ca: tls.ca, requestCert: true, rejectUnauthorized: true } : {}) } } : {}),
  }) as unknown as FastifyInstance;
  if (options.tokens) registerAuth(app, options.tokens, options.onDenied);
  const routes: { method: string; url: string }[] = [];
  app.addHook('onRoute', (r) => {
    for (const method of [r.method].flat()) routes.push({ method, url: r.url });
  });
  app.decorate('tributaryRoutes', routes);

  app.setErrorHandler((err, _req, reply: FastifyReply) => {
    const status = statusOf(err);
    if (status >= 500) options.log?.('error', `http api: ${(err as Error).stack ?? String(err)}`);
    void reply.status(status).send({ status: 'error', error: publicError(err) });
  });

  app.get('/api/v1/query', async (req) => {
    const q = req.query as Query;
    const { query, stages } = logRequest(q);
    const { from, to } = timeRange(q);
    const direction = q.direction === 'forward' ? 'forward' : q.direction === undefined || q.direction === 'backward' ? 'backward' : undefined;
    if (!direction) throw new TributaryError('E_QUERY_INVALID', `direction must be forward or backward, got ${q.direction}`, { field: 'direction' });
    const select: LogQuery = { ...query, from, to, direction, limit: Math.min(MAX_LIMIT, int(q.limit, 'limit', 100)), cursor: q.cursor };
    const options = { timeoutMs: int(q.timeout_ms, 'timeout_ms', 5000) };
    const result = stages ? await deps.engine.pipe({ query: select, stages }, options) : await deps.engine.query(select, options);
    return {
      status: 'success',
      data: {
        entries: result.entries.map(entryJson),
        nextCursor: result.nextCursor,
        partial: result.partial,
        stats: result.stats,
      },
    };
  });

  app.get('/api/v1/query_range', async (req) => {
    const q = req.query as Query;
    const query = requestQuery(q, 'metric');
    const { from, to } = timeRange(q);
    const r = await deps.engine.metric(query, from, to, { timeoutMs: int(q.timeout_ms, 'timeout_ms', 10_000) });
    return {
      status: 'success',
      data: {
        step: r.step.toString(),
        series: r.series.map((s) => ({
          labels: s.labels,
          points: s.counts.map((c, i) => [(r.from + BigInt(i) * r.step).toString(), c]),
        })),
        partial: r.partial,
      },
    };
  });

  const stream = sseStreams(app);
  let tails = 0;
  /**
   * Live tail as Server-Sent Events (`entries` events, each an array in
   * timestamp order): `since` (default 5m) back, then new entries as they are
   * stored, held back `delay_ms` (default 2000, at most 30000) so entries
   * arriving that late from skewed clocks still go out in order.
   */
  app.get('/api/v1/tail', { exposeHeadRoute: false }, async (req, reply) => {
    const q = req.query as Query;
    const query = requestQuery(q, 'log');
    const delayMs = int(q.delay_ms, 'delay_ms', 2000);
    if (delayMs < 0 || delayMs > 30_000) throw new TributaryError('E_QUERY_INVALID', 'delay_ms must be 0-30000', { field: 'delay_ms' });
    const now = nowNs();
    const from = now - parseDuration(q.since ?? '5m', 'since');
    const limit = Math.min(MAX_LIMIT, Math.max(1, int(q.limit, 'limit', 100)));
    if (tails >= MAX_TAILS) throw new TributaryError('E_OVERLOADED', `${MAX_TAILS} live tails are open: try again later`, { tails });
    tails++;
    let stop = () => {};
    const sse = stream(reply, () => {
      tails--;
      stop();
    });
    stop = startTail(
      deps.engine,
      { ...query, direction: 'forward', limit },
      { from, delay: BigInt(delayMs) * 1_000_000n, limit },
      { send: (entries) => sse.send('entries', entries.map(entryJson)), error: (err) => sse.send('error', publicError(err)), backlog: sse.backlog },
    );
  });

  app.get('/api/v1/labels', async (req) => {
    const q = req.query as Query;
    const range = q.from !== undefined || q.to !== undefined || q.since !== undefined ? timeRange(q) : undefined;
    const others = await deps.labelValues(LABEL_NAMES_QUERY, range?.from, range?.to);
    return { status: 'success', data: [...new Set(['level', 'region', 'server', 'service', ...others])].sort() };
  });

  app.get<{ Params: { name: string } }>('/api/v1/label/:name/values', async (req) => {
    const name = req.params.name;
    if (name === 'level') return { status: 'success', data: [...LEVEL_NAMES] };
    if (!isLabelName(name)) {
      throw new TributaryError('E_QUERY_INVALID', `${JSON.stringify(name)} is not a label name ([a-zA-Z_][a-zA-Z0-9_]*, not starting with __)`, {
        field: 'name',
      });
    }
    const q = req.query as Query;
    const range = q.from !== undefined || q.to !== undefined || q.since !== undefined ? timeRange(q) : undefined;
    return { status: 'success', data: await deps.labelValues(name, range?.from, range?.to) };
  });

  await registerLokiApi(app, { ...deps, log: options.log });
  return app;
}
