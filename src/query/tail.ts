import type { IdentifiedEntry } from '../model/entry.js';
import type { QueryService } from './engine.js';
import { encodeCursor, type LogQuery } from './model.js';
import { nowNs } from './time.js';

/** Where a live tail's entries go: a WebSocket, an SSE response. */
export interface TailSink {
  /** Entries in timestamp order, one poll's worth. */
  send(entries: IdentifiedEntry[]): void;
  /** Failure of one poll (the tail goes on). */
  error(err: Error): void;
  /** Bytes handed to the sink not yet taken by the peer: past the backlog the tail waits, it never buffers without bound. */
  backlog(): number;
}

export interface TailOptions {
  /** Entries since this time, ns (the first poll sends the newest `limit` of them). */
  readonly from: bigint;
  /**
   * The reorder window, ns: entries are sent once they are this old, so an
   * entry that arrives up to this late still goes out in timestamp order. An
   * entry later than that, older than one already sent, is stored and
   * queryable but not tailed.
   */
  readonly delay: bigint;
  readonly limit: number;
  /**
   * Between polls, where the engine cannot announce new entries (a cluster's
   * engine), and between looks at a sink whose backlog is full (default 250 ms).
   */
  readonly pollMs?: number;
  /** The sink is paused past this many bytes of backlog (default 4 MiB). */
  readonly maxBacklogBytes?: number;
}

/**
 * A live tail over the query engine: a forward query from a cursor (the
 * last entry sent), each pass's entries in timestamp order, so every entry
 * goes out once, in order.
 *
 * Where the engine's shards announce what they store (engine.arrivals), the
 * tail sleeps until they do and runs a pass then: an idle tail costs
 * nothing and asks nothing. Entries newer than the reorder window are held
 * for it: the next pass is due when the newest stored entry is `delay` old,
 * a deadline, not a poll. Elsewhere (a cluster) it polls every pollMs.
 * Returns the function that stops it.
 */
export function startTail(engine: QueryService, select: Omit<LogQuery, 'from' | 'to'>, options: TailOptions, sink: TailSink): () => void {
  let open = true;
  let first = true;
  let from = options.from;
  let cursor: string | undefined;
  /** The reorder window's edge the last pass read up to. */
  let reached = from;
  let timer: NodeJS.Timeout | undefined;
  const arrivals = engine.arrivals;
  const pollMs = options.pollMs ?? 250;
  const maxBacklog = options.maxBacklogBytes ?? 4 * 1024 * 1024;
  /** One pass: true when the sink took all there was up to the window's edge (false: it is full, or a page is pending). */
  const pass = async (): Promise<boolean> => {
    const to = nowNs() - options.delay;
    if (sink.backlog() >= maxBacklog) return false;
    if (to <= from) return true;
    if (first) {
      first = false;
      // The newest `limit` entries so far, sent oldest first; then everything after the newest.
      const r = await engine.query({ ...select, from, to, direction: 'backward', limit: options.limit });
      const entries = r.entries.reverse();
      if (open && entries.length > 0) sink.send(entries);
      const last = entries.at(-1);
      cursor = last ? encodeCursor(last) : undefined;
      if (!last) from = to; // nothing yet: look from here on
      reached = to;
      return true;
    }
    const r = await engine.query({ ...select, from, to, direction: 'forward', limit: 1000, cursor });
    if (open && r.entries.length > 0) sink.send(r.entries);
    const last = r.entries.at(-1);
    if (last) cursor = encodeCursor(last);
    reached = to;
    return r.nextCursor === undefined;
  };
  const run = async (): Promise<void> => {
    while (open) {
      // Read before the pass: a store during the pass wakes the wait below at once.
      const seen = arrivals?.seen ?? 0;
      let done = false;
      try {
        done = await pass();
      } catch (err) {
        if (open) sink.error(err as Error);
        done = true;
      }
      if (!open) return;
      if (!done) {
        // A page is pending (go on now), or the sink is full (look again shortly).
        if (sink.backlog() >= maxBacklog) await sleep(pollMs, (t) => (timer = t));
        continue;
      }
      if (!arrivals) {
        await sleep(pollMs, (t) => (timer = t));
        continue;
      }
      // Stored entries still inside the window are due once the newest of them is `delay` old.
      const held = arrivals.newestTs >= reached;
      const dueInMs = held ? Math.max(1, Number(arrivals.newestTs + options.delay - nowNs()) / 1e6 + 1) : undefined;
      await arrivals.changed(seen, dueInMs);
    }
  };
  void run();
  return () => {
    open = false;
    clearTimeout(timer);
    arrivals?.wake();
  };
}

function sleep(ms: number, onTimer: (t: NodeJS.Timeout) => void): Promise<void> {
  return new Promise((resolve) => onTimer(setTimeout(resolve, ms)));
}
