import test, { type ExecutionContext } from 'ava';
import { SeverityNumber } from '@opentelemetry/api-logs';
import { OTLPLogExporter as HttpJsonExporter } from '@opentelemetry/exporter-logs-otlp-http';
import { OTLPLogExporter as HttpProtoExporter } from '@opentelemetry/exporter-logs-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchLogRecordProcessor, LoggerProvider } from '@opentelemetry/sdk-logs';
import protobuf from 'protobufjs';
import { fileURLToPath } from 'node:url';
import type { Daemon } from '../../src/daemon/daemon.js';
import { post, startDaemon, storedEntries } from '../helpers/daemon.js';

const T0_MS = 1_763_758_800_000;
const proto = protobuf.loadSync(fileURLToPath(new URL('../../../proto/otlp/logs.proto', import.meta.url)));

/** Logs through the OpenTelemetry SDK's own exporter, as an instrumented service would, and flushes. */
async function emitThroughSdk(d: Daemon, exporter: 'json' | 'protobuf', service: string, path = '/v1/logs'): Promise<void> {
  const url = `${d.url}${path}`;
  const provider = new LoggerProvider({
    resource: resourceFromAttributes({ 'service.name': service, 'host.name': 'web-3', 'cloud.region': 'eu-west-1' }),
    processors: [new BatchLogRecordProcessor({ exporter: exporter === 'json' ? new HttpJsonExporter({ url }) : new HttpProtoExporter({ url }) })],
  });
  const logger = provider.getLogger('checkout-lib', '1.0.0');
  logger.emit({
    timestamp: T0_MS,
    severityNumber: SeverityNumber.ERROR,
    severityText: 'ERROR',
    body: 'payment failed',
    attributes: { 'http.status_code': 502 },
  });
  logger.emit({ timestamp: T0_MS + 1, severityNumber: SeverityNumber.WARN, body: 'retrying charge' });
  logger.emit({ timestamp: T0_MS + 2, severityNumber: SeverityNumber.DEBUG2, body: { cart: 'c-17', items: 3 } });
  logger.emit({ timestamp: T0_MS + 3, severityNumber: SeverityNumber.FATAL, body: 'giving up', attributes: { 'host.name': 'web-9' } });
  await provider.forceFlush();
  await provider.shutdown();
}

// OTLP's own path, and Loki's (an exporter pointed at Loki's /otlp).
for (const [exporter, path] of [
  ['json', '/v1/logs'],
  ['protobuf', '/v1/logs'],
  ['protobuf', '/otlp/v1/logs'],
] as const) {
  test(`the OpenTelemetry SDK's OTLP/HTTP ${exporter} exporter sends unchanged to ${path}, and every record is stored with its level, stream and attributes`, async (t) => {
    const d = await startDaemon(t);
    await emitThroughSdk(d, exporter, `checkout-${exporter}`, path);
    const got = await storedEntries(d, `{service="checkout-${exporter}"}`);
    t.deepEqual(
      got.map((e) => [e.ts, e.level, e.server, e.region, e.message]),
      [
        [`${T0_MS}000000`, 'ERROR', 'web-3', 'eu-west-1', 'payment failed'],
        [`${T0_MS + 1}000000`, 'WARN', 'web-3', 'eu-west-1', 'retrying charge'],
        [`${T0_MS + 2}000000`, 'DEBUG', 'web-3', 'eu-west-1', '{"cart":"c-17","items":"3"}'],
        // A record's own host.name attribute names its server.
        [`${T0_MS + 3}000000`, 'ERROR', 'web-9', 'eu-west-1', 'giving up'],
      ],
    );
    // Resource attributes Loki 3 indexes are stream labels (names sanitized); the rest, the scope and the record's attributes are metadata.
    t.deepEqual(got[0]!.labels, { cloud_region: 'eu-west-1', service_name: `checkout-${exporter}` });
    t.like(got[0]!.metadata, { host_name: 'web-3', http_status_code: '502', scope_name: 'checkout-lib', scope_version: '1.0.0' });
    t.is(got[1]!.metadata?.http_status_code, undefined);
    t.is((await storedEntries(d, `{service_name="checkout-${exporter}"} | http_status_code="502"`)).length, 1);
    t.like(d.ingestor.stats()[exporter === 'json' ? 'otlp-json' : 'otlp-protobuf'], { accepted: 4 });
  });
}

