import { TributaryError } from '../errors.js';

/** Window size and threshold: flagged while more than `threshold` of the last `size` entries are ERROR. */
export interface WindowRule {
  /** N: entries in the window (default 1000). */
  readonly size: number;
  /** T: flagged when the ERROR count exceeds it (default 10). */
  readonly threshold: number;
  /** Cleared only once the count is at or below threshold - hysteresis (default 0). */
  readonly hysteresis?: number;
}

export const DEFAULT_RULE: WindowRule = { size: 1000, threshold: 10, hysteresis: 0 };

/** A change of a service's state, returned by push when it happens. */
export type Transition = 'flag' | 'clear';

/** One service's window, as read for an answer or a snapshot. */
export interface WindowState {
  readonly service: string;
  readonly errors: number;
  /** Entries in the window (below `size` until the window first fills). */
  readonly filled: number;
  readonly size: number;
  readonly threshold: number;
  readonly flagged: boolean;
}

/** Serialised windows (a replica's snapshot for its restarting primary). */
export interface WindowSnapshot {
  readonly services: string[];
  /** Per service: position, filled, errors, flagged (4 numbers each). */
  readonly meta: Uint32Array;
  /** Per service, its bit ring's words (in service order, each its rule's word count). */
  readonly bits: Uint32Array;
}

function checkRule(rule: WindowRule, what: string): void {
  if (!Number.isInteger(rule.size) || rule.size < 1 || rule.size > 1_000_000) {
    throw new TributaryError('E_CONFIG_INVALID', `${what}: window size must be an integer in 1..1000000, got ${rule.size}`, { size: rule.size });
  }
  if (!Number.isInteger(rule.threshold) || rule.threshold < 0 || rule.threshold >= rule.size) {
    throw new TributaryError('E_CONFIG_INVALID', `${what}: threshold must be an integer in 0..size-1, got ${rule.threshold}`, { threshold: rule.threshold });
  }
  const h = rule.hysteresis ?? 0;
  if (!Number.isInteger(h) || h < 0 || h > rule.threshold) {
    throw new TributaryError('E_CONFIG_INVALID', `${what}: hysteresis must be an integer in 0..threshold, got ${h}`, { hysteresis: h });
  }
}

/**
 * Sliding windows of the last N levels for many services, as bits: 1 for
 * ERROR. Each service has a slot in shared arrays (no object per service):
 * its ring of ceil(N/32) words, its write position, how full the ring is,
 * its running ERROR count and whether it is flagged. A push is O(1): the
 * bit leaving the window is read, the new one written, the count adjusted.
 * Memory: N/8 bytes per service plus 16 bytes of state and the service's
 * name in a Map: about 140 bytes per service at N = 1000.
 */
export class WindowTable {
  private readonly slots = new Map<string, number>();
  private readonly names: string[] = [];
  private readonly rules: WindowRule[] = [];
  /** Word offset of each slot's ring in `bits`. */
  private offsets = new Uint32Array(1024);
  private pos = new Uint32Array(1024);
  private filled = new Uint32Array(1024);
  private errors = new Uint32Array(1024);
  private flagged = new Uint8Array(1024);
  private bits = new Uint32Array(1024 * 32);
  private bitsUsed = 0;

  constructor(
    private readonly rule: WindowRule = DEFAULT_RULE,
    private readonly overrides: Readonly<Record<string, WindowRule>> = {},
  ) {
    checkRule(rule, 'anomaly rule');
    for (const [service, r] of Object.entries(overrides)) checkRule(r, `anomaly rule for ${service}`);
  }

  get services(): number {
    return this.names.length;
  }

  /** Bytes held by the windows' arrays (not the names). */
  get bytes(): number {
    return this.bits.byteLength + this.offsets.byteLength + this.pos.byteLength + this.filled.byteLength + this.errors.byteLength + this.flagged.byteLength;
  }

  ruleFor(service: string): WindowRule {
    return this.overrides[service] ?? this.rule;
  }

