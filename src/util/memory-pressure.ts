/**
 * Whether the process is near its memory budget, as the parts that admit
 * work (ingest doors, the query gate) read it. The daemon's governor
 * provides it; a part given none never feels pressure.
 */
export interface MemoryPressure {
  /** True while resident memory is near the budget: admit one piece of work at a time. */
  readonly high: boolean;
  /** Calls `listener` on every change of `high`; returns the unsubscribe. */
  onChange(listener: (high: boolean) => void): () => void;
}

/** No pressure, ever (tests and embedded uses that set no budget). */
export const NO_PRESSURE: MemoryPressure = { high: false, onChange: () => () => {} };

/** What the daemon's memory governor has seen (daemon/memory-governor.ts), for the metrics and the status API. */
export interface MemoryReadings {
  readonly budgetBytes: number;
  readonly residentBytes: number;
  readonly peakResidentBytes: number;
  readonly high: boolean;
  /** Times pressure started. */
  readonly pressureEpisodes: number;
  /** Milliseconds spent under pressure, the current episode included. */
  readonly pressureMs: number;
}
