import { Bench } from 'tinybench';
import { BatchBuilder } from '../../src/batch/builder.js';
import { BatchReader } from '../../src/batch/reader.js';
import { newSourceId } from '../../src/model/source.js';
import { si } from '../lib/report.js';
import { syntheticEntries } from '../../src/producers/synthetic.js';

export interface CodecResult {
  readonly task: string;
  readonly entriesPerSec: number;
  readonly mbPerSec: number;
  readonly vsJson: number;
}

const N = 1024;

/** Micro-benchmarks of the codec on one thread, against JSON (NDJSON) in the same run. */
export async function benchCodec(timeMs = 1500): Promise<CodecResult[]> {
  const entries = syntheticEntries(N);
  const sourceId = newSourceId();
  const target = new Uint8Array(new SharedArrayBuffer(N * 200 + 65536));
  const builder = new BatchBuilder(target, { sourceId, firstSeq: 0n, maxEntries: N });
  // A collector's batch is one stream: one service, server and region.
  const oneStream = entries.map((e) => ({ ...e, service: 'svc-1', server: 'srv-1', region: 'region-1' }));
  const encode = (from: typeof entries) => (): number => {
    builder.reset(target, { sourceId, firstSeq: 0n, maxEntries: N });
    for (let i = 0; i < N; i++) {
      const e = from[i]!;
      builder.add(e.ts, e.level, e.service, e.server, e.region, e.message);
    }
    return builder.finish();
  };
  const encodeOnce = encode(entries);
  const batch = target.slice(0, encodeOnce());
  const jsonEntries = entries.map((e) => ({ ...e, ts: e.ts.toString() }));
  const ndjson = jsonEntries.map((e) => JSON.stringify(e)).join('\n');
  const ndjsonBytes = Buffer.byteLength(ndjson);
  const lines = ndjson.split('\n');

  let sink = 0;
  const columns = (verify: boolean) => () => {
    const r = BatchReader.open(batch, { verify });
    const lv = r.levels();
    const ts = r.timestamps();
    const off = r.messageOffsets();
    r.serviceIds();
    r.serverIds();
    r.regionIds();
    r.messageBytes();
    let errors = 0;
    for (let i = 0; i < r.count; i++) if (lv[i] === 3) errors += off[i + 1]! - off[i]!;
    sink += errors + Number(ts[0]! & 1n);
  };
  const bench = new Bench({ time: timeMs, warmup: true });
  bench
    .add('encode: BatchBuilder, 530 labels/batch', () => {
      sink += encodeOnce();
    })
    .add('encode: BatchBuilder, one stream/batch', () => {
      sink += encode(oneStream)();
    })
    .add('encode: JSON.stringify NDJSON (baseline)', () => {
      let s = 0;
      for (let i = 0; i < N; i++) s += JSON.stringify(jsonEntries[i]).length;
      sink += s;
    })
    .add('decode columns, CRC verified', columns(true))
    .add('decode columns, unverified', columns(false))
    .add('decode to entry objects', () => {
      const r = BatchReader.open(batch);
      for (let i = 0; i < r.count; i++) sink += r.entry(i).message.length;
    })
    .add('decode: JSON.parse NDJSON (baseline)', () => {
      for (let i = 0; i < N; i++) sink += (JSON.parse(lines[i]!) as { level: number }).level;
    });
  await bench.run();
  if (sink === 42) console.log('');
  const rate = (name: string) => {
    const task = bench.getTask(name)!;
    const r = task.result;
    if (r.state !== 'completed') throw new Error(`${name}: ${r.state}`);
    return (N * 1000) / r.latency.mean;
  };
  const jsonEncode = rate('encode: JSON.stringify NDJSON (baseline)');
  const jsonDecode = rate('decode: JSON.parse NDJSON (baseline)');
  const rows: CodecResult[] = [];
  for (const task of bench.tasks) {
    const eps = rate(task.name);
    const isJson = task.name.includes('JSON');
    const bytesPerEntry = (isJson ? ndjsonBytes : batch.byteLength) / N;
    rows.push({
      task: task.name,
      entriesPerSec: eps,
      mbPerSec: (eps * bytesPerEntry) / 1e6,
      vsJson: eps / (task.name.startsWith('encode') ? jsonEncode : jsonDecode),
    });
  }
  return rows;
}

export function codecTable(rows: readonly CodecResult[]): Record<string, string>[] {
  return rows.map((r) => ({ task: r.task, 'entries/s': si(r.entriesPerSec), 'MB/s': r.mbPerSec.toFixed(0), 'x JSON': r.vsJson.toFixed(2) }));
}
