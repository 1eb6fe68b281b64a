import { Counter, Gauge, type Registry } from 'prom-client';
import type { AnomalyMonitor } from '../anomaly/monitor.js';
import { OTHER_SERVICES } from '../anomaly/monitor.js';
import type { WebhookNotifier } from '../anomaly/webhook.js';
import { oncePerScrape } from './scrape.js';

/** A webhook as a label: origin and path, never the query (where tokens tend to be). */
function targetOf(url: string): string {
  const u = new URL(url);
  return `${u.origin}${u.pathname}`;
}

/**
 * The anomaly metrics, read from the monitor at scrape time (nothing is
 * counted twice, and a scrape costs one ask per detector):
 * - per service: `tributary_anomaly_flagged` (1 while flagged, 0 after),
 *   `tributary_anomaly_flags_total`, `tributary_anomaly_clears_total`;
 *   the series are bounded by the monitor's `maxCountedServices`, past
 *   which services are added up under service="_other";
 * - `tributary_anomaly_services_flagged`, and the detectors' tracked
 *   services, window bytes and entries seen;
 * - per webhook (labelled by origin and path): events delivered, failed and dropped, and queued now.
 */
export function registerAnomalyMetrics(registry: Registry, monitor: AnomalyMonitor, webhooks: readonly WebhookNotifier[]): void {
  new Gauge({
    name: 'tributary_anomaly_flagged',
    help: 'Whether the service is flagged now: more than T of its last N entries are ERROR (1) or not (0).',
    labelNames: ['service'],
    registers: [registry],
    collect() {
      this.reset();
      const counted = monitor.counters();
      let others = 0;
      for (const e of monitor.current()) {
        if (counted.has(e.service)) this.set({ service: e.service }, 1);
        else others++;
      }
      for (const service of counted.keys()) {
        if (service === OTHER_SERVICES) this.set({ service }, others);
        else if (!monitor.isFlagged(service)) this.set({ service }, 0);
      }
    },
  });
  for (const [kind, field] of [
    ['flags', 'flags'],
    ['clears', 'clears'],
  ] as const) {
    new Counter({
      name: `tributary_anomaly_${kind}_total`,
      help: `${kind === 'flags' ? 'Flag' : 'Clear'} events per service since the daemon started.`,
      labelNames: ['service'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [service, c] of monitor.counters()) this.inc({ service }, c[field]);
      },
    });
  }
  new Gauge({
    name: 'tributary_anomaly_services_flagged',
    help: 'Services flagged now.',
    registers: [registry],
    collect() {
      this.set(monitor.current().length);
    },
  });
  // One ask per detector per scrape, shared by the three gauges.
  const detectorStats = oncePerScrape(() => monitor.detectorStats());
  const detectors = (name: string, help: string, pick: (s: { services: number; bytes: number; entries: number }) => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      async collect() {
        const stats = await detectorStats();
        this.set(stats.reduce((sum, s) => sum + pick(s), 0));
      },
    });
  detectors('tributary_anomaly_tracked_services', 'Services with a window in the detectors.', (s) => s.services);
  detectors('tributary_anomaly_window_bytes', 'Bytes the detectors hold for windows.', (s) => s.bytes);
  detectors('tributary_anomaly_entries_seen', 'Entries the detectors have counted since they started.', (s) => s.entries);
  new Counter({
    name: 'tributary_anomaly_webhook_events_total',
    help: 'Anomaly events per webhook and outcome (delivered, failed after retries or refused, dropped from a full queue).',
    labelNames: ['target', 'outcome'],
    registers: [registry],
    collect() {
      this.reset();
      for (const w of webhooks) {
        const s = w.stats();
        const target = targetOf(s.url);
        this.inc({ target, outcome: 'delivered' }, s.delivered);
        this.inc({ target, outcome: 'failed' }, s.failed);
        this.inc({ target, outcome: 'dropped' }, s.dropped);
      }
    },
  });
  new Gauge({
    name: 'tributary_anomaly_webhook_queued',
    help: 'Anomaly events waiting for a webhook.',
    labelNames: ['target'],
    registers: [registry],
    collect() {
      this.reset();
      for (const w of webhooks) this.set({ target: targetOf(w.stats().url) }, w.stats().queued);
    },
  });
}
