import { ActorSystem } from '../actors/system.js';
import type { ActorRef } from '../actors/behaviour.js';
import type { LevelCounts } from '../actors/builtin/level-counter.js';
import { budgetFrame } from '../producers/synthetic-producer.js';
import { join } from 'node:path';

export interface StartOptions {
  readonly workers?: number;
  readonly rate: number;
  readonly dataDir: string;
  readonly statusEveryMs: number;
  readonly replicas: number;
}

const TICK_MS = 100;

/**
 * Runs what Tributary has today as one process: the supervised actor runtime
 * with a synthetic load (producer actors encoding LogBatches into counting
 * actors with replicas), printing figures until SIGINT or SIGTERM.
 */
export async function start(opts: StartOptions, out: (line: string) => void = (l) => console.log(l)): Promise<void> {
  const system = await ActorSystem.start({ workers: opts.workers, deadLetterPath: join(opts.dataDir, 'dead-letters.ndjson') });
  const workers = system.workers;
  const replicas = Math.min(opts.replicas, workers - 1);
  system.subscribe((e) => {
    if (e.type === '@actor.failed') out(`! ${e.actor.name} failed: ${e.error.message}`);
    else if (e.type === '@actor.restarted') out(`! ${e.actor.name} restarted after ${e.downMs.toFixed(0)} ms`);
    else if (e.type === '@supervisor.escalated') out(`! supervisor ${e.supervisor} gave up: ${e.error.message}`);
  });
  const builtin = (name: string) => ({ module: new URL(`../${name}`, import.meta.url) });
  const sinks: ActorRef[] = [];
  for (let t = 1; t <= workers; t++) {
    sinks.push(
      await system.spawn({ name: `counter-${t}`, behaviour: { ...builtin('actors/builtin/level-counter.js'), export: 'levelCounter' }, thread: t, replicas }),
    );
  }
  const producers: ActorRef[] = [];
  for (let t = 1; t <= workers; t++) {
    producers.push(
      await system.spawn({
        name: `producer-${t}`,
        behaviour: { ...builtin('producers/synthetic-producer.js'), export: 'syntheticProducer' },
        thread: t,
        args: { targets: sinks.map((s) => s.id) },
      }),
    );
  }
  out(
    `tributary: ${workers} worker threads, ${sinks.length} counters (replicas: ${replicas}), ${producers.length} producers at ${opts.rate.toLocaleString('en')} entries/s`,
  );
  out('press Ctrl-C to stop');

  const perTick = Math.max(1, Math.round((opts.rate * TICK_MS) / 1000 / producers.length));
  let ticking = false;
  const ticker = setInterval(() => {
    if (ticking || system.status !== 'running') return;
    ticking = true;
    Promise.all(producers.map((p) => system.send(p, budgetFrame(perTick))))
      .catch((err: Error) => out(`! tick failed: ${err.message}`))
      .finally(() => (ticking = false));
  }, TICK_MS);

  let last = { at: performance.now(), entries: 0 };
  const status = setInterval(() => {
    void (async () => {
      if (system.status !== 'running') return;
      const counts = await Promise.all(sinks.map((s) => system.ask<LevelCounts>(s, 'counts').catch(() => undefined)));
      const entries = counts.reduce((a, c) => a + (c?.entries ?? 0), 0);
      const errors = counts.reduce((a, c) => a + (c?.byLevel[3] ?? 0), 0);
      const now = performance.now();
      const rate = ((entries - last.entries) * 1000) / (now - last.at);
      last = { at: now, entries };
      const stats = system.stats();
      const depth = stats.reduce((a, s) => a + s.mailboxDepth, 0);
      const restarts = stats.reduce((a, s) => a + s.restarts + s.replicas.reduce((b, r) => b + r.restarts, 0), 0);
      out(
        `entries ${entries.toLocaleString('en')}  rate ${Math.round(rate).toLocaleString('en')}/s  errors ${errors.toLocaleString('en')}  mailbox ${depth} frames  restarts ${restarts}`,
      );
    })();
  }, opts.statusEveryMs);

  await new Promise<void>((resolve) => {
    let signals = 0;
    const onSignal = (sig: NodeJS.Signals) => {
      if (++signals > 1) {
        out(`${sig} again: exiting now`);
        process.exit(130);
      }
      out(`${sig}: stopping gracefully (again to force)`);
      resolve();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
  clearInterval(ticker);
  clearInterval(status);
  await system.stop();
  out('stopped');
  process.removeAllListeners('SIGINT');
  process.removeAllListeners('SIGTERM');
}
