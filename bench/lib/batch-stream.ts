// A routing client's PushBatches stream, shared by the load clients of
// bench:ingest and bench:anomaly: entries split by the daemon's ring into
// frames, one source per shard numbered contiguously (as the collector and
// the importer send them), then streamed with a window of 32 frames unacked.
import { credentials, type Client, type ServiceClientConstructor } from '@grpc/grpc-js';
import { encodeBatch } from '../../src/batch/encode.js';
import { loadTributaryPackage } from '../../src/grpc/proto.js';
import type { LogEntry } from '../../src/model/entry.js';
import { newSourceId } from '../../src/model/source.js';
import { HashRing, streamKey } from '../../src/shard/hash-ring.js';

export type IngestClient = Client & Record<string, any>;
export interface Frame {
  shard: string;
  batch: Uint8Array;
  id: number;
  count: number;
}

export function ingestClient(address: string): IngestClient {
  const Ingest = loadTributaryPackage().Ingest as ServiceClientConstructor;
  return new Ingest(address, credentials.createInsecure(), { 'grpc.max_send_message_length': 64 << 20 }) as IngestClient;
}

/** A framer over the daemon's ring: each call splits one request's entries into per-shard frames, appended to `frames`. */
export async function ringFramer(client: IngestClient): Promise<{ frames: Frame[]; frame: (es: readonly LogEntry[]) => void }> {
  const ring = await new Promise<{ shards: string[]; virtual_nodes: number }>((res, rej) =>
    client.Ring({}, (e: Error | null, r: any) => (e ? rej(e) : res(r))),
  );
  const hash = new HashRing(ring.shards, ring.virtual_nodes);
  const sources = new Map(ring.shards.map((s) => [s, { id: newSourceId(), next: 0n }]));
  const frames: Frame[] = [];
  const frame = (es: readonly LogEntry[]) => {
    const per = new Map<string, LogEntry[]>();
    for (const e of es) {
      const s = hash.lookup(streamKey(e.service, e.server));
      let g = per.get(s);
      if (!g) per.set(s, (g = []));
      g.push(e);
    }
    for (const [shard, group] of per) {
      const src = sources.get(shard)!;
      frames.push({ shard, batch: encodeBatch(group, { sourceId: src.id, firstSeq: src.next }), id: frames.length, count: group.length });
      src.next += BigInt(group.length);
    }
  };
  return { frames, frame };
}

/** Streams every frame and resolves once all are acknowledged; `rate` > 0 paces the stream to that many entries/s. */
export function streamFrames(client: IngestClient, frames: readonly Frame[], rate = 0): Promise<void> {
  const t0 = performance.now();
  return new Promise<void>((resolve, reject) => {
    const call = client.PushBatches();
    let acked = 0;
    let sent = 0;
    let entriesSent = 0;
    let timer: NodeJS.Timeout | undefined;
    const pump = () => {
      while (sent < frames.length && sent - acked < 32) {
        // Paced: a frame goes once the clock allows its entries.
        if (rate > 0 && entriesSent > (rate * (performance.now() - t0)) / 1000) {
          timer ??= setTimeout(() => {
            timer = undefined;
            pump();
          }, 1);
          return;
        }
        entriesSent += frames[sent]!.count;
        call.write(frames[sent++]);
      }
      if (sent === frames.length) call.end();
    };
    call.on('data', (a: { ok: boolean; message: string }) => {
      if (!a.ok) return reject(new Error(a.message));
      acked++;
      pump();
    });
    call.on('end', resolve);
    call.on('error', reject);
    pump();
  });
}
