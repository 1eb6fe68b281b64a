#!/usr/bin/env node
import { Command, InvalidArgumentError } from 'commander';
import { start } from './start.js';

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a positive integer');
  return n;
}

const program = new Command().name('tributary').description('Log aggregation on an actor system of worker threads').version('0.1.0');

program
  .command('start')
  .description('start the actor runtime (today: with a synthetic load; storage, ingest and queries arrive in later releases)')
  .option('--workers <n>', 'worker threads (default: cores)', positiveInt)
  .option('--rate <entries/s>', 'synthetic load in entries per second', positiveInt, 100_000)
  .option('--replicas <n>', 'replicas of each counting actor', (v) => Number(v), 1)
  .option('--data-dir <dir>', 'data directory', './data')
  .option('--status-every <ms>', 'status line interval', positiveInt, 2000)
  .action(async (o: { workers?: number; rate: number; replicas: number; dataDir: string; statusEvery: number }) => {
    await start({ workers: o.workers, rate: o.rate, replicas: o.replicas, dataDir: o.dataDir, statusEveryMs: o.statusEvery });
  });

await program.parseAsync();
