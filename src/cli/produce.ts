import { FleetFileWriter } from '../producers/fleet.js';
import { stopSignal } from './format.js';

export interface ProduceOptions {
  readonly dir: string;
  readonly rate: number;
  readonly servers: number;
  readonly regions: number;
  readonly services: number;
  readonly files: number;
  readonly seed: number;
}

/**
 * `tributary produce`: a simulated fleet writing rotating pino log files
 * into a directory, for a collector to tail (the producers of the
 * docker-compose fleet), until SIGINT or SIGTERM.
 */
export async function produceCommand(o: ProduceOptions): Promise<void> {
  const writer = new FleetFileWriter({ dir: o.dir, rate: o.rate, servers: o.servers, regions: o.regions, services: o.services, files: o.files, seed: o.seed });
  writer.start();
  console.log(`producing ${o.rate}/s from ${o.servers} servers in ${o.regions} regions into ${o.dir}/fleet-*.log`);
  const report = setInterval(() => console.log(`produced ${writer.written.toLocaleString('en')} entries, ${writer.rotations} rotations`), 10_000);
  await stopSignal();
  clearInterval(report);
  writer.stop();
  console.log(`stopped after ${writer.written.toLocaleString('en')} entries`);
}
