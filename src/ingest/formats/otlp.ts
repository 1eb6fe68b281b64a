import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { Level, tryParseLevel } from '../../model/level.js';
import type { PairsCheck, ShardSink } from '../sink.js';
import { parseJsonBody } from './fields.js';
import { detectLevel, streamFromLabels, type StreamLabels } from './labels.js';

const LOGS_PROTO = fileURLToPath(new URL('../../../../proto/otlp/logs.proto', import.meta.url));
let root: protobuf.Root | undefined;
/** The OTLP logs messages (loaded once per thread). */
export function otlpType(name: 'ExportLogsServiceRequest' | 'ExportLogsServiceResponse' | 'Status'): protobuf.Type {
  root ??= protobuf.loadSync(LOGS_PROTO);
  return root.lookupType(`otlp.logs.${name}`);
}

// The OTLP shapes, as protobufjs decodes them and as OTLP/JSON spells them
// (lowerCamelCase; the protobuf JSON mapping also allows the proto names).
type Obj = Record<string, unknown>;
interface AnyValue {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: unknown;
  doubleValue?: number;
  arrayValue?: { values?: AnyValue[] };
  kvlistValue?: { values?: KeyValue[] };
  bytesValue?: Uint8Array | string;
}
interface KeyValue {
  key?: string;
  value?: AnyValue;
}

function field(o: unknown, camel: string, snake: string): unknown {
  if (typeof o !== 'object' || o === null) return undefined;
  const r = o as Obj;
  return r[camel] ?? r[snake];
}

function list(o: unknown, camel: string, snake: string): unknown[] {
  const v = field(o, camel, snake);
  return Array.isArray(v) ? v : [];
}

/** A scalar AnyValue as text (strings as they are, numbers and booleans printed, bytes in base64); undefined for arrays and maps. */
function scalarText(v: unknown): string | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const a = v as Obj;
  const s = a.stringValue ?? a.string_value;
  if (typeof s === 'string') return s;
  const b = a.boolValue ?? a.bool_value;
  if (typeof b === 'boolean') return String(b);
  const i = a.intValue ?? a.int_value;
  if (typeof i === 'string' || typeof i === 'number') return String(i);
  const d = a.doubleValue ?? a.double_value;
  if (typeof d === 'number') return String(d);
  const bytes = a.bytesValue ?? a.bytes_value;
  if (bytes instanceof Uint8Array) return Buffer.from(bytes).toString('base64');
  if (typeof bytes === 'string') return bytes;
  return undefined;
}

/** Nesting kept in a message; deeper values are cut (a hostile body must not exhaust the stack). */
const MAX_DEPTH = 16;

/** An AnyValue as a plain JSON value: arrays and maps (up to MAX_DEPTH deep) and scalars as text. */
function valuePlain(v: unknown, depth = 0): unknown {
  if (depth > MAX_DEPTH) return '...';
  const arr = field(v, 'arrayValue', 'array_value');
  if (arr !== undefined) return list(arr, 'values', 'values').map((x) => valuePlain(x, depth + 1));
  const kv = field(v, 'kvlistValue', 'kvlist_value');
  if (kv !== undefined)
    return Object.fromEntries(list(kv, 'values', 'values').map((p) => [String((p as KeyValue).key ?? ''), valuePlain((p as KeyValue).value, depth + 1)]));
  return scalarText(v);
}

/** An AnyValue as text: a scalar printed, an array or map as JSON; undefined for an empty value. */
function valueText(v: unknown): string | undefined {
  const scalar = scalarText(v);
  if (scalar !== undefined) return scalar;
  const plain = valuePlain(v);
  return plain === undefined ? undefined : JSON.stringify(plain);
}

function attributes(o: unknown): Map<string, string> {
  const out = new Map<string, string>();
  for (const kv of list(o, 'attributes', 'attributes')) {
    const key = (kv as KeyValue).key;
    const text = valueText((kv as KeyValue).value);
    if (typeof key === 'string' && text !== undefined) out.set(key, text);
  }
  return out;
}

/** OTLP severity numbers: 1-4 TRACE, 5-8 DEBUG, 9-12 INFO, 13-16 WARN, 17-20 ERROR, 21-24 FATAL. */
function levelFromSeverityNumber(n: number): Level | undefined {
  if (!Number.isInteger(n) || n < 1 || n > 24) return undefined;
  if (n <= 8) return Level.DEBUG;
  if (n <= 12) return Level.INFO;
  if (n <= 16) return Level.WARN;
  return Level.ERROR;
}

/** A fixed64 as protobufjs (Long) or OTLP/JSON (decimal string or number) gives it; 0n when absent. */
function nanos(v: unknown): bigint | undefined {
  if (v === undefined || v === null || v === '') return 0n;
  if (typeof v === 'number') return Number.isSafeInteger(v) && v >= 0 ? BigInt(v) : undefined;
  const text = typeof v === 'string' ? v : typeof v === 'object' ? String(v) : '';
  return /^\d{1,20}$/.test(text) ? BigInt(text) : undefined;
}

function hex(v: unknown): string | undefined {
  if (v instanceof Uint8Array) return v.byteLength > 0 ? Buffer.from(v).toString('hex') : undefined;
  return typeof v === 'string' && v.length > 0 ? v : undefined;
}

/**
 * Resource attributes that become stream labels, as Loki 3 maps them by
 * default (its `default_resource_attributes_as_index_labels`), names
 * sanitized (`k8s.pod.name` -> `k8s_pod_name`). Every other resource
 * attribute, every log record attribute, the scope's name and version and
 * the trace context become the entry's structured metadata, as in Loki.
 */
