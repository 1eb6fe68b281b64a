// A parse thread's task (a piscina worker module): one request body in,
// LogBatches per shard out. Stateless, so a crashed task only fails its own
// request, which the client retries; nothing acknowledged depends on it.
import { gunzipSync } from 'node:zlib';
import { Piscina } from 'piscina';
import { parseLokiJson, parseLokiProtobuf } from './formats/loki.js';
import { parseNdjson } from './formats/ndjson.js';
import { parsePlainLines } from './formats/plain.js';
import { parseOtlpJson, parseOtlpProtobuf } from './formats/otlp.js';
import { parseSyslog } from './formats/syslog.js';
import { parseTributaryPush } from './formats/tributary-push.js';
import { ShardSink, type ParseResult, type SinkOptions } from './sink.js';

export type IngestFormat = 'ndjson' | 'plain' | 'loki-json' | 'loki-protobuf' | 'otlp-json' | 'otlp-protobuf' | 'syslog' | 'tributary-push';

export interface ParseTask {
  readonly format: IngestFormat;
  readonly body: Uint8Array;
  /** The writer's ring members: entries are routed exactly as the writer would route them. */
  readonly shards: readonly string[];
  readonly limits?: SinkOptions;
  /** Content-Encoding of the body: gzip is inflated here, on the parse thread, up to `maxInflatedBytes`. */
  readonly encoding?: 'gzip';
  /** Largest body after inflating (default 64 MiB): a small gzip body cannot grow without bound. */
  readonly maxInflatedBytes?: number;
  /** Number of the body's first line within its file (bulk import reports lines by their place in the file). */
  readonly firstLine?: number;
  /** The sender's address: the server of a syslog message that names no host. */
  readonly peer?: string;
}

export function parseBody(task: ParseTask): ParseResult {
  let body = task.body;
  if (task.encoding === 'gzip') {
    try {
      body = gunzipSync(body, { maxOutputLength: task.maxInflatedBytes ?? 64 * 1024 * 1024 });
    } catch (err) {
      const sink = new ShardSink(task.shards, task.limits, 0);
      const tooBig = (err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE';
      sink.reject(0, 'malformed_body', tooBig ? 'gzip body inflates past the size limit' : `body is not gzip: ${(err as Error).message}`);
      return sink.finish();
    }
  }
  const sink = new ShardSink(task.shards, task.limits, body.byteLength);
  switch (task.format) {
    case 'ndjson':
      parseNdjson(sink, body, task.firstLine);
      break;
    case 'plain':
      parsePlainLines(sink, body, task.firstLine);
      break;
    case 'loki-json':
      parseLokiJson(sink, body);
      break;
    case 'loki-protobuf':
      parseLokiProtobuf(sink, body);
      break;
    case 'otlp-json':
      parseOtlpJson(sink, body);
      break;
    case 'otlp-protobuf':
      parseOtlpProtobuf(sink, body);
      break;
    case 'syslog':
      parseSyslog(sink, body, task.peer);
      break;
    case 'tributary-push':
      parseTributaryPush(sink, body);
      break;
  }
  return sink.finish();
}

/**
 * The pool's entry point: the batches' buffers are moved to the main thread
 * (transferred), not structured-cloned: each was cut to its exact size for
 * that (sink.ts), so nothing else shares them.
 */
export default function parseTask(task: ParseTask): unknown {
  const result = parseBody(task);
  const buffers: ArrayBuffer[] = [];
  for (const b of result.batches) buffers.push(b.bytes.buffer as ArrayBuffer, b.prints.buffer as ArrayBuffer);
  const movable = { [Piscina.transferableSymbol]: buffers, [Piscina.valueSymbol]: result };
  return Piscina.move(movable as unknown as Parameters<typeof Piscina.move>[0]);
}
