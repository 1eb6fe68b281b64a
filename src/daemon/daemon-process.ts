import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { DAEMON_NODE_FLAGS, MALLOC_ENV } from './malloc-env.js';

/**
 * `tributary start` as an operator runs it: a separate process, whose
 * readiness and reports are read from its own pino log lines on stdout.
 * What the process-level tests (kill -9, restarts) and the cluster
 * benchmark run; its owner kills it.
 */
export const CLI = fileURLToPath(new URL('../cli/main.js', import.meta.url));

export interface DaemonLogLine {
  level: number;
  msg: string;
  time?: number;
  http?: string;
  grpc?: string | null;
  member?: string;
  recovery?: { previousRun: boolean; cleanStop: boolean; replayedEntries: number; blockEntries: number };
}

export interface DaemonProcess {
  readonly child: ChildProcess;
  readonly lines: DaemonLogLine[];
  /** The first log line that satisfies `pred`, as soon as it is written; rejects if the process exits first. */
  line(pred: (l: DaemonLogLine) => boolean): Promise<DaemonLogLine>;
  /** Its HTTP API's URL, once it logged that it is ready. */
  ready(): Promise<string>;
  readonly exited: Promise<number | null>;
  /** SIGKILL if it still runs. */
  kill(): void;
}

/** Starts `tributary start --data-dir <dataDir> ...flags`; its stderr goes to ours. */
export function spawnDaemon(dataDir: string, flags: readonly string[]): DaemonProcess {
  // As the `tributary` command runs it: its malloc settings and main-thread flags.
  const child = spawn(process.execPath, [...DAEMON_NODE_FLAGS, CLI, 'start', '--data-dir', dataDir, ...flags], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, ...MALLOC_ENV },
  });
  const lines: DaemonLogLine[] = [];
  const waiters: { pred: (l: DaemonLogLine) => boolean; resolve: (l: DaemonLogLine) => void }[] = [];
  createInterface({ input: child.stdout! }).on('line', (text) => {
    const l = JSON.parse(text) as DaemonLogLine;
    lines.push(l);
    for (const w of [...waiters]) if (w.pred(l)) (waiters.splice(waiters.indexOf(w), 1), w.resolve(l));
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const line = (pred: (l: DaemonLogLine) => boolean): Promise<DaemonLogLine> => {
    const found = lines.find(pred);
    if (found) return Promise.resolve(found);
    return Promise.race([
      new Promise<DaemonLogLine>((resolve) => waiters.push({ pred, resolve })),
      exited.then((code) => Promise.reject(new Error(`the daemon exited (${code}) first; its log:\n${lines.map((l) => l.msg).join('\n')}`))),
    ]);
  };
  return {
    child,
    lines,
    line,
    exited,
    ready: () => line((l) => l.msg.startsWith('tributary ready')).then((l) => l.http!),
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}
