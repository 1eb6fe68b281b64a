import { deserialize, serialize } from 'node:v8';
import type { NatsConnection, Subscription } from '@nats-io/nats-core';
import { TributaryError } from '../errors.js';
import type { PipedResult, SampleRequest, SampleResult, Selection } from '../query/select.js';
import { mergeLogAnswers, mergePipedAnswers, mergeSampleAnswers, observeQuery, type QueryOptions, type QueryService } from '../query/engine.js';
import { DEFAULT_BUDGET_MS, DEFAULT_MAX_RESULT_BYTES, planQuery, type LogQuery, type QueryResult } from '../query/model.js';
import { mergeCounts, type CountResult } from '../query/aggregate.js';
import type { MetricQuery } from '../query/logql.js';
import { emptyStats } from '../query/scan.js';
import type { AnomalyEvent } from '../anomaly/detector-actor.js';
import { maxPayload, names } from './nats.js';

/** A query as it crosses NATS (v8-serialized: bigints and all). */
export type ClusterRequest =
  | { readonly kind: 'log'; readonly query: LogQuery; readonly timeoutMs: number; readonly maxBytes: number }
  | { readonly kind: 'metric'; readonly query: MetricQuery; readonly from: bigint; readonly to: bigint; readonly timeoutMs: number }
  | { readonly kind: 'labels'; readonly name: string; readonly from?: bigint; readonly to?: bigint }
  | { readonly kind: 'anomalies'; readonly limit: number }
  | { readonly kind: 'pipe'; readonly selection: Selection; readonly timeoutMs: number; readonly maxBytes: number }
  | { readonly kind: 'samples'; readonly request: SampleRequest; readonly timeoutMs: number };

/** A member's anomaly detection as it answers for it: the services it watches that are flagged now, and its recent events. */
export interface AnomalySnapshot {
  readonly current: AnomalyEvent[];
  readonly history: AnomalyEvent[];
  readonly partial?: { readonly reasons: string[] };
}

/**
 * A member's answer: `result` covers the shards it owns and has caught up
 * (`shards`); `standIns` are shards it handed over and answers for, each
 * on its own, until their new owner does.
 */
type ClusterReply =
  | {
      readonly member: string;
      readonly ok: true;
      readonly shards: readonly string[];
      readonly result: unknown;
      readonly standIns: readonly { readonly shard: string; readonly result: unknown }[];
    }
  | { readonly member: string; readonly ok: false; readonly code: string; readonly message: string };

/** A member's own shards, as the responder answers from them. */
export interface LocalAnswerer {
  /** The shards this member answers for now: as owner, and as a stand-in for one it handed over. */
  coverage(): { readonly serving: readonly string[]; readonly standingIn: readonly string[] };
  /** Queries over these local shards only. */
  engineFor(shards: readonly string[]): QueryService;
  labelValues(name: string, shards: readonly string[], from?: bigint, to?: bigint): Promise<string[]>;
  /** Undefined when this member runs no detectors. */
  anomalies?(limit: number): AnomalySnapshot;
}

/** One request answered over some of this member's shards. */
function answerOver(local: LocalAnswerer, req: ClusterRequest, shards: readonly string[]): Promise<unknown> | unknown {
  const engine = local.engineFor(shards);
  switch (req.kind) {
    case 'log':
      return engine.query(req.query, { timeoutMs: req.timeoutMs, maxBytes: req.maxBytes });
    case 'metric':
      return engine.metric(req.query, req.from, req.to, { timeoutMs: req.timeoutMs });
    case 'labels':
      return local.labelValues(req.name, shards, req.from, req.to);
    case 'pipe':
      return engine.pipe(req.selection, { timeoutMs: req.timeoutMs, maxBytes: req.maxBytes });
    case 'samples':
      return engine.samples(req.request, { timeoutMs: req.timeoutMs });
    case 'anomalies':
      return local.anomalies?.(req.limit) ?? { current: [], history: [] };
  }
}

/**
 * Answers the cluster's scatter-gather queries from the shards this member
 * serves, saying which. Every member subscribes; a query's asker collects
 * the replies and checks that every shard was answered for.
 */
export function serveClusterQueries(nc: NatsConnection, memberId: string, local: LocalAnswerer): Subscription {
  return nc.subscribe(names.query, {
    callback: (err, msg) => {
      if (err) return;
      void (async () => {
        let reply: ClusterReply;
        try {
          const req = deserialize(msg.data) as ClusterRequest;
          // Taken once: the shards named are exactly those the answer covers, whatever moves meanwhile.
          const { serving, standingIn } = local.coverage();
          const standIns = req.kind === 'anomalies' ? [] : standingIn;
          const [result, ...others] = await Promise.all([answerOver(local, req, serving), ...standIns.map((s) => answerOver(local, req, [s]))]);
          reply = { member: memberId, ok: true, shards: serving, result, standIns: standIns.map((shard, i) => ({ shard, result: others[i] })) };
        } catch (e) {
          const err = e as TributaryError;
          reply = { member: memberId, ok: false, code: err.code ?? 'E_INTERNAL', message: err.message };
        }
        msg.respond(serialize(reply));
      })();
    },
  });
}

