import { readFileSync } from 'node:fs';

/** A process's peak resident memory (VmHWM), in bytes: every thread of it, what the kernel counted at its highest. */
export function peakRssOf(pid: number | 'self'): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
}
