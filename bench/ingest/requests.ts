// The realistic fleet's NDJSON file, read back into entries and shaped as
// each door's clients send them: NDJSON bodies, Loki push JSON, OTLP
// protobuf, gRPC entries and batch frames, syslog lines. Built before a
// client's clock starts, so the figure is the daemon's, not the client's.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import type { LogEntry } from '../../src/model/entry.js';
import type { Level } from '../../src/model/level.js';

const LEVELS = ['DEBUG', 'INFO', 'WARN', 'ERROR'] as const;
const LEVEL_OF: Record<string, Level> = { DEBUG: 0, INFO: 1, WARN: 2, ERROR: 3 };

/** The file's lines, in order. */
export function fileLines(path: string): string[] {
  const lines = readFileSync(path, 'utf8').split('\n');
  if (lines.at(-1) === '') lines.pop();
  return lines;
}

/** One line of the realistic fleet (bench/lib/realistic.ts): ts is an exact integer of nanoseconds, read from its digits. */
export function entryOfLine(line: string): LogEntry {
  const o = JSON.parse(line) as { service: string; server: string; region: string; level: string; msg: string };
  return { ts: BigInt(/"ts":(\d+)/.exec(line)![1]!), service: o.service, server: o.server, region: o.region, level: LEVEL_OF[o.level]!, message: o.msg };
}

/** A Loki push body: entries grouped by stream {service_name, host, region, level}, as Alloy's loki.write batches them. */
export function lokiPushBody(es: readonly LogEntry[]): string {
  const streams = new Map<string, { stream: Record<string, string>; values: [string, string][] }>();
  for (const e of es) {
    const key = `${e.service}\n${e.server}\n${e.level}`;
    let s = streams.get(key);
    if (!s) streams.set(key, (s = { stream: { service_name: e.service, host: e.server, region: e.region, level: LEVELS[e.level].toLowerCase() }, values: [] }));
    s.values.push([e.ts.toString(), e.message]);
  }
  return JSON.stringify({ streams: [...streams.values()] });
}

const otlp = protobuf.loadSync(fileURLToPath(new URL('../../../proto/otlp/logs.proto', import.meta.url)));
const ExportRequest = otlp.lookupType('otlp.logs.ExportLogsServiceRequest');
const stringAttr = (key: string, value: string) => ({ key, value: { stringValue: value } });

/** An OTLP/HTTP protobuf body as an OpenTelemetry SDK's batch exporter sends it: one resource per (service, host). */
export function otlpBody(es: readonly LogEntry[]): Uint8Array {
  const resources = new Map<string, { resource: object; scopeLogs: [{ logRecords: object[] }] }>();
  for (const e of es) {
    const key = `${e.service}\n${e.server}`;
    let r = resources.get(key);
    if (!r)
      resources.set(
        key,
        (r = {
          resource: { attributes: [stringAttr('service.name', e.service), stringAttr('host.name', e.server), stringAttr('cloud.region', e.region)] },
          scopeLogs: [{ logRecords: [] }],
        }),
      );
    r.scopeLogs[0].logRecords.push({ timeUnixNano: e.ts.toString(), severityText: LEVELS[e.level], body: { stringValue: e.message } });
  }
  return ExportRequest.encode(ExportRequest.fromObject({ resourceLogs: [...resources.values()] })).finish();
}

/** The entry as the gRPC Push request's message. */
export function grpcEntry(e: LogEntry): object {
  return { ts: e.ts.toString(), level: LEVELS[e.level], service: e.service, server: e.server, region: e.region, message: e.message };
}

// Syslog severities: ERROR is err (3), WARN warning (4), INFO informational (6), DEBUG debug (7); facility user (1).
const SEVERITY = [7, 6, 4, 3];

/** The entry as an RFC 5424 line, newline-framed, as rsyslog's omfwd sends it with the RFC 5424 template. */
export function syslogLine(e: LogEntry): string {
  const ms = e.ts / 1_000_000n;
  const micros = String((e.ts / 1000n) % 1000n).padStart(3, '0');
  const stamp = new Date(Number(ms)).toISOString().replace('Z', `${micros}Z`);
  return `<${8 + SEVERITY[e.level]!}>1 ${stamp} ${e.server} ${e.service} - - - ${e.message}\n`;
}
