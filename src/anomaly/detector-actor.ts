import { defineBehaviour } from '../actors/behaviour.js';
import { Level } from '../model/level.js';
import { readFeed } from './feed.js';
import { DEFAULT_RULE, WindowTable, type WindowRule, type WindowSnapshot, type WindowState } from './window.js';

export interface DetectorArgs {
  readonly rule?: WindowRule;
  /** Per service rules, replacing the global one. */
  readonly services?: Readonly<Record<string, WindowRule>>;
}

/** A flag or clear, as a detector publishes it. */
export interface AnomalyEvent {
  readonly type: 'flag' | 'clear';
  readonly service: string;
  /** Wall-clock time of the detection, ms since the epoch. */
  readonly at: number;
  /** The timestamp of the entry that crossed the threshold, ns (a string: JSON numbers lose it). */
  readonly ts: string;
  /** ERROR entries in the window after that entry. */
  readonly errors: number;
  readonly window: number;
  readonly threshold: number;
  /** The entry that tipped it, to fetch it: its (source, seq). */
  readonly entry: { readonly source: string; readonly seq: string };
}

export type DetectorRequest = { op: 'flagged' } | { op: 'state'; service: string } | { op: 'stats' };

export interface DetectorStats {
  readonly services: number;
  readonly bytes: number;
  readonly entries: number;
  readonly flagged: number;
}

interface State {
  table: WindowTable;
  entries: number;
}

/**
 * A detector: the windows of the services that hash to it. It receives the
 * shards' feeds (service, level, timestamp, id of each stored entry) and
 * publishes a flag when a service's ERROR count in its last N entries goes
 * above T, a clear when it falls back. Its replica processes the same feeds
 * and publishes nothing; a restarted primary takes the replica's windows,
 * so a crash neither loses nor invents an anomaly.
 */
export const detectorActor = defineBehaviour<State, DetectorArgs, DetectorRequest, AnomalyEvent[] | WindowState | DetectorStats | WindowState[] | undefined>({
  init(args) {
    return { table: new WindowTable(args.rule ?? DEFAULT_RULE, args.services ?? {}), entries: 0 };
  },
  restore(snapshot, args) {
    const s = snapshot as { windows: WindowSnapshot; entries: number };
    return { table: WindowTable.restore(s.windows, args.rule ?? DEFAULT_RULE, args.services ?? {}), entries: s.entries };
  },
  snapshot(state) {
    return { windows: state.table.snapshot(), entries: state.entries };
  },
  receive(state, frame, ctx) {
    const publish = ctx.role === 'primary';
    let transitions: { type: 'flag' | 'clear'; window: WindowState; ts: bigint; index: number }[] | undefined;
    const { source, firstSeq } = readFeed(frame.body, (service, level, ts, index) => {
      state.entries++;
      const t = state.table.push(service, level === Level.ERROR);
      // The window as the crossing entry left it (the rest of the frame moves it on).
      if (t && publish) (transitions ??= []).push({ type: t, window: state.table.state(service)!, ts, index });
    });
    if (!transitions) return;
    const at = Date.now();
    for (const t of transitions) {
      const w = t.window;
      ctx.publish({
        type: t.type,
        service: w.service,
        at,
        ts: t.ts.toString(),
        errors: w.errors,
        window: w.size,
        threshold: w.threshold,
        entry: { source, seq: (firstSeq + BigInt(t.index)).toString() },
      } satisfies AnomalyEvent);
    }
  },
  ask(state, req) {
    if (req.op === 'flagged') return state.table.flaggedStates();
    if (req.op === 'state') return state.table.state(req.service);
    return { services: state.table.services, bytes: state.table.bytes, entries: state.entries, flagged: state.table.flaggedStates().length };
  },
});
