import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Ingestor, IngestReport } from '../ingest/ingestor.js';
import { otlpType } from '../ingest/formats/otlp.js';
import { statusOf } from './common.js';

/** Rejections of the whole body (line 0): the request as such is bad, not some of its records. */
const WHOLE_BODY = new Set(['malformed_json', 'malformed_protobuf', 'malformed_body']);

function isProtobuf(req: FastifyRequest): boolean {
  const type = (req.headers['content-type'] ?? '').toLowerCase();
  return type.startsWith('application/x-protobuf') || type.startsWith('application/protobuf');
}

/** An OTLP answer in the request's own encoding, as the OTLP/HTTP specification asks. */
function send(reply: FastifyReply, proto: boolean, status: number, body: Record<string, unknown>, type: 'ExportLogsServiceResponse' | 'Status'): FastifyReply {
  if (!proto) return reply.status(status).header('content-type', 'application/json').send(body);
  const t = otlpType(type);
  return reply
    .status(status)
    .header('content-type', 'application/x-protobuf')
    .send(Buffer.from(t.encode(t.fromObject(body)).finish()));
}

/**
 * `POST /v1/logs`, OTLP/HTTP in JSON or protobuf (gzip or not). All
 * records stored: 200 with an empty response. Some refused: still 200,
 * with `partialSuccess` counting them and naming the first (the OTLP
 * answer for a partly accepted request; a client must not retry it). A
 * body that is not an OTLP request at all: 400 with a Status. Overload:
 * 429 or 503 with Retry-After, which OTLP clients retry with backoff.
 */
export async function handleOtlpPush(ingestor: Ingestor, req: FastifyRequest, reply: FastifyReply, encoding: 'gzip' | undefined): Promise<FastifyReply> {
  const proto = isProtobuf(req);
  const body = (req.body as Buffer | undefined) ?? Buffer.alloc(0);
  let report: IngestReport;
  try {
    report = await ingestor.push(proto ? 'otlp-protobuf' : 'otlp-json', proto ? 'otlp-protobuf' : 'otlp-json', body, { encoding });
  } catch (err) {
    const status = statusOf(err);
    if (status === 429 || status === 503) void reply.header('retry-after', '1');
    return send(reply, proto, status, { code: status === 429 ? 8 : status === 503 ? 14 : 13, message: (err as Error).message }, 'Status');
  }
  const refused = Object.values(report.rejected).reduce((a, b) => a + (b ?? 0), 0);
  if (refused === 0) return send(reply, proto, 200, {}, 'ExportLogsServiceResponse');
  const first = report.errors[0];
  if (report.accepted === 0 && first && first.line === 0 && WHOLE_BODY.has(first.reason)) {
    return send(reply, proto, 400, { code: 3, message: first.message }, 'Status'); // 3: INVALID_ARGUMENT
  }
  return send(
    reply,
    proto,
    200,
    {
      partialSuccess: {
        rejectedLogRecords: refused,
        errorMessage: `${refused} log records refused, ${report.accepted} stored; first: ${first?.message ?? ''}`,
      },
    },
    'ExportLogsServiceResponse',
  );
}
