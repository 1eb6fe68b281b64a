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
  /** Between polls when there was nothing more (default 250 ms). */
  readonly pollMs?: number;
  /** The sink is paused past this many bytes of backlog (default 4 MiB). */
  readonly maxBacklogBytes?: number;
}

/**
 * A live tail over the query engine: a forward query from a cursor, polled;
 * each poll's entries in timestamp order. Returns the function that stops it.
 */
export function startTail(engine: QueryService, select: Omit<LogQuery, 'from' | 'to'>, options: TailOptions, sink: TailSink): () => void {
  let open = true;
  let first = true;
  let from = options.from;
  let cursor: string | undefined;
  let timer: NodeJS.Timeout | undefined;
  const maxBacklog = options.maxBacklogBytes ?? 4 * 1024 * 1024;
  const poll = async (): Promise<void> => {
    let more = false;
    try {
      const to = nowNs() - options.delay;
      if (sink.backlog() < maxBacklog && to > from) {
        if (first) {
          first = false;
          // The newest `limit` entries so far, sent oldest first; then everything after the newest.
          const r = await engine.query({ ...select, from, to, direction: 'backward', limit: options.limit });
          const entries = r.entries.reverse();
          if (open && entries.length > 0) sink.send(entries);
          const last = entries.at(-1);
          cursor = last ? encodeCursor(last) : undefined;
          if (!last) from = to; // nothing yet: look from here on
        } else {
          const r = await engine.query({ ...select, from, to, direction: 'forward', limit: 1000, cursor });
          if (open && r.entries.length > 0) sink.send(r.entries);
          const last = r.entries.at(-1);
          if (last) cursor = encodeCursor(last);
          more = r.nextCursor !== undefined;
        }
      }
    } catch (err) {
      if (open) sink.error(err as Error);
    }
    if (open) timer = setTimeout(() => void poll(), more ? 0 : (options.pollMs ?? 250));
  };
  void poll();
  return () => {
    open = false;
    clearTimeout(timer);
  };
}
