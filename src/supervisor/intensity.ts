/** Restart intensity (OTP): at most `maxRestarts` restarts within any `withinMs` window. */
export interface Intensity {
  readonly maxRestarts: number;
  readonly withinMs: number;
}

export const DEFAULT_INTENSITY: Intensity = { maxRestarts: 10, withinMs: 10_000 };

/** Sliding window of restart times; `record` says whether one more restart is allowed. */
export class IntensityWindow {
  private readonly times: number[] = [];

  constructor(private readonly intensity: Intensity) {}

  /** Records a restart at `now`; false when it would exceed the intensity. */
  record(now: number): boolean {
    while (this.times.length > 0 && now - this.times[0]! >= this.intensity.withinMs) this.times.shift();
    this.times.push(now);
    return this.times.length <= this.intensity.maxRestarts;
  }

  get recent(): number {
    return this.times.length;
  }

  reset(): void {
    this.times.length = 0;
  }
}
