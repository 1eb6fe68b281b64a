import test from 'ava';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ShardStore } from '../../src/index/store.js';
import { tempDir } from '../helpers/system.js';

const WRITER = fileURLToPath(new URL('../fixtures/scripts/store-writer.js', import.meta.url));

/** Runs the writer until it has acknowledged `acks` syncs (or died), then SIGKILLs it. Returns the highest acknowledged seq. */
function runAndKill(dir: string, source: string, start: number, acks: number): Promise<{ acked: number; recovered: Record<string, number> }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WRITER, dir, source, String(start)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let acked = start - 1;
    let seen = 0;
    let recovered: Record<string, number> = {};
    let buf = '';
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d));
    child.stdout.on('data', (d: Buffer) => {
      buf += d;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.startsWith('RECOVERED ')) recovered = JSON.parse(line.slice(10)) as Record<string, number>;
        if (line.startsWith('ACK ')) {
          acked = Number(line.slice(4));
          // Kill a random moment after the Nth acknowledgement: mid-append, mid-sync or mid-seal.
          if (++seen === acks) setTimeout(() => child.kill('SIGKILL'), Math.random() * 15);
        }
      }
    });
    child.once('exit', (code, signal) => {
      if (signal !== 'SIGKILL') reject(new Error(`writer exited by itself (${code}): ${err}`));
      else resolve({ acked, recovered });
    });
  });
}

test('kill -9 at random moments, 20 times: every acknowledged entry is stored exactly once', async (t) => {
  t.timeout(5 * 60_000);
  const dir = join(tempDir(t), 'shard');
  const source = 'crash-source';
  let acked = -1;
  const recoveries: Record<string, number>[] = [];
  for (let run = 0; run < 20; run++) {
    // Resend up to 3 batches before the acknowledged point, as a collector resends what it cannot prove stored.
    const resend = Math.floor(Math.random() * 4) * 1000;
    const start = Math.max(0, acked + 1 - resend);
    const acks = 1 + Math.floor(Math.random() * 30);
    const r = await runAndKill(dir, source, start, acks);
    recoveries.push(r.recovered);
    acked = Math.max(acked, r.acked);
  }
  const { store, report } = ShardStore.open({ dir });
  const counts = new Map<number, number>();
  let wrongFields = 0;
  for (const e of store.entries()) {
    t.is(e.source, source);
    const n = Number(e.seq);
    counts.set(n, (counts.get(n) ?? 0) + 1);
    // Every column comes back as written, labels and metadata included.
    const labels = n % 5 === 0 ? undefined : { env: n % 2 === 0 ? 'prod' : 'dev' };
    const metadata = n % 3 === 0 ? { trace_id: `t${n}` } : undefined;
    if (e.message !== `entry ${n}` || JSON.stringify(e.labels) !== JSON.stringify(labels) || JSON.stringify(e.metadata) !== JSON.stringify(metadata))
      wrongFields++;
  }
  t.is(wrongFields, 0, 'every stored entry has its message, labels and metadata');
  await store.close();
  // Entries past the last acknowledgement may be stored (durable but unacknowledged); none may be made up.
  let highest = -1;
  for (const k of counts.keys()) if (k > highest) highest = k;
  t.true(highest < acked + 1 + 20 * 5 * 200 * 3, 'nothing stored beyond what the writers could have sent');
  let missing = 0;
  for (let s = 0; s <= acked; s++) if (counts.get(s) !== 1) missing++;
  t.is(missing, 0, `every acknowledged entry (0..${acked}) exactly once`);
  t.true(
    [...counts.values()].every((c) => c === 1),
    'no duplicates at all',
  );
  t.log(
    `${acked + 1} acknowledged entries, ${counts.size} stored, ${report.blocks} blocks; recovery ms: ${recoveries.map((r) => Math.round(r.ms ?? 0)).join(' ')}`,
  );
  t.log(`torn WAL bytes cut per restart: ${recoveries.map((r) => r.truncated ?? 0).join(' ')}`);
});
