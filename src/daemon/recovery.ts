import { existsSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RecoveryReport } from '../index/store.js';

/** Written by a stop that flushed everything; removed at start. Its absence at start means the last run ended otherwise. */
const CLEAN_STOP_FILE = 'clean-stop';

export interface RecoverySummary {
  /** The data directory held data from an earlier run. */
  readonly previousRun: boolean;
  /** That run stopped cleanly (drained and synced); false after a crash, kill -9 or power loss. */
  readonly cleanStop: boolean;
  readonly shards: { readonly name: string; readonly report: RecoveryReport | null }[];
  readonly blocks: number;
  readonly blockEntries: number;
  readonly replayedEntries: number;
  readonly walSegments: number;
  /** Bytes at a WAL's end that did not form a whole record (a write cut off by the crash): dropped, never acknowledged. */
  readonly truncatedBytes: number;
  readonly quarantined: number;
  readonly removedTmp: number;
}

/** Whether the previous run stopped cleanly; forgets it, so that a crash of this run is seen by the next. */
export function takeCleanStopMark(dataDir: string): { previousRun: boolean; cleanStop: boolean } {
  const mark = join(dataDir, CLEAN_STOP_FILE);
  const shardsDir = join(dataDir, 'shards');
  const previousRun = existsSync(shardsDir) && readdirSync(shardsDir).length > 0;
  const cleanStop = existsSync(mark);
  rmSync(mark, { force: true });
  return { previousRun, cleanStop };
}

/** Marks the data directory as stopped cleanly (after every shard has synced and closed). */
export function markCleanStop(dataDir: string): void {
  writeFileSync(join(dataDir, CLEAN_STOP_FILE), `${new Date().toISOString()}\n`);
}

export function summarize(mark: { previousRun: boolean; cleanStop: boolean }, shards: RecoverySummary['shards']): RecoverySummary {
  const sum = (f: (r: RecoveryReport) => number) => shards.reduce((a, s) => a + (s.report ? f(s.report) : 0), 0);
  return {
    ...mark,
    shards,
    blocks: sum((r) => r.blocks),
    blockEntries: sum((r) => r.blockEntries),
    replayedEntries: sum((r) => r.replayedEntries),
    walSegments: sum((r) => r.wal.segments),
    truncatedBytes: sum((r) => r.wal.truncatedBytes),
    quarantined: sum((r) => r.quarantined.length),
    removedTmp: sum((r) => r.removedTmp),
  };
}

/** One line for the log: what the start found and repaired. */
export function describeRecovery(s: RecoverySummary): string {
  if (!s.previousRun) return 'recovery: new data directory';
  const how = s.cleanStop ? 'the last run stopped cleanly' : 'the last run did not stop cleanly (crash, kill -9 or power loss): recovered from the WAL';
  const parts = [
    `${s.blocks} blocks (${s.blockEntries.toLocaleString('en')} entries)`,
    `${s.replayedEntries.toLocaleString('en')} entries replayed from ${s.walSegments} WAL segments`,
  ];
  if (s.truncatedBytes > 0) parts.push(`${s.truncatedBytes} bytes of a torn WAL tail dropped (never acknowledged)`);
  if (s.quarantined > 0) parts.push(`${s.quarantined} corrupt files quarantined`);
  if (s.removedTmp > 0) parts.push(`${s.removedTmp} unfinished temporary files removed`);
  return `recovery: ${how}; ${parts.join(', ')}`;
}
