import { readFileSync } from 'node:fs';

/** A process's peak resident memory (VmHWM), in bytes: every thread of it, what the kernel counted at its highest. */
export function peakRssOf(pid: number | 'self'): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
}

/** A process's I/O counters (/proc/<pid>/io): bytes through read/write system calls, and bytes that reached the block device. */
export function ioOf(pid: number | 'self'): { rchar: number; wchar: number; readBytes: number; writeBytes: number } {
  const io = readFileSync(`/proc/${pid}/io`, 'utf8');
  const field = (name: string) => Number(new RegExp(`^${name}: (\\d+)$`, 'm').exec(io)?.[1] ?? 0);
  return { rchar: field('rchar'), wchar: field('wchar'), readBytes: field('read_bytes'), writeBytes: field('write_bytes') };
}
