/** Answers marked to travel with their buffers moved (see {@link transferred}). */
const marked = new WeakMap<object, ArrayBuffer[]>();

/**
 * Marks an ask's answer so that `buffers` are transferred to the asking
 * thread, not copied: a binary answer (a shard's rows) crosses the thread
 * boundary at no cost, and the answering thread must not touch them after.
 * Each buffer must be an ArrayBuffer the answer owns whole (not shared
 * memory, not a pooled Buffer's slab).
 */
export function transferred<T extends object>(answer: T, buffers: ArrayBuffer[]): T {
  marked.set(answer, buffers);
  return answer;
}

/** The buffers an answer was marked with, if any (the actor host's side). */
export function transfersOf(answer: unknown): ArrayBuffer[] | undefined {
  return typeof answer === 'object' && answer !== null ? marked.get(answer) : undefined;
}
