import type { ExecutionContext } from 'ava';
import { Worker } from 'node:worker_threads';

export interface RunningWorker<T> {
  readonly worker: Worker;
  /** First message the worker posts. Rejects if the worker errors or exits first. */
  readonly result: Promise<T>;
  /** Exit code, whenever the worker exits. */
  readonly exited: Promise<number>;
}

/** Starts a fixture worker and guarantees (via teardown) that it is gone when the test ends. */
export function startWorker<T>(t: ExecutionContext, fixture: string, workerData: unknown): RunningWorker<T> {
  const worker = new Worker(new URL(`../fixtures/${fixture}`, import.meta.url), { workerData });
  const exited = new Promise<number>((resolve) => worker.once('exit', resolve));
  const result = new Promise<T>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`worker ${fixture} exited with code ${code} before answering`)));
  });
  result.catch(() => {});
  t.teardown(async () => {
    await worker.terminate();
  });
  return { worker, result, exited };
}

/**
 * Waits for a condition no one notifies about (a peer parking, entries
 * showing up in a query). Checks on a short interval with a hard deadline,
 * so the test states what it waits for and fails rather than hangs.
 * `everyMs` spaces out a condition that is costly to ask.
 */
export async function waitUntil(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 10_000, everyMs?: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const answer = condition();
    // An asynchronous condition (a query) is asked less often than a memory read.
    const pauseMs = everyMs ?? (typeof answer === 'boolean' ? 2 : 25);
    if (await answer) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, pauseMs));
  }
}

/** Waits until an Int32 slot (which its writer notifies) reaches at least `target`. */
export async function waitForCounter(i32: Int32Array, index: number, target: number, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = Atomics.load(i32, index);
    if (v >= target) return;
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`counter ${index} stayed at ${v}, below ${target}`);
    const w = Atomics.waitAsync(i32, index, v, left);
    if (w.async) await w.value;
  }
}
