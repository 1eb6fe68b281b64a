// npm run bench:mailbox — codec micro-benchmarks and cross-thread pipe
// throughput, each against baselines measured in the same run.
import { benchCodec, codecTable } from './codec.js';
import { benchPipes, pipeTable, type PipeResult, type PipeScenario } from './pipes.js';
import { printTable, writeResults } from '../lib/report.js';

const quick = process.argv.includes('--quick');
const runs = quick ? 1 : 3;
const scale = quick ? 0.1 : 1;
const n = (x: number) => Math.max(1, Math.round(x * scale));

const progress = (label: string) => process.stderr.write(`  running ${label}...\n`);

process.stderr.write('codec micro-benchmarks (tinybench)...\n');
const codec = await benchCodec(quick ? 300 : 1500);
printTable('Codec: 1024 entries of ~100-byte messages per batch (one thread)', codecTable(codec));

const frames: PipeScenario[] = [];
for (const [bytes, count, slowCount] of [
  [65536, 16384, 4096],
  [4096, 131072, 65536],
  [100, 4_000_000, 400_000],
] as const) {
  const size = bytes >= 1024 ? `${bytes / 1024} KiB` : `${bytes} B`;
  frames.push({ transport: 'ring', unit: bytes, count: n(count), label: `tributary ring, ${size} frames` });
  frames.push({ transport: 'ringbuf', unit: bytes, count: n(bytes === 100 ? slowCount * 4 : count / 4), label: `ringbuf.js, ${size} frames` });
  frames.push({ transport: 'transfer', unit: bytes, count: n(slowCount), label: `postMessage+transfer, ${size} frames` });
  frames.push({ transport: 'clone', unit: bytes, count: n(slowCount), label: `postMessage clone, ${size} frames` });
}
process.stderr.write(`cross-thread pipes: ${runs} fresh worker pairs each...\n`);
const framesOut = await benchPipes(frames, runs, progress);
printTable(
  `Frames between two worker threads (median of ${runs} runs)`,
  pipeTable(framesOut, () => 'frames'),
);

const entries: PipeScenario[] = [];
for (const labels of ['mixed', 'one-stream'] as const) {
  const what = labels === 'mixed' ? 'mixed streams' : 'one stream';
  entries.push({ transport: 'ring-batches', unit: 1024, count: n(10_000_000), labels, label: `ring, LogBatches of 1024 (${what})` });
  entries.push({ transport: 'clone-objects', unit: 1024, count: n(1_000_000), labels, label: `postMessage, 1024 entry objects (${what})` });
}
const entriesOut = await benchPipes(entries, runs, progress);
printTable(
  `Entries between two worker threads (median of ${runs} runs)`,
  pipeTable(entriesOut, () => 'entries'),
);

function ratio(a: PipeResult | undefined, b: PipeResult | undefined): number {
  return a && b ? a.rate.median / b.rate.median : NaN;
}
const find = (rows: PipeResult[], t: string, unit: number) => rows.find((r) => r.transport === t && r.unit === unit);
const ratios = [65536, 4096, 100].map((u) => ({
  frame: u >= 1024 ? `${u / 1024} KiB` : `${u} B`,
  'ring / ringbuf.js': ratio(find(framesOut, 'ring', u), find(framesOut, 'ringbuf', u)).toFixed(1),
  'ring / transfer': ratio(find(framesOut, 'ring', u), find(framesOut, 'transfer', u)).toFixed(1),
  'ring / clone': ratio(find(framesOut, 'ring', u), find(framesOut, 'clone', u)).toFixed(1),
}));
for (const [i, what] of [
  [0, 'entries, mixed streams'],
  [2, 'entries, one stream'],
] as const) {
  ratios.push({ frame: what, 'ring / ringbuf.js': '-', 'ring / transfer': '-', 'ring / clone': ratio(entriesOut[i], entriesOut[i + 1]).toFixed(1) });
}
printTable('Ratios (same run, same machine)', ratios);

const path = writeResults(quick ? 'mailbox-quick' : 'mailbox', { runs, codec, frames: framesOut, entries: entriesOut, ratios });
console.log(`\nwrote ${path}`);
