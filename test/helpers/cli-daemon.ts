import type { ExecutionContext } from 'ava';
import { spawnDaemon, type DaemonProcess } from '../../src/daemon/daemon-process.js';

export { CLI } from '../../src/daemon/daemon-process.js';
export type Running = DaemonProcess;

/** Starts `tributary start --data-dir <dataDir>` with `flags` (default: HTTP on a free port, no gRPC or syslog, 2 workers); SIGKILLed when the test ends, if it still runs. */
export function startCli(
  t: ExecutionContext,
  dataDir: string,
  flags: readonly string[] = ['--http-port', '0', '--no-grpc', '--no-syslog', '--workers', '2'],
): Running {
  const daemon = spawnDaemon(dataDir, flags);
  t.teardown(() => daemon.kill());
  return daemon;
}

export const ready = (r: Running) => r.ready();
export const recovery = (r: Running) => r.line((l) => l.recovery !== undefined).then((l) => l.recovery!);