/** What a query expects answers for. */
export interface ClusterView {
  /** Every shard of the cluster: an answer is whole when each was answered for once. */
  readonly shards: readonly string[];
  /** Members alive now (heartbeats): the asker stops waiting once each has replied. */
  readonly live: readonly string[];
  /** Each shard's lease holder as last seen, named in the reason when a shard goes unanswered. */
  readonly owners?: ReadonlyMap<string, string | null>;
  /**
   * Per live member, the shards its heartbeat says it serves: a stand-in's
   * answer for a shard is not taken while a member that serves it did not
   * answer (it may have stored batches since the hand-over).
   */
  readonly serving?: ReadonlyMap<string, readonly string[]>;
}

/**
 * Queries over the whole cluster: the query is published once on the query
 * subject and every member answers for the shards it serves; the asker
 * gathers answers until every shard is answered for (or every live member
 * has replied, or the deadline passes), then merges them as one daemon
 * merges its shards (by timestamp, an entry held twice kept once). Whole
 * means every shard answered for exactly once: a shard nobody answers for
 * (its owner restoring it, or gone) makes the answer partial, naming it,
 * and so does one answered twice (counts would add it twice).
 */
export class ClusterQueryEngine implements QueryService {
  observer: QueryService['observer'];

  constructor(
    private readonly nc: NatsConnection,
    private readonly view: () => ClusterView,
    private readonly defaults: { readonly maxBytes?: number } = {},
  ) {}

  async query(query: LogQuery, options: QueryOptions = {}): Promise<QueryResult> {
    return this.observed('log', async () => {
      const q = planQuery(query); // a bad query fails here, once, not on every member
      const timeoutMs = options.timeoutMs ?? DEFAULT_BUDGET_MS;
      // One member's answer travels as one NATS message: it must fit the server's max_payload.
      const payloadBound = Math.floor(maxPayload(this.nc) * 0.8);
      const maxBytes = Math.min(options.maxBytes ?? Infinity, this.defaults.maxBytes ?? DEFAULT_MAX_RESULT_BYTES, payloadBound);
      // Members scan with a little less than the whole budget, so their answers arrive before it ends.
      const { answers, missing } = await this.gather<QueryResult>({ kind: 'log', query, timeoutMs: timeoutMs * 0.8, maxBytes }, timeoutMs);
      if (missing.length > 0) answers.push({ entries: [], partial: { reasons: missing }, stats: emptyStats() });
      return mergeLogAnswers(q, answers);
    });
  }

  async metric(query: MetricQuery, from: bigint, to: bigint, options: QueryOptions = {}): Promise<CountResult> {
    return this.observed('metric', async () => {
      const timeoutMs = options.timeoutMs ?? DEFAULT_BUDGET_MS;
      const { answers, missing } = await this.gather<CountResult>({ kind: 'metric', query, from, to, timeoutMs: timeoutMs * 0.8 }, timeoutMs);
      const buckets = Number((to - from + query.range - 1n) / query.range);
      if (missing.length > 0) answers.push({ from, step: query.range, buckets, series: [], partial: { reasons: missing } });
      if (answers.length === 0) return { from, step: query.range, buckets, series: [] };
      return mergeCounts(answers, query.by, query.topk);
    });
  }

  async pipe(selection: Selection, options: QueryOptions = {}): Promise<PipedResult> {
    return this.observed('log', async () => {
      planQuery(selection.query);
      const timeoutMs = options.timeoutMs ?? DEFAULT_BUDGET_MS;
      const payloadBound = Math.floor(maxPayload(this.nc) * 0.8);
      const maxBytes = Math.min(options.maxBytes ?? Infinity, this.defaults.maxBytes ?? DEFAULT_MAX_RESULT_BYTES, payloadBound);
      const { answers, missing } = await this.gather<PipedResult>({ kind: 'pipe', selection, timeoutMs: timeoutMs * 0.8, maxBytes }, timeoutMs);
      if (missing.length > 0) answers.push({ entries: [], partial: { reasons: missing }, stats: emptyStats() });
      return mergePipedAnswers(selection, answers);
    });
  }

  async samples(request: SampleRequest, options: QueryOptions = {}): Promise<SampleResult> {
    return this.observed('metric', async () => {
      planQuery(request.query);
      const timeoutMs = options.timeoutMs ?? DEFAULT_BUDGET_MS;
      const { answers, missing } = await this.gather<SampleResult>({ kind: 'samples', request, timeoutMs: timeoutMs * 0.8 }, timeoutMs);
      if (missing.length > 0) answers.push({ series: [], partial: { reasons: missing }, stats: emptyStats() });
      return mergeSampleAnswers(answers);
    });
  }