const RESOURCE_LABELS: ReadonlySet<string> = new Set([
  'cloud.availability_zone',
  'cloud.region',
  'container.name',
  'deployment.environment',
  'k8s.cluster.name',
  'k8s.container.name',
  'k8s.cronjob.name',
  'k8s.daemonset.name',
  'k8s.deployment.name',
  'k8s.job.name',
  'k8s.namespace.name',
  'k8s.pod.name',
  'k8s.replicaset.name',
  'k8s.statefulset.name',
  'service.instance.id',
  'service.name',
  'service.namespace',
]);

/** A resource's stream: its mapping onto service/server/region, its labels (encoded) and the rest of its attributes for metadata. */
interface ResourceStream {
  readonly stream: StreamLabels;
  readonly labels: PairsCheck;
  readonly metadata: [string, string][];
}

function resourceStream(sink: ShardSink, resource: Map<string, string>): ResourceStream {
  const labels: [string, string][] = [];
  const metadata: [string, string][] = [];
  for (const [k, v] of resource) (RESOURCE_LABELS.has(k) ? labels : metadata).push([k, v]);
  return { stream: streamFromLabels(resource), labels: sink.checkPairs('labels', labels), metadata };
}

/** Walks an ExportLogsServiceRequest (decoded or JSON) into the sink. */
function addRequest(sink: ShardSink, req: unknown): void {
  const now = BigInt(Date.now()) * 1_000_000n;
  let n = 0;
  for (const rl of list(req, 'resourceLogs', 'resource_logs')) {
    const resource = attributes(field(rl, 'resource', 'resource'));
    const rs = resourceStream(sink, resource);
    for (const sl of list(rl, 'scopeLogs', 'scope_logs')) {
      const scope = field(sl, 'scope', 'scope');
      const scopeMeta: [string, string][] = [];
      const scopeName = field(scope, 'name', 'name');
      const scopeVersion = field(scope, 'version', 'version');
      if (typeof scopeName === 'string' && scopeName !== '') scopeMeta.push(['scope_name', scopeName]);
      if (typeof scopeVersion === 'string' && scopeVersion !== '') scopeMeta.push(['scope_version', scopeVersion]);
      for (const [k, v] of attributes(scope)) scopeMeta.push([k, v]);
      for (const record of list(sl, 'logRecords', 'log_records')) {
        n++;
        if (typeof rs.labels !== 'string') {
          sink.reject(n, rs.labels.reason, `log record ${n}: ${rs.labels.message}`);
          continue;
        }
        const recordAttrs = attributes(record);
        let stream: StreamLabels = rs.stream;
        if (recordAttrs.size > 0) stream = streamFromLabels(new Map([...resource, ...recordAttrs]));
        const time = nanos(field(record, 'timeUnixNano', 'time_unix_nano'));
        const observed = nanos(field(record, 'observedTimeUnixNano', 'observed_time_unix_nano'));
        if (time === undefined || observed === undefined) {
          sink.reject(n, 'invalid_timestamp', `log record ${n}: timeUnixNano is not nanoseconds since the epoch`);
          continue;
        }
        const message = valueText(field(record, 'body', 'body')) ?? '';
        const sevNumber = Number(field(record, 'severityNumber', 'severity_number') ?? 0);
        const sevText = field(record, 'severityText', 'severity_text');
        let level: Level | undefined;
        if (sevNumber > 0) level = levelFromSeverityNumber(sevNumber);
        else if (typeof sevText === 'string' && sevText.length > 0) level = tryParseLevel(sevText);
        else level = stream.level ?? detectLevel(message);
        if (level === undefined) {
          sink.reject(n, 'unknown_level', `log record ${n}: severity ${JSON.stringify(sevNumber > 0 ? sevNumber : sevText)} is not one Tributary knows`);
          continue;
        }
        const metaPairs: [string, string][] = [...rs.metadata, ...scopeMeta, ...recordAttrs];
        const trace = hex(field(record, 'traceId', 'trace_id'));
        const span = hex(field(record, 'spanId', 'span_id'));
        if (trace) metaPairs.push(['trace_id', trace]);
        if (span) metaPairs.push(['span_id', span]);
        const meta = metaPairs.length === 0 ? '' : sink.checkPairs('metadata', metaPairs);
        if (typeof meta !== 'string') {
          sink.reject(n, meta.reason, `log record ${n}: ${meta.message}`);
          continue;
        }
        sink.add(n, time > 0n ? time : observed > 0n ? observed : now, level, stream.service, stream.server, stream.region, message, rs.labels, meta);
      }
    }
  }
}

/** OTLP/HTTP JSON: `{"resourceLogs":[{"resource":{...},"scopeLogs":[{"logRecords":[...]}]}]}`. */
export function parseOtlpJson(sink: ShardSink, body: Uint8Array): void {
  const doc = parseJsonBody(sink, body);
  if (doc === undefined) return;
  if (typeof doc !== 'object' || doc === null || !Array.isArray(field(doc, 'resourceLogs', 'resource_logs'))) {
    sink.reject(0, 'malformed_body', 'body is not an ExportLogsServiceRequest: no "resourceLogs" array');
    return;
  }
  addRequest(sink, doc);
}

/** OTLP/HTTP protobuf: an ExportLogsServiceRequest. */
export function parseOtlpProtobuf(sink: ShardSink, body: Uint8Array): void {
  let req: unknown;
  try {
    const type = otlpType('ExportLogsServiceRequest');
    // As a plain object with only the fields set: a decoded message reads unset oneof members as their defaults.
    req = type.toObject(type.decode(body), { longs: String, defaults: false });
  } catch (err) {
    sink.reject(0, 'malformed_protobuf', `body is not an OTLP ExportLogsServiceRequest: ${(err as Error).message}`);
    return;
  }
  addRequest(sink, req);
}
