// Runnable: npm run build && node dist/examples/quickstart/main.js
import { ActorSystem, Level, encodeBatch, newSourceId } from '../../src/index.js';

const system = await ActorSystem.start({ workers: 2, deadLetterPath: 'data/example-dead-letters.ndjson' });
system.subscribe((event) => {
  if (event.type === '@actor.restarted') console.log(`${event.actor.name} restarted after ${event.downMs.toFixed(0)} ms`);
});

// One actor and one replica on the other thread: the replica gets every frame too.
const counter = await system.spawn({ name: 'errors', behaviour: { module: new URL('./error-counter.js', import.meta.url) }, replicas: 1 });

// Encode entries once into a columnar LogBatch and send it.
const sourceId = newSourceId();
let seq = 0n;
for (let b = 0; b < 100; b++) {
  const entries = Array.from({ length: 1000 }, (_, i) => ({
    ts: BigInt(Date.now()) * 1_000_000n + BigInt(i),
    level: i % 50 === 0 ? Level.ERROR : Level.INFO,
    service: ['checkout', 'search', 'auth'][i % 3]!,
    server: `web-${i % 10}`,
    region: 'eu-west-1',
    message: `request ${b * 1000 + i} done`,
  }));
  await system.send(counter, encodeBatch(entries, { sourceId, firstSeq: seq }));
  seq += 1000n;
}

// Kill the primary's thread: the replica answers meanwhile, and the restarted
// primary restores its state from the replica.
const back = new Promise<void>((resolve) => system.subscribe((e) => e.type === '@actor.restarted' && e.actor.id === counter.id && resolve()));
await system.killThread(system.threadOf(counter));

let report: { entries: number; errorsByService: Record<string, number> };
do report = await system.ask(counter, 'report');
while (report.entries < 100_000);
console.log(report);
await back;
const { status, restarts, replicas } = system.stats(counter);
console.log({ status, restarts, replica: replicas[0]?.status });
await system.stop();
