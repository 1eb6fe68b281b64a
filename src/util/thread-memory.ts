/** One thread's memory as its V8 isolate counts it: the JS heap, and what lives outside it (ArrayBuffers, strings of native code). */
export interface ThreadMemory {
  readonly heapUsed: number;
  readonly heapTotal: number;
  /** Memory V8 is told about that lives outside its heap, ArrayBuffers included. */
  readonly external: number;
  readonly arrayBuffers: number;
}

/** The calling thread's memory (in a worker, process.memoryUsage() reports that worker's isolate, and the whole process's RSS). */
export function threadMemory(): ThreadMemory {
  const m = process.memoryUsage();
  return { heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, arrayBuffers: m.arrayBuffers };
}