function record(timeUnixNano: string, extra: Record<string, unknown> = {}) {
  return { timeUnixNano, severityNumber: 9, body: { stringValue: `at ${timeUnixNano}` }, ...extra };
}

test('records OTLP cannot store are refused in a partial success naming them; the rest are stored', async (t) => {
  const d = await startDaemon(t);
  const body = {
    resourceLogs: [
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: 'api' } }] },
        scopeLogs: [
          {
            logRecords: [
              record(`${T0_MS}000000`),
              record('yesterday'),
              record(`${T0_MS}000002`, { severityNumber: 0, severityText: 'LOUD' }),
              record('12'),
              // no time at all: the observed time, as the specification says
              record('0', { observedTimeUnixNano: `${T0_MS}000004` }),
            ],
          },
        ],
      },
    ],
  };
  const res = await post(d, '/v1/logs', JSON.stringify(body), { 'content-type': 'application/json' });
  t.is(res.status, 200);
  const answer = (await res.json()) as { partialSuccess: { rejectedLogRecords: number; errorMessage: string } };
  t.is(answer.partialSuccess.rejectedLogRecords, 3);
  t.regex(answer.partialSuccess.errorMessage, /log record 2: timeUnixNano/);
  t.deepEqual(
    (await storedEntries(d, '{service="api"}')).map((e) => e.ts),
    [`${T0_MS}000000`, `${T0_MS}000004`],
  );
  t.deepEqual(d.ingestor.stats()['otlp-json']?.rejected, { invalid_timestamp: 1, unknown_level: 1, timestamp_out_of_range: 1 });
});

async function protobufStatus(res: Response): Promise<{ code: number; message: string }> {
  return proto.lookupType('otlp.logs.Status').decode(new Uint8Array(await res.arrayBuffer())) as unknown as { code: number; message: string };
}

test('a body that is not an OTLP request is a 400 with a Status in the request encoding', async (t) => {
  const d = await startDaemon(t);
  const garbage = await post(d, '/v1/logs', new Uint8Array([0x0a, 0xff, 0xff, 0xff, 0x0f, 1]), { 'content-type': 'application/x-protobuf' });
  t.is(garbage.status, 400);
  t.is(garbage.headers.get('content-type'), 'application/x-protobuf');
  const status = await protobufStatus(garbage);
  t.is(status.code, 3);
  t.regex(status.message, /not an OTLP ExportLogsServiceRequest/);

  const notJson = await post(d, '/v1/logs', '{"resourceLogs": [', { 'content-type': 'application/json' });
  t.is(notJson.status, 400);
  t.regex(((await notJson.json()) as { message: string }).message, /not JSON/);
  const wrongShape = await post(d, '/v1/logs', '{"logs": []}', { 'content-type': 'application/json' });
  t.is(wrongShape.status, 400);
});

test('a protobuf request with a partial failure gets a protobuf ExportLogsServiceResponse', async (t: ExecutionContext) => {
  const d = await startDaemon(t);
  const Req = proto.lookupType('otlp.logs.ExportLogsServiceRequest');
  const bytes = Req.encode(
    Req.fromObject({
      resourceLogs: [
        { scopeLogs: [{ logRecords: [{ timeUnixNano: `${T0_MS}000000`, severityText: 'warning', body: { stringValue: 'ok' } }, { timeUnixNano: '5' }] }] },
      ],
    }),
  ).finish();
  const res = await post(d, '/v1/logs', bytes, { 'content-type': 'application/x-protobuf' });
  t.is(res.status, 200);
  const answer = proto
    .lookupType('otlp.logs.ExportLogsServiceResponse')
    .toObject(proto.lookupType('otlp.logs.ExportLogsServiceResponse').decode(new Uint8Array(await res.arrayBuffer())), { longs: Number }) as {
    partialSuccess: { rejectedLogRecords: number };
  };
  t.is(answer.partialSuccess.rejectedLogRecords, 1);
  t.deepEqual(
    (await storedEntries(d, '{service="unknown_service"}')).map((e) => [e.level, e.message]),
    [['WARN', 'ok']],
  );
});
