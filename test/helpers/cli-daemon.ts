import type { ExecutionContext } from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/**
 * `tributary start` as a user runs it: a separate process, whose readiness
 * and reports are read from its own pino log lines on stdout. Killed with
 * SIGKILL when the test ends, if it still runs.
 */
export const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

export interface LogLine {
  level: number;
  msg: string;
  http?: string;
  recovery?: { previousRun: boolean; cleanStop: boolean; replayedEntries: number; blockEntries: number };
}

export interface Running {
  readonly child: ChildProcess;
  readonly lines: LogLine[];
  /** The first log line that satisfies `pred`, as soon as it is written. */
  line(pred: (l: LogLine) => boolean): Promise<LogLine>;
  readonly exited: Promise<number | null>;
}

/** Starts `tributary start --data-dir <dataDir>` with `flags` (default: HTTP on a free port, no gRPC or syslog, 2 workers). */
export function startCli(
  t: ExecutionContext,
  dataDir: string,
  flags: readonly string[] = ['--http-port', '0', '--no-grpc', '--no-syslog', '--workers', '2'],
): Running {
  const child = spawn(process.execPath, [CLI, 'start', '--data-dir', dataDir, ...flags], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const lines: LogLine[] = [];
  const waiters: { pred: (l: LogLine) => boolean; resolve: (l: LogLine) => void }[] = [];
  createInterface({ input: child.stdout! }).on('line', (text) => {
    const l = JSON.parse(text) as LogLine;
    lines.push(l);
    for (const w of [...waiters]) if (w.pred(l)) (waiters.splice(waiters.indexOf(w), 1), w.resolve(l));
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    child,
    lines,
    exited,
    line: (pred) => {
      const found = lines.find(pred);
      if (found) return Promise.resolve(found);
      return Promise.race([
        new Promise<LogLine>((resolve) => waiters.push({ pred, resolve })),
        exited.then((code) => Promise.reject(new Error(`the daemon exited (${code}) first; its log:\n${lines.map((l) => l.msg).join('\n')}`))),
      ]);
    },
  };
}

export const ready = (r: Running) => r.line((l) => l.msg.startsWith('tributary ready')).then((l) => l.http!);
export const recovery = (r: Running) => r.line((l) => l.recovery !== undefined).then((l) => l.recovery!);
