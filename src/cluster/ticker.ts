/**
 * A step run now (or after one period) and then every period, one run at a
 * time, until ended: a member's heartbeat, balance and checkpoint loops. A
 * step that fails is logged, and the next runs on time.
 */
export class Ticker {
  private timer: NodeJS.Timeout | undefined;
  private ended = false;
  /** The run in progress, or the last one. */
  running: Promise<void> = Promise.resolve();

  constructor(
    private readonly what: string,
    private readonly everyMs: number,
    private readonly step: () => Promise<void>,
    private readonly log: (level: 'warn', message: string, fields?: Record<string, unknown>) => void,
  ) {}

  /** Starts ticking; resolves after the first run (at once when `now` is false: the first run is a period away). */
  start(now = true): Promise<void> {
    if (!now) {
      this.timer = setTimeout(() => void this.run(), this.everyMs);
      return Promise.resolve();
    }
    return this.run();
  }

  /** No more runs; one in progress finishes (await `running`). */
  end(): void {
    this.ended = true;
    clearTimeout(this.timer);
  }

  private run(): Promise<void> {
    this.running = this.step()
      .catch((err: Error) => this.log('warn', `cluster ${this.what}: ${err.message}`, { error: err }))
      .finally(() => {
        if (!this.ended) this.timer = setTimeout(() => void this.run(), this.everyMs);
      });
    return this.running;
  }
}