  /** Adds one entry of `service`; returns the transition it causes, if any. */
  push(service: string, isError: boolean): Transition | undefined {
    let s = this.slots.get(service);
    if (s === undefined) s = this.add(service);
    const rule = this.rules[s]!;
    const p = this.pos[s]!;
    const word = this.offsets[s]! + (p >>> 5);
    const mask = 1 << (p & 31);
    let errors = this.errors[s]!;
    if (this.filled[s]! === rule.size) {
      if (this.bits[word]! & mask) errors--;
    } else this.filled[s]!++;
    if (isError) {
      this.bits[word]! |= mask;
      errors++;
    } else this.bits[word]! &= ~mask;
    this.errors[s] = errors;
    this.pos[s] = p + 1 === rule.size ? 0 : p + 1;
    if (this.flagged[s] === 0) {
      if (errors > rule.threshold) {
        this.flagged[s] = 1;
        return 'flag';
      }
    } else if (errors <= rule.threshold - (rule.hysteresis ?? 0)) {
      this.flagged[s] = 0;
      return 'clear';
    }
    return undefined;
  }

  state(service: string): WindowState | undefined {
    const s = this.slots.get(service);
    if (s === undefined) return undefined;
    const rule = this.rules[s]!;
    return { service, errors: this.errors[s]!, filled: this.filled[s]!, size: rule.size, threshold: rule.threshold, flagged: this.flagged[s] === 1 };
  }

  /** Every flagged service's state. */
  flaggedStates(): WindowState[] {
    const out: WindowState[] = [];
    for (let s = 0; s < this.names.length; s++) if (this.flagged[s] === 1) out.push(this.state(this.names[s]!)!);
    return out;
  }

  snapshot(): WindowSnapshot {
    const n = this.names.length;
    const meta = new Uint32Array(n * 4);
    for (let s = 0; s < n; s++) meta.set([this.pos[s]!, this.filled[s]!, this.errors[s]!, this.flagged[s]!], s * 4);
    return { services: [...this.names], meta, bits: this.bits.slice(0, this.bitsUsed) };
  }

  /** A table holding exactly the snapshot's windows (under the given rules). */
  static restore(snapshot: WindowSnapshot, rule: WindowRule = DEFAULT_RULE, overrides: Readonly<Record<string, WindowRule>> = {}): WindowTable {
    const t = new WindowTable(rule, overrides);
    let word = 0;
    snapshot.services.forEach((service, i) => {
      const s = t.add(service);
      const words = Math.ceil(t.rules[s]!.size / 32);
      t.bits.set(snapshot.bits.subarray(word, word + words), t.offsets[s]!);
      word += words;
      const [pos, filled, errors, flagged] = snapshot.meta.subarray(i * 4, i * 4 + 4);
      t.pos[s] = pos!;
      t.filled[s] = filled!;
      t.errors[s] = errors!;
      t.flagged[s] = flagged!;
    });
    return t;
  }

  private add(service: string): number {
    const s = this.names.length;
    const rule = this.ruleFor(service);
    const words = Math.ceil(rule.size / 32);
    if (s === this.pos.length) this.growSlots();
    while (this.bitsUsed + words > this.bits.length) {
      const bigger = new Uint32Array(this.bits.length * 2);
      bigger.set(this.bits);
      this.bits = bigger;
    }
    this.offsets[s] = this.bitsUsed;
    this.bitsUsed += words;
    this.names.push(service);
    this.rules.push(rule);
    this.slots.set(service, s);
    return s;
  }

  private growSlots(): void {
    const grow = <T extends Uint32Array | Uint8Array>(a: T): T => {
      const b = new (a.constructor as new (n: number) => T)(a.length * 2);
      b.set(a);
      return b;
    };
    this.offsets = grow(this.offsets);
    this.pos = grow(this.pos);
    this.filled = grow(this.filled);
    this.errors = grow(this.errors);
    this.flagged = grow(this.flagged);
  }
}
