// One end of a cross-thread pipe under test. Both ends block on a shared
// "go" word so that the clock starts when both are ready; the producer
// reports its start time, the consumer its end time (timeOrigin-based, so
// comparable across threads).
import { workerData, parentPort, type MessagePort } from 'node:worker_threads';
import { RingBuffer } from 'ringbuf.js';
import { BatchBuilder } from '../../src/batch/builder.js';
import { BatchReader } from '../../src/batch/reader.js';
import { FrameKind, RingReader, RingWriter, type RingHandle } from '../../src/mailbox/index.js';
import type { LogEntry } from '../../src/model/entry.js';
import { syntheticEntries } from '../../src/producers/synthetic.js';

export type Transport = 'ring' | 'ringbuf' | 'transfer' | 'clone' | 'ring-batches' | 'clone-objects';

export interface PipeJob {
  readonly role: 'producer' | 'consumer';
  readonly transport: Transport;
  /** Frame size in bytes (byte transports) or entries per batch (entry transports). */
  readonly unit: number;
  /** Frames (byte transports) or entries (entry transports). */
  readonly count: number;
  readonly go: SharedArrayBuffer;
  readonly ring?: RingHandle;
  readonly ringbuf?: SharedArrayBuffer;
  readonly port?: MessagePort;
  /** Frames in flight before a postMessage producer waits for an ack. */
  readonly window: number;
  /** Entry transports: 'mixed' varies labels per entry (~530 per batch); 'one-stream' is a collector's batch. */
  readonly labels?: 'mixed' | 'one-stream';
}

const job = workerData as PipeJob;
const now = () => performance.timeOrigin + performance.now();
const POOL = 4096;

function waitForGo(): void {
  Atomics.wait(new Int32Array(job.go), 0, 0);
}

function report(extra: Record<string, number>): void {
  parentPort!.postMessage(extra);
}

async function producer(): Promise<void> {
  const payload = new Uint8Array(job.unit).fill(7);
  let pool = job.transport.endsWith('batches') || job.transport.endsWith('objects') ? syntheticEntries(POOL) : [];
  if (job.labels === 'one-stream') pool = pool.map((e) => ({ ...e, service: 'svc-1', server: 'srv-1', region: 'region-1' }));
  parentPort!.postMessage({ ready: true });
  waitForGo();
  const start = now();
  switch (job.transport) {
    case 'ring': {
      const w = new RingWriter(job.ring!);
      for (let i = 0; i < job.count; i++) {
        w.reserve(job.unit).set(payload);
        w.commit(FrameKind.DATA, 1);
      }
      w.close();
      break;
    }
    case 'ring-batches': {
      const w = new RingWriter(job.ring!);
      const perBatch = job.unit;
      let builder: BatchBuilder | undefined;
      const sourceId = 'bench-source';
      for (let seq = 0; seq < job.count;) {
        const region = w.reserve(perBatch * 160 + 8192);
        const opts = { sourceId, firstSeq: BigInt(seq), maxEntries: perBatch };
        if (builder) builder.reset(region, opts);
        else builder = new BatchBuilder(region, opts);
        const end = Math.min(job.count, seq + perBatch);
        for (; seq < end; seq++) {
          const e = pool[seq % POOL]!;
          if (!builder.add(e.ts, e.level, e.service, e.server, e.region, e.message)) break;
        }
        w.commit(FrameKind.DATA, 1, 0, builder.finish());
      }
      w.close();
      break;
    }
    case 'ringbuf': {
      const rb = new RingBuffer(job.ringbuf!, Uint8Array);
      for (let i = 0; i < job.count; i++) {
        let written = 0;
        while (written < payload.length) written += rb.push(payload, payload.length - written, written);
      }
      break;
    }
    case 'transfer':
    case 'clone':
    case 'clone-objects': {
      const port = job.port!;
      let acked = 0;
      let wake: (() => void) | undefined;
      port.on('message', (n: number) => {
        acked = n;
        wake?.();
      });
      const batches = job.transport === 'clone-objects' ? Math.ceil(job.count / job.unit) : job.count;
      for (let i = 0; i < batches; i++) {
        while (i - acked >= job.window) await new Promise<void>((r) => (wake = r));
        if (job.transport === 'transfer') {
          const ab = new ArrayBuffer(job.unit);
          new Uint8Array(ab).set(payload);
          port.postMessage(ab, [ab]);
        } else if (job.transport === 'clone') {
          port.postMessage(payload);
        } else {
          const n = Math.min(job.unit, job.count - i * job.unit);
          const arr: LogEntry[] = new Array(n);
          for (let k = 0; k < n; k++) {
            const e = pool[(i * job.unit + k) % POOL]!;
            arr[k] = { ts: e.ts, level: e.level, service: e.service, server: e.server, region: e.region, message: e.message };
          }
          port.postMessage(arr);
        }
      }
      port.close();
      break;
    }
  }
  report({ start });
}

async function consumer(): Promise<void> {
  parentPort!.postMessage({ ready: true });
  waitForGo();
  let touched = 0;
  let units = 0;
  switch (job.transport) {
    case 'ring': {
      const r = new RingReader(job.ring!);
      const data = r.data;
      for (;;) {
        units += r.drain((f) => {
          touched += data[f.offset]!;
        });
        if (r.done) break;
        r.waitForData();
      }
      break;
    }
    case 'ring-batches': {
      const r = new RingReader(job.ring!);
      for (;;) {
        r.drain((f) => {
          // The same work as the object consumer: read every entry's level and message length.
          const b = BatchReader.open(f.body);
          const lv = b.levels();
          const off = b.messageOffsets();
          for (let i = 0; i < b.count; i++) touched += lv[i]! + off[i + 1]! - off[i]!;
          units += b.count;
        });
        if (r.done) break;
        r.waitForData();
      }
      break;
    }
    case 'ringbuf': {
      const rb = new RingBuffer(job.ringbuf!, Uint8Array);
      const buf = new Uint8Array(job.unit);
      const total = job.count * job.unit;
      let got = 0;
      while (got < total) {
        const n = rb.pop(buf, Math.min(buf.length, total - got));
        got += n;
        touched += n > 0 ? buf[0]! : 0;
      }
      units = job.count;
      break;
    }
    case 'transfer':
    case 'clone':
    case 'clone-objects': {
      const port = job.port!;
      const ackEvery = Math.max(1, job.window >> 2);
      let messages = 0;
      await new Promise<void>((resolve) => {
        port.on('message', (m: ArrayBuffer | Uint8Array | LogEntry[]) => {
          if (Array.isArray(m)) {
            for (const e of m) touched += e.level + e.message.length;
            units += m.length;
          } else {
            touched += new Uint8Array(m instanceof ArrayBuffer ? m : m.buffer)[0]!;
            units++;
          }
          if (++messages % ackEvery === 0) port.postMessage(messages);
          if (units >= job.count) resolve();
        });
      });
      port.close();
      break;
    }
  }
  report({ end: now(), units, touched });
}

await (job.role === 'producer' ? producer() : consumer());