  async labelValues(name: string, from?: bigint, to?: bigint): Promise<string[]> {
    const { answers } = await this.gather<string[]>({ kind: 'labels', name, from, to }, DEFAULT_BUDGET_MS);
    return [...new Set(answers.flat())].sort();
  }

  /**
   * Anomaly detection across the cluster: each service is watched by the
   * member owning its detector slot, so the flagged services are the union
   * of what each member flags for the slots it owns (a service reported by
   * two, during a hand-over, keeps its latest event), and the history is
   * every member's events in time order, the last `limit`.
   */
  async anomalies(limit: number): Promise<AnomalySnapshot> {
    const { answers, missing } = await this.gather<AnomalySnapshot>({ kind: 'anomalies', limit }, DEFAULT_BUDGET_MS);
    const current = new Map<string, AnomalyEvent>();
    for (const e of answers.flatMap((a) => a.current)) if ((current.get(e.service)?.at ?? -1) < e.at) current.set(e.service, e);
    const history = answers
      .flatMap((a) => a.history)
      .sort((a, b) => a.at - b.at)
      .slice(-limit);
    return { current: [...current.values()].sort((a, b) => a.at - b.at), history, ...(missing.length > 0 ? { partial: { reasons: missing } } : {}) };
  }

  private async gather<T>(request: ClusterRequest, timeoutMs: number): Promise<{ answers: T[]; missing: string[] }> {
    const { shards, live, owners, serving } = this.view();
    const answers: T[] = [];
    const replied = new Set<string>();
    const errors: string[] = [];
    /** Per shard, the members that answered for it as owner. */
    const owned = new Map<string, string[]>();
    const standIns = new Map<string, T>();
    // A stand-in answers as the shard was at its hand-over: kept only if its new owner has not answered by the end.
    const whole = () => shards.every((s) => owned.has(s));
    // Not "the first live.length replies": a member this view does not list yet (it joined a tick ago) answers too.
    const replies = await this.nc.requestMany(names.query, serialize(request), { strategy: 'timer', maxWait: timeoutMs });
    try {
      for await (const msg of replies) {
        const reply = deserialize(msg.data) as ClusterReply;
        if (replied.has(reply.member)) continue;
        replied.add(reply.member);
        if (reply.ok) {
          answers.push(reply.result as T);
          for (const s of reply.shards) owned.set(s, [...(owned.get(s) ?? []), reply.member]);
          for (const si of reply.standIns) if (!standIns.has(si.shard)) standIns.set(si.shard, si.result as T);
        } else if (reply.code === 'E_QUERY_INVALID') throw new TributaryError('E_QUERY_INVALID', reply.message, {});
        else errors.push(`member ${reply.member} failed: ${reply.message}`);
        // Leaving ends the request: once every shard's owner has answered, or every member expected has replied.
        if ((request.kind !== 'anomalies' && whole()) || live.every((m) => replied.has(m))) break;
      }
    } catch (err) {
      if (err instanceof TributaryError) throw err;
      // No member answered at all (no responders): every shard below is missing.
    }
    const missing: string[] = [];
    if (request.kind === 'anomalies') {
      missing.push(...errors);
      for (const m of live) if (!replied.has(m)) missing.push(`member ${m} did not answer within ${timeoutMs} ms`);
      return { answers, missing };
    }
    for (const shard of shards) {
      const by = owned.get(shard);
      if (by && by.length > 1) missing.push(`${shard} was answered for by ${by.join(' and ')} during a hand-over: counts may hold it twice`);
      if (by) continue;
      const standIn = standIns.get(shard);
      const silentOwner = [...(serving ?? [])].find(([m, served]) => served.includes(shard) && !replied.has(m))?.[0];
      // Handed over, its successor not serving yet: as it was at the hand-over.
      if (standIn !== undefined && silentOwner === undefined) answers.push(standIn);
      else if (silentOwner !== undefined) missing.push(`no member answered for ${shard}: ${silentOwner} serves it and did not answer`);
      else {
        const owner = owners?.get(shard);
        missing.push(`no member answered for ${shard}${owner ? ` (its owner ${owner} is restoring it, or did not answer)` : ' (it is moving to a new owner)'}`);
      }
    }
    if (missing.length > 0) {
      missing.push(...errors);
      for (const m of live) if (!replied.has(m)) missing.push(`member ${m} did not answer within ${timeoutMs} ms`);
    }
    return { answers, missing };
  }

  private observed<T extends { partial?: unknown }>(kind: 'log' | 'metric', answer: () => Promise<T>): Promise<T> {
    return observeQuery(this.observer, kind, answer);
  }
}
