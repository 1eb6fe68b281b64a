import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { publicError } from '../errors.js';
import type { Ingestor, IngestReport } from '../ingest/ingestor.js';
import type { IngestFormat } from '../ingest/parse-task.js';
import type { SourceAccount } from '../ingest/source-ledger.js';
import { int, statusOf, type Query } from './common.js';
import { handleOtlpPush } from './otlp.js';

export interface IngestHttpOptions {
  /** Largest request body (default 16 MiB): larger is a 413 before any of it is parsed. */
  readonly bodyLimit?: number;
}

export interface IngestApiDeps {
  readonly ingestor: Ingestor;
  /** Loss accounting per numbered source (GET /api/v1/sources). */
  sources(prefix: string, limit: number): Promise<SourcesView>;
}

export interface SourcesView {
  readonly sources: SourceAccount[];
  /** Shards that did not answer (restarting): their sources' stored counts are missing from this view. */
  readonly unanswered: string[];
  /** The prefix of the sources the daemon numbers itself (entries of the un-numbered doors). */
  readonly daemonSource: string;
  /** Per door: requests, accepted, duplicates, refused by reason, overloaded, failed. */
  readonly doors: ReturnType<Ingestor['stats']>;
  /** Sources the door's ledger forgot to stay within its bound. */
  readonly evicted: number;
}

function encodingOf(req: FastifyRequest): 'gzip' | undefined | false {
  const e = (req.headers['content-encoding'] ?? '').toLowerCase().trim();
  if (e === '' || e === 'identity') return undefined;
  if (e === 'gzip' || e === 'x-gzip') return 'gzip';
  return false;
}

/** The status for an error while storing: overload is a 429 with Retry-After, so clients back off. */
function sendError(reply: FastifyReply, err: unknown, loki: boolean): FastifyReply {
  const status = statusOf(err);
  if (status === 429 || status === 503) void reply.header('retry-after', '1');
  const error = publicError(err);
  return reply.status(status).send(loki ? { code: status, status: 'error', message: error.message } : { status: 'error', error });
}

/** 200 with the report when every entry was stored; 400 naming each refused entry when some were (the rest are stored). */
function reportStatus(report: IngestReport): number {
  return Object.keys(report.rejected).length > 0 ? 400 : 200;
}

/**
 * The push doors over HTTP. Bodies arrive as raw bytes (no JSON parse on
 * the main thread) and go to the parse threads; every answer comes after
 * the entries are durable.
 * - `POST /api/v1/ingest`: NDJSON, one entry per line (ts, service, server,
 *   region, level, msg; pino's field names too).
 * - `POST /loki/api/v1/push`: Loki's push API, JSON or snappy protobuf.
 * - `POST /v1/logs` (and Loki's `/otlp/v1/logs`): OTLP/HTTP logs, JSON or protobuf.
 */
export async function registerIngestApi(app: FastifyInstance, deps: IngestApiDeps, options: IngestHttpOptions = {}): Promise<void> {
  const { ingestor } = deps;
  const bodyLimit = options.bodyLimit ?? 16 * 1024 * 1024;
  await app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit }, (_req, body, done) => done(null, body));

    const push = async (req: FastifyRequest, reply: FastifyReply, door: string, format: IngestFormat, loki: boolean) => {
      const encoding = encodingOf(req);
      if (encoding === false) {
        return reply.status(415).send({ status: 'error', message: `unsupported content-encoding ${req.headers['content-encoding']}: gzip or none` });
      }
      const body = (req.body as Buffer | undefined) ?? Buffer.alloc(0);
      let report: IngestReport;
      try {
        report = await ingestor.push(door, format, body, { encoding });
      } catch (err) {
        return sendError(reply, err, loki);
      }
      const status = reportStatus(report);
      if (loki) {
        // Loki answers 204 with no body; a refused entry is a 400 with a message naming it.
        if (status === 200) return reply.status(204).send();
        const first = report.errors[0];
        return reply.status(400).send({
          code: 400,
          status: 'error',
          message: `${Object.values(report.rejected).reduce((a, b) => a + (b ?? 0), 0)} entries refused, ${report.accepted} stored; first: ${first?.message ?? ''}`,
          ...report,
        });
      }
      return reply.status(status).send({ status: status === 200 ? 'success' : 'partial', ...report });
    };

    scope.post('/api/v1/ingest', (req, reply) => push(req, reply, 'http-ndjson', 'ndjson', false));
    // OTLP's own path, and Loki's for it (an OTel Collector's otlphttp exporter pointed at Loki uses /otlp).
    for (const path of ['/v1/logs', '/otlp/v1/logs'])
      scope.post(path, (req, reply) => {
        const encoding = encodingOf(req);
        if (encoding === false)
          return reply.status(415).send({ code: 3, message: `unsupported content-encoding ${req.headers['content-encoding']}: gzip or none` });
        return handleOtlpPush(ingestor, req, reply, encoding);
      });
    scope.get('/api/v1/ingest/stats', async () => ({ status: 'success', data: ingestor.stats() }));
    scope.get('/api/v1/sources', async (req) => {
      const q = req.query as Query;
      const limit = Math.min(100_000, Math.max(1, int(q.limit, 'limit', 1000)));
      return { status: 'success', data: await deps.sources(q.prefix ?? '', limit) };
    });
    scope.post('/loki/api/v1/push', (req, reply) => {
      const type = (req.headers['content-type'] ?? '').toLowerCase();
      const proto = type.startsWith('application/x-protobuf') || type.startsWith('application/protobuf');
      return push(req, reply, proto ? 'loki-protobuf' : 'loki-json', proto ? 'loki-protobuf' : 'loki-json', true);
    });
  });
}
