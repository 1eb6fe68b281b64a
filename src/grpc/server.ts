import { Server, ServerCredentials, type ServiceClientConstructor, type ServerWritableStream, type sendUnaryData } from '@grpc/grpc-js';
import { TributaryError } from '../errors.js';
import { grpcError } from './errors.js';
import { entryStrings } from '../model/entry-wire.js';
import { isLabelName } from '../model/labels.js';
import { LEVEL_NAMES } from '../model/level.js';
import type { QueryService } from '../query/engine.js';
import { labelAlias, parseLogQL } from '../query/logql.js';
import { MAX_LIMIT } from '../query/model.js';
import { parseDuration } from '../query/time.js';
import { loadTributaryPackage } from './proto.js';
import { authInterceptor } from './auth.js';
import type { TokenSet } from '../security/tokens.js';
import type { TlsMaterial } from '../security/tls.js';

export interface GrpcDeps {
  readonly engine: QueryService;
  labelValues(name: string, from?: bigint, to?: bigint): Promise<string[]>;
}

/** Entries per streamed message: small enough to start arriving at once, large enough to amortise framing. */
const CHUNK = 1000;

interface RangeFields {
  from: string;
  to: string;
  since?: string;
}

/** [from, to) of a request: 0 means unset; unset to is now, unset from is to - since (default 1h). */
function range(r: RangeFields): { from: bigint; to: bigint } {
  const to = r.to !== '0' ? BigInt(r.to) : BigInt(Date.now()) * 1_000_000n;
  const from = r.from !== '0' ? BigInt(r.from) : to - parseDuration(r.since || '1h', 'since');
  return { from, to };
}

interface QueryRequest extends RangeFields {
  query: string;
  limit: number;
  direction: 'BACKWARD' | 'FORWARD';
  cursor: string;
  timeout_ms: number;
}

interface MetricRequest extends RangeFields {
  query: string;
  timeout_ms: number;
}

export interface GrpcServerOptions {
  /** When tokens are configured, every call needs one (see authInterceptor). */
  readonly tokens?: TokenSet;
}

/**
 * The gRPC query service (proto/tributary/v1/tributary.proto): Query streams
 * entries in timestamp order, in chunks; Metric and LabelValues are unary.
 * Same engine, same LogQL, same errors as the HTTP APIs: a bad query is
 * INVALID_ARGUMENT with the parse position, never INTERNAL.
 */
export function createGrpcServer(deps: GrpcDeps, options: GrpcServerOptions = {}): Server {
  const pkg = loadTributaryPackage();
  const server = new Server({
    'grpc.max_send_message_length': 64 * 1024 * 1024,
    ...(options.tokens?.enabled ? { interceptors: [authInterceptor(options.tokens)] } : {}),
  });
  server.addService((pkg.Query as ServiceClientConstructor).service, {
    Query: async (call: ServerWritableStream<QueryRequest, unknown>) => {
      try {
        const r = call.request;
        const compiled = parseLogQL(r.query);
        if (compiled.type !== 'log') throw new TributaryError('E_QUERY_INVALID', 'a metric query goes to Metric', { field: 'query' });
        const { from, to } = range(r);
        const result = await deps.engine.query(
          {
            ...compiled.query,
            from,
            to,
            direction: r.direction === 'FORWARD' ? 'forward' : 'backward',
            limit: r.limit === 0 ? 1000 : Math.min(r.limit, MAX_LIMIT),
            cursor: r.cursor || undefined,
          },
          { timeoutMs: r.timeout_ms || 5000 },
        );
        for (let i = 0; i < result.entries.length || i === 0; i += CHUNK) {
          if (call.cancelled) return;
          const last = i + CHUNK >= result.entries.length;
          call.write({
            entries: result.entries.slice(i, i + CHUNK).map(entryStrings),
            next_cursor: last ? (result.nextCursor ?? '') : '',
            partial_reasons: last ? (result.partial?.reasons ?? []) : [],
          });
        }
        call.end();
      } catch (err) {
        // grpc-js ends a server stream with a status this way (destroy() would leave the client waiting).
        call.emit('error', grpcError(err));
      }
    },
    Metric: async (call: { request: MetricRequest }, callback: sendUnaryData<unknown>) => {
      try {
        const r = call.request;
        const compiled = parseLogQL(r.query);
        if (compiled.type !== 'metric') throw new TributaryError('E_QUERY_INVALID', 'a log query goes to Query', { field: 'query' });
        const { from, to } = range(r);
        const m = await deps.engine.metric(compiled.query, from, to, { timeoutMs: r.timeout_ms || 10_000 });
        callback(null, {
          from: m.from.toString(),
          step: m.step.toString(),
          series: m.series.map((s) => ({ labels: s.labels, counts: s.counts.map(String) })),
          partial_reasons: m.partial?.reasons ?? [],
        });
      } catch (err) {
        callback(grpcError(err));
      }
    },
    LabelValues: async (call: { request: { name: string; from: string; to: string } }, callback: sendUnaryData<unknown>) => {
      try {
        const label = labelAlias(call.request.name) ?? call.request.name;
        if (!isLabelName(label)) throw new TributaryError('E_QUERY_INVALID', `${JSON.stringify(call.request.name)} is not a label name`, { field: 'name' });
        if (label === 'level') return callback(null, { values: [...LEVEL_NAMES] });
        const { from, to } = range(call.request);
        callback(null, { values: await deps.labelValues(label, from, to) });
      } catch (err) {
        callback(grpcError(err));
      }
    },
  });
  return server;
}

/** Binds and starts; resolves with the bound port. */
export function listenGrpc(server: Server, host: string, port: number, tls?: TlsMaterial): Promise<number> {
  // With a CA, clients must present a certificate it signed (mutual TLS).
  const credentials = tls
    ? ServerCredentials.createSsl(tls.ca ?? null, [{ cert_chain: tls.cert, private_key: tls.key }], tls.ca !== undefined)
    : ServerCredentials.createInsecure();
  return new Promise((resolve, reject) => {
    server.bindAsync(`${host}:${port}`, credentials, (err, bound) => (err ? reject(err) : resolve(bound)));
  });
}

/** Stops taking calls and waits for those in flight (a few seconds at most, then cuts them). */
export function closeGrpc(server: Server, graceMs = 2000): Promise<void> {
  return new Promise((resolve) => {
    const force = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, graceMs);
    server.tryShutdown(() => {
      clearTimeout(force);
      resolve();
    });
  });
}
