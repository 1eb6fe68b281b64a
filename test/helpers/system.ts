import type { ExecutionContext } from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ActorSystem, type ActorSystemOptions } from '../../src/actors/system.js';
import type { RuntimeEvent } from '../../src/actors/events.js';

export const fixture = (name: string) => new URL(`../fixtures/actors/${name}.js`, import.meta.url);

/** A fresh temporary directory, removed when the test ends. */
export function tempDir(t: ExecutionContext, prefix = 'tributary-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Starts a system that is stopped when the test ends, recording its events. */
export async function startSystem(
  t: ExecutionContext,
  options: ActorSystemOptions = {},
): Promise<{ system: ActorSystem; events: RuntimeEvent[]; deadLetters: string }> {
  const dir = tempDir(t);
  const deadLetters = join(dir, 'dead-letters.ndjson');
  const system = await ActorSystem.start({ workers: 2, ringBytes: 1 << 20, deadLetterPath: deadLetters, ...options });
  const events: RuntimeEvent[] = [];
  system.subscribe((e) => events.push(e));
  t.teardown(() => system.stop());
  return { system, events, deadLetters };
}

/** Resolves with the first event matching `pred` (already seen or future), or rejects after the timeout. */
export function nextEvent<E extends RuntimeEvent['type']>(
  system: ActorSystem,
  type: E,
  pred: (e: Extract<RuntimeEvent, { type: E }>) => boolean = () => true,
  timeoutMs = 20_000,
): Promise<Extract<RuntimeEvent, { type: E }>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no ${type} event within ${timeoutMs} ms`));
    }, timeoutMs);
    const off = system.subscribe((e) => {
      if (e.type === type && pred(e as Extract<RuntimeEvent, { type: E }>)) {
        clearTimeout(timer);
        off();
        resolve(e as Extract<RuntimeEvent, { type: E }>);
      }
    });
  });
}
