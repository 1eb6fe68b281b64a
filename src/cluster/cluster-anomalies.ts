import type { NatsConnection } from '@nats-io/nats-core';
import type { AnomalyEvent } from '../anomaly/detector-actor.js';
import type { AnomalyMonitor } from '../anomaly/monitor.js';
import type { AnomalySource } from '../http/anomalies.js';
import type { AnomalySnapshot, ClusterQueryEngine } from './cluster-query.js';
import { names } from './nats.js';

/**
 * The anomaly API's view in a cluster. Each service is watched by one
 * member (the owner of its detector slot), so the flagged services and
 * history come from every member (scatter-gather, marked partial when a
 * member does not answer), and the live stream is every member's events,
 * which each publishes as they happen (publishAnomalies).
 */
export class ClusterAnomalySource implements AnomalySource {
  constructor(
    private readonly nc: NatsConnection,
    private readonly engine: ClusterQueryEngine,
  ) {}

  snapshot(limit: number): Promise<AnomalySnapshot> {
    return this.engine.anomalies(limit);
  }

  subscribe(listener: (e: AnomalyEvent) => void): () => void {
    const sub = this.nc.subscribe(names.anomalies, {
      callback: (err, msg) => {
        if (err) return;
        try {
          listener(msg.json<AnomalyEvent>());
        } catch {
          // a malformed message, or a subscriber's failure: neither stops the stream
        }
      },
    });
    return () => sub.unsubscribe();
  }
}

/** Publishes this member's anomaly events to the cluster's stream; returns the stop. */
export function publishAnomalies(nc: NatsConnection, monitor: AnomalyMonitor): () => void {
  return monitor.subscribe((e) => {
    try {
      nc.publish(names.anomalies, JSON.stringify(e));
    } catch {
      // NATS closed or reconnecting with a full buffer: the event stays in this member's history and current set
    }
  });
}
