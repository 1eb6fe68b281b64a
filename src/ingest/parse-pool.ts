import type { ResourceLimits } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { parseBody, type ParseTask } from './parse-task.js';
import type { ParseResult } from './sink.js';

/** Where request bodies are parsed: a narrow seam, so tests and tools can parse inline. */
export interface Parser {
  parse(task: ParseTask): Promise<ParseResult>;
  close(): Promise<void>;
}

/** Parses on the calling thread (tools, tests, and where no threads are wanted). */
export const inlineParser: Parser = {
  parse: async (task) => parseBody(task),
  close: async () => {},
};

/**
 * Parses request bodies on a piscina pool, so the main thread only accepts
 * connections and moves bytes: the body is transferred to a parse thread
 * (not copied), and the per-shard batches come back as bytes. Parsing is
 * stateless work, which is what piscina is for: a task that crashes its
 * thread fails only its own request (the client gets a 503 and retries);
 * the pool replaces the thread.
 */
export function poolParser(options: { threads: number; resourceLimits?: ResourceLimits; maxQueue?: number }): Parser {
  const pool = new Piscina({
    filename: new URL('./parse-task.js', import.meta.url).href,
    minThreads: options.threads,
    maxThreads: options.threads,
    resourceLimits: options.resourceLimits,
    maxQueue: options.maxQueue ?? 256,
  });
  return {
    parse: (task) => {
      const body = task.body;
      // Transfer only a buffer this body owns whole; a view into a shared or pooled buffer is copied once.
      const owned = body.byteOffset === 0 && body.byteLength === body.buffer.byteLength && body.buffer instanceof ArrayBuffer ? body : body.slice();
      return pool.run({ ...task, body: owned }, { transferList: [owned.buffer as ArrayBuffer] }) as Promise<ParseResult>;
    },
    close: () => pool.destroy(),
  };
}
