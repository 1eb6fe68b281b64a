import { systemClock, type Clock } from '../supervisor/clock.js';

/**
 * Says loudly, but not endlessly, that a peer sends bytes that are not
 * syslog: the first time, then at most once per interval per peer with the
 * count since the last warning. A JSON shipper pointed at the syslog port
 * (pino-socket, say) otherwise shows only as a counter. Peers are
 * remembered up to a bound (the oldest forgotten first).
 */
export class NotSyslogWarnings {
  private readonly peers = new Map<string, { lastMs: number; suppressed: number }>();

  constructor(
    private readonly warn: (message: string) => void,
    private readonly intervalMs = 10_000,
    private readonly clock: Clock = systemClock,
    private readonly maxPeers = 1024,
  ) {}

  /** `count` messages from `peer` were refused as not syslog; `example` is the first one's reason. */
  refused(peer: string, count: number, example: string): void {
    const now = this.clock.now();
    let p = this.peers.get(peer);
    if (p !== undefined && now - p.lastMs < this.intervalMs) {
      p.suppressed += count;
      return;
    }
    const total = count + (p?.suppressed ?? 0);
    if (p === undefined) {
      if (this.peers.size >= this.maxPeers) this.peers.delete(this.peers.keys().next().value!);
      this.peers.set(peer, (p = { lastMs: now, suppressed: 0 }));
    } else {
      p.lastMs = now;
      p.suppressed = 0;
    }
    // The refusal quotes the message's start as JSON text: `"{\"` is a JSON object's.
    const hint = /"\{\\?"/.test(example)
      ? ' It looks like JSON: a JSON log shipper belongs on the HTTP door (POST /api/v1/ingest, NDJSON), not the syslog port.'
      : '';
    this.warn(`syslog: ${peer} sent ${total} message(s) that are not syslog and were refused (first: ${example}).${hint}`);
  }
}
