import test from 'ava';
import fc from 'fast-check';
import { WindowTable, type WindowRule } from '../../src/anomaly/window.js';

/** The brute-force reference: per service, an array of its last N levels, and the flag by the definition. */
class Reference {
  private readonly windows = new Map<string, boolean[]>();
  private readonly flagged = new Set<string>();
  constructor(private readonly rule: (service: string) => WindowRule) {}
  push(service: string, isError: boolean): 'flag' | 'clear' | undefined {
    const r = this.rule(service);
    const w = this.windows.get(service) ?? [];
    w.push(isError);
    if (w.length > r.size) w.shift();
    this.windows.set(service, w);
    const errors = w.filter(Boolean).length;
    if (!this.flagged.has(service) && errors > r.threshold) {
      this.flagged.add(service);
      return 'flag';
    }
    if (this.flagged.has(service) && errors <= r.threshold - (r.hysteresis ?? 0)) {
      this.flagged.delete(service);
      return 'clear';
    }
    return undefined;
  }
  errors(service: string): number {
    return (this.windows.get(service) ?? []).filter(Boolean).length;
  }
}

const ruleArb = fc.record({ size: fc.integer({ min: 1, max: 70 }), t: fc.nat(100), h: fc.nat(100) }).map(({ size, t, h }) => {
  const threshold = t % size;
  return { size, threshold, hysteresis: h % (threshold + 1) } satisfies WindowRule;
});

test('windows match a brute-force reference on random streams: counts, flags and clears, with per-service rules and hysteresis (property)', (t) => {
  fc.assert(
    fc.property(
      ruleArb,
      ruleArb,
      fc.array(fc.tuple(fc.constantFrom('a', 'b', 'c', 'd'), fc.boolean(), fc.nat(9)), { maxLength: 600 }),
      (rule, special, stream) => {
        const table = new WindowTable(rule, { d: special });
        const ref = new Reference((s) => (s === 'd' ? special : rule));
        for (const [service, coin, bias] of stream) {
          // Runs of errors and of calm, not just coin flips: flags need bursts to happen.
          const isError = bias < 3 ? true : bias > 6 ? false : coin;
          if (table.push(service, isError) !== ref.push(service, isError)) return false;
          if (table.state(service)!.errors !== ref.errors(service)) return false;
        }
        return true;
      },
    ),
    { numRuns: 300 },
  );
  t.pass();
});

test('a snapshot restores the same windows: the restored table goes on exactly as the original (property)', (t) => {
  fc.assert(
    fc.property(
      ruleArb,
      fc.array(fc.tuple(fc.constantFrom('a', 'b', 'c'), fc.boolean()), { maxLength: 300 }),
      fc.array(fc.tuple(fc.constantFrom('a', 'b', 'c', 'new'), fc.boolean()), { maxLength: 300 }),
      (rule, before, after) => {
        const original = new WindowTable(rule);
        for (const [s, e] of before) original.push(s, e);
        const restored = WindowTable.restore(original.snapshot(), rule);
        return after.every(([s, e]) => original.push(s, e) === restored.push(s, e) && original.state(s)!.errors === restored.state(s)!.errors);
      },
    ),
  );
  t.pass();
});

test('100,000 services at N = 1000: about N bits each', (t) => {
  const table = new WindowTable({ size: 1000, threshold: 10 });
  for (let i = 0; i < 100_000; i++) table.push(`service-${i}`, i % 3 === 0);
  t.is(table.services, 100_000);
  // 1000 bits = 125 bytes (32 words = 128), plus 13 bytes of state; arrays grow by doubling, so at most twice that.
  const perService = table.bytes / table.services;
  t.true(perService >= 141 && perService <= 2 * 141, `${perService.toFixed(1)} bytes per service`);
});

test('rules are checked: a threshold at or above the window size, or a bad hysteresis, is a configuration error', (t) => {
  t.throws(() => new WindowTable({ size: 10, threshold: 10 }), { code: 'E_CONFIG_INVALID' } as never);
  t.throws(() => new WindowTable({ size: 10, threshold: 3, hysteresis: 4 }), { code: 'E_CONFIG_INVALID' } as never);
  t.throws(() => new WindowTable({ size: 10, threshold: 3 }, { api: { size: 0, threshold: 0 } }), { code: 'E_CONFIG_INVALID' } as never);
});
