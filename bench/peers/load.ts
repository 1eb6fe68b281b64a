// Background ingest for `npm run bench:peers`: pushes NDJSON of the realistic
// fleet (an hour after the queried one, so answers do not change) to a
// daemon's HTTP door at a steady rate, in its own process, until killed.
//
//   node dist/bench/peers/load.js --url URL --rate ENTRIES_PER_SEC
import { DEFAULT_START_NS, HOUR_NS, RealisticFleet, ndjsonLine } from '../lib/realistic.js';

const arg = (name: string): string => process.argv[process.argv.indexOf(`--${name}`) + 1]!;
const url = arg('url');
const rate = Number(arg('rate'));
const TICK_MS = 100;
const perTick = Math.max(1, Math.round((rate * TICK_MS) / 1000));
// 40 s worth of bodies, made before the clock starts (the query pass beside it is shorter); sent
// again after that, a resend is dropped as a duplicate, which still costs the door its parse.
const fleet = new RealisticFleet({ entries: rate * 40, seed: 99, startNs: DEFAULT_START_NS + 2n * HOUR_NS });
const bodies: string[] = [];
let chunk: string[] = [];
fleet.forEach((e) => {
  chunk.push(ndjsonLine(e));
  if (chunk.length === perTick) {
    bodies.push(chunk.join('\n'));
    chunk = [];
  }
});
process.stdout.write('ready\n');
let next = 0;
let sent = 0;
const started = performance.now();
// Up to 4 requests in flight: the rate holds while one waits for its fsync.
const inFlight = new Set<Promise<void>>();
for (;;) {
  const due = started + (sent / rate) * 1000;
  const wait = due - performance.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  while (inFlight.size >= 4) await Promise.race(inFlight);
  const p: Promise<void> = fetch(`${url}/api/v1/ingest`, { method: 'POST', body: bodies[next]!, headers: { 'content-type': 'application/x-ndjson' } })
    .then(async (res) => {
      await res.arrayBuffer();
      if (!res.ok) process.stderr.write(`load: ${res.status}\n`);
    })
    .catch((err: Error) => void process.stderr.write(`load: ${err.message}\n`))
    .finally(() => inFlight.delete(p));
  inFlight.add(p);
  sent += perTick;
  next = (next + 1) % bodies.length;
}
