/** Upper bounds (seconds) of the WAL fsync latency buckets; the last is +Inf. */
export const WAL_SYNC_BUCKETS_S = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, Infinity] as const;

/** A latency histogram kept by a shard thread and read at scrape time: counts per bucket (not cumulative), their sum in seconds. */
export interface SyncLatency {
  readonly counts: number[];
  sum: number;
}
