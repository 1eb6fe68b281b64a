import { table } from './format.js';
import { followSse, getJson, type DaemonTarget } from './http-client.js';
import { entryTable, type EntryJson } from './query.js';

export interface TailCommandOptions extends DaemonTarget {
  readonly since: string;
  /** The reorder window: entries are printed once this old, so late arrivals from skewed clocks still come out in order. */
  readonly delay: number;
  readonly output: 'table' | 'ndjson';
  readonly color: boolean;
}

type Out = (s: string) => void;
const stdout: Out = (s) => void process.stdout.write(s);

/** Resolves when the process is asked to stop (Ctrl-C), or when `signal` aborts. */
function untilInterrupted(controller: AbortController): void {
  const stop = () => controller.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  controller.signal.addEventListener('abort', () => {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  });
}

/** `tributary tail`: new entries as they are stored, in timestamp order behind the reorder window, until Ctrl-C. */
export async function tailCommand(query: string, o: TailCommandOptions, controller = new AbortController(), out: Out = stdout): Promise<void> {
  untilInterrupted(controller);
  const widths = [4, 5, 7, 6, 6];
  let header = true;
  await followSse(
    o,
    '/api/v1/tail',
    { query, since: o.since, delay_ms: String(o.delay) },
    (event, data) => {
      if (event === 'error') {
        process.stderr.write(`tail: ${(JSON.parse(data) as { message: string }).message}\n`);
        return;
      }
      if (event !== 'entries') return;
      const entries = JSON.parse(data) as EntryJson[];
      if (o.output === 'ndjson') for (const e of entries) out(JSON.stringify(e) + '\n');
      else out(entryTable(entries, o.color, widths, header));
      header = false;
    },
    controller.signal,
  );
}

interface AnomalyEventJson {
  type: 'flag' | 'clear';
  service: string;
  at: number;
  errors: number;
  window: number;
  threshold: number;
}

const describe = (e: AnomalyEventJson) =>
  `${new Date(e.at).toISOString()}  ${e.type === 'flag' ? 'FLAG ' : 'clear'}  ${e.service}  ${e.errors} ERROR in the last ${e.window} (threshold ${e.threshold})\n`;

/** `tributary anomalies`: the services flagged now and the recent events; with --follow, new events as they happen. */
export async function anomaliesCommand(
  o: DaemonTarget & { follow: boolean; json: boolean; limit: number },
  controller = new AbortController(),
  out: Out = stdout,
): Promise<void> {
  const data = await getJson<{ current: AnomalyEventJson[]; history: AnomalyEventJson[] }>(o, '/api/v1/anomalies', { limit: String(o.limit) });
  if (o.json && !o.follow) {
    out(JSON.stringify(data) + '\n');
    return;
  }
  if (!o.json) {
    out(data.current.length === 0 ? 'flagged now: none\n' : `flagged now: ${data.current.map((e) => e.service).join(', ')}\n`);
    if (data.history.length > 0) out('recent events:\n');
    for (const e of data.history) out(describe(e));
  }
  if (!o.follow) return;
  untilInterrupted(controller);
  const flaggedAtStart = new Map(data.current.map((e) => [e.service, e.at]));
  await followSse(
    o,
    '/api/v1/anomalies/stream',
    {},
    (event, text) => {
      if (event !== 'flag' && event !== 'clear') return;
      const e = JSON.parse(text) as AnomalyEventJson;
      if (event === 'flag' && flaggedAtStart.get(e.service) === e.at) return; // the stream opens with the flags of now: already shown
      out(o.json ? text + '\n' : describe(e));
    },
    controller.signal,
  );
}

interface StatusJson {
  version: string;
  at: number;
  startedAt: number;
  actors: { name: string; role: string; status: string; restarts: number; mailboxDepth: number; framesHandled: number; thread: number }[];
  shards: { name: string; answered: boolean; entries: number; blocks: number; blockBytes: number; walBytes: number; diskFull: boolean }[];
  doors: Record<string, { requests: number; accepted: number; duplicates: number; overloaded: number; failed: number }>;
  flagged: string[] | null;
  recovery: { previousRun: boolean; cleanStop: boolean; replayedEntries: number };
}

const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;

/** `tributary status`: actors, restarts, shard sizes and ingest rates (two samples `intervalMs` apart). */
export async function statusCommand(o: DaemonTarget & { json: boolean; intervalMs: number }, out: Out = stdout): Promise<void> {
  const first = await getJson<StatusJson>(o, '/api/v1/status');
  await new Promise((r) => setTimeout(r, o.intervalMs));
  const s = await getJson<StatusJson>(o, '/api/v1/status');
  const seconds = (s.at - first.at) / 1000;
  const rate = (door: string) => Math.round(((s.doors[door]?.accepted ?? 0) - (first.doors[door]?.accepted ?? 0)) / seconds);
  const stored = (name: string) => first.shards.find((x) => x.name === name)?.entries ?? 0;
  if (o.json) {
    out(JSON.stringify({ ...s, rates: Object.fromEntries(Object.keys(s.doors).map((d) => [d, rate(d)])) }) + '\n');
    return;
  }
  const up = Math.round((s.at - s.startedAt) / 1000);
  out(
    `tributary ${s.version}, up ${up} s; last start: ${s.recovery.previousRun ? (s.recovery.cleanStop ? 'after a clean stop' : `after an unclean stop, ${s.recovery.replayedEntries} entries replayed from the WAL`) : 'new data directory'}\n\n`,
  );
  out(
    table([
      ['SHARD', 'ENTRIES', 'ENTRIES/S', 'BLOCKS', 'BLOCK BYTES', 'WAL BYTES', 'DISK'],
      ...s.shards.map((x) => [
        x.name,
        x.entries,
        Math.round((x.entries - stored(x.name)) / seconds),
        x.blocks,
        mib(x.blockBytes),
        mib(x.walBytes),
        !x.answered ? 'no answer' : x.diskFull ? 'FULL' : 'ok',
      ]),
    ]),
  );
  out('\n');
  out(
    table([
      ['ACTOR', 'ROLE', 'THREAD', 'STATUS', 'RESTARTS', 'MAILBOX', 'FRAMES'],
      ...s.actors.map((a) => [a.name, a.role, a.thread, a.status, a.restarts, a.mailboxDepth, a.framesHandled]),
    ]),
  );
  out('\n');
  out(
    table([
      ['DOOR', 'REQUESTS', 'ACCEPTED', 'ACCEPTED/S', 'DUPLICATES', 'OVERLOADED', 'FAILED'],
      ...Object.entries(s.doors).map(([d, c]) => [d, c.requests, c.accepted, rate(d), c.duplicates, c.overloaded, c.failed]),
    ]),
  );
  out(`\nflagged: ${s.flagged === null ? 'detection off' : s.flagged.length === 0 ? 'none' : s.flagged.join(', ')}\n`);
}
