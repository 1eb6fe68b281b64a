import { Daemon, type DaemonOptions } from '../daemon/daemon.js';
import type { LogEntry } from '../model/entry.js';
import { syntheticEntry } from '../producers/synthetic.js';

type Log = (level: 'info' | 'warn' | 'error', message: string) => void;

const consoleLog: Log = (level, message) => (level === 'info' ? console.log(message) : console.error(`${level}: ${message}`));

/** Runs the daemon until SIGINT or SIGTERM (a second signal forces the exit). */
export async function runDaemon(options: DaemonOptions, demo?: { rate: number }): Promise<void> {
  const daemon = await Daemon.start({ ...options, log: options.log ?? consoleLog });
  let stopDemo = (): void => {};
  if (demo) stopDemo = startSyntheticLoad(daemon, demo.rate);
  console.log(`query it:  npx tributary query '{service="svc-1"} | level >= WARN' --since 5m`);
  console.log('press Ctrl-C to stop');
  await new Promise<void>((resolve) => {
    let signals = 0;
    const onSignal = (sig: NodeJS.Signals) => {
      if (++signals > 1) {
        console.error(`${sig} again: exiting now`);
        process.exit(130);
      }
      console.log(`${sig}: stopping (flushing shards; again to force)`);
      resolve();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
  stopDemo();
  await daemon.stop();
  console.log('stopped');
}

/** A simulated fleet writing `rate` entries per second through the daemon's durable path, reporting every 2 s. */
function startSyntheticLoad(daemon: Daemon, rate: number): () => void {
  const TICK_MS = 100;
  let n = 0;
  let written = 0;
  let busy = false;
  const ticker = setInterval(() => {
    if (busy) return; // the previous tick is still waiting for its acknowledgements: backpressure
    busy = true;
    const now = BigInt(Date.now()) * 1_000_000n;
    const count = Math.max(1, Math.round((rate * TICK_MS) / 1000));
    const batch: LogEntry[] = [];
    for (let i = 0; i < count; i++) batch.push({ ...syntheticEntry(n++), ts: now + BigInt(i) });
    daemon.writer
      .write(batch)
      .then(() => (written += count))
      .catch((err: Error) => console.error(`demo write failed: ${err.message}`))
      .finally(() => (busy = false));
  }, TICK_MS);
  let last = { at: performance.now(), written: 0 };
  const report = setInterval(() => {
    const now = performance.now();
    console.log(
      `demo: ${written.toLocaleString('en')} entries stored durably (${Math.round(((written - last.written) * 1000) / (now - last.at)).toLocaleString('en')}/s)`,
    );
    last = { at: now, written };
  }, 2000);
  return () => {
    clearInterval(ticker);
    clearInterval(report);
  };
}
