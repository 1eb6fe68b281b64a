import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import { RingBuffer } from 'ringbuf.js';
import { createRing } from '../../src/mailbox/index.js';
import { median, si } from '../lib/report.js';
import type { PipeJob, Transport } from './pipe-worker.js';

export interface PipeScenario {
  readonly transport: Transport;
  /** Frame bytes, or entries per batch for entry transports. */
  readonly unit: number;
  readonly count: number;
  readonly label: string;
  readonly labels?: 'mixed' | 'one-stream';
}

export interface PipeResult extends PipeScenario {
  /** Units per second (frames or entries): median and range over runs. */
  readonly rate: { median: number; min: number; max: number };
  /** Payload bytes per second (median). */
  readonly bytesPerSec: number;
  readonly runs: number;
}

const RING_BYTES = 4 << 20;

function spawn(
  job: Omit<PipeJob, 'role'>,
  role: 'producer' | 'consumer',
  transfer: MessagePort[],
): { worker: Worker; ready: Promise<void>; done: Promise<Record<string, number>> } {
  const worker = new Worker(new URL('./pipe-worker.js', import.meta.url), { workerData: { ...job, role }, transferList: transfer });
  let readyResolve!: () => void;
  const ready = new Promise<void>((r) => (readyResolve = r));
  const done = new Promise<Record<string, number>>((resolve, reject) => {
    worker.on('message', (m: Record<string, number> & { ready?: boolean }) => (m.ready ? readyResolve() : resolve(m)));
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`${role} exited with ${code}`)));
  });
  done.catch(() => {});
  return { worker, ready, done };
}

/** One start-to-done run over a fresh pair of worker threads; returns units per second. */
async function runOnce(s: PipeScenario): Promise<number> {
  const go = new SharedArrayBuffer(4);
  const ring = s.transport.startsWith('ring-') || s.transport === 'ring' ? createRing(RING_BYTES) : undefined;
  const ringbuf = s.transport === 'ringbuf' ? RingBuffer.getStorageForCapacity(RING_BYTES, Uint8Array) : undefined;
  const channel = s.transport.includes('clone') || s.transport === 'transfer' ? new MessageChannel() : undefined;
  const frameBytes = s.transport.endsWith('objects') || s.transport.endsWith('batches') ? s.unit * 120 : s.unit;
  const window = Math.max(4, Math.floor(RING_BYTES / frameBytes));
  const base = { transport: s.transport, unit: s.unit, count: s.count, go, ring, ringbuf, window, labels: s.labels };
  const consumer = spawn({ ...base, port: channel?.port2 }, 'consumer', channel ? [channel.port2] : []);
  const producer = spawn({ ...base, port: channel?.port1 }, 'producer', channel ? [channel.port1] : []);
  try {
    await Promise.all([consumer.ready, producer.ready]);
    const g = new Int32Array(go);
    Atomics.store(g, 0, 1);
    Atomics.notify(g, 0);
    const [p, c] = await Promise.all([producer.done, consumer.done]);
    if (c.units !== s.count) throw new Error(`${s.label}: consumer saw ${c.units} of ${s.count}`);
    return (s.count * 1000) / (c.end! - p.start!);
  } finally {
    await Promise.all([consumer.worker.terminate(), producer.worker.terminate()]);
  }
}

export async function benchPipes(scenarios: readonly PipeScenario[], runs: number, onProgress?: (label: string) => void): Promise<PipeResult[]> {
  const out: PipeResult[] = [];
  for (const s of scenarios) {
    onProgress?.(s.label);
    const rates: number[] = [];
    for (let i = 0; i < runs; i++) rates.push(await runOnce(s));
    const m = median(rates);
    const bytesPerUnit = s.transport.endsWith('objects') || s.transport.endsWith('batches') ? 100 : s.unit;
    out.push({ ...s, runs, rate: { median: m, min: Math.min(...rates), max: Math.max(...rates) }, bytesPerSec: m * bytesPerUnit });
  }
  return out;
}

export function pipeTable(rows: readonly PipeResult[], unitName: (r: PipeResult) => string): Record<string, string>[] {
  return rows.map((r) => ({
    pipe: r.label,
    [`median`]: `${si(r.rate.median)} ${unitName(r)}/s`,
    'min-max': `${si(r.rate.min)}-${si(r.rate.max)}`,
    'GB/s': (r.bytesPerSec / 1e9).toFixed(2),
  }));
}
