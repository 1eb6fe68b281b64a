import { createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import type { TlsMaterial } from '../security/tls.js';
import { isTributaryError } from '../errors.js';
import { scanFrame } from '../ingest/formats/syslog.js';
import type { Ingestor } from '../ingest/ingestor.js';
import { systemClock, type Clock } from '../supervisor/clock.js';
import { NotSyslogWarnings } from './refusals.js';

export interface SyslogOptions {
  readonly host?: string;
  /** Default 1514 (514 needs root); 0 picks a free port. */
  readonly port?: number;
  /** Connections at once (default 1024); more are refused by the kernel's backlog, then closed. */
  readonly maxConnections?: number;
  /** A connection's frames are handed to a parse thread once this many bytes are waiting (default 256 KiB)... */
  readonly flushBytes?: number;
  /** ...or this long after the first of them arrived (default 20 ms). */
  readonly flushMs?: number;
  /** Bytes a connection may have waiting before it stops reading (TCP pushes back on the sender). Default 4 MiB. */
  readonly maxPendingBytes?: number;
  /** Longest message, bytes (default 256 KiB + header room, as the other doors). */
  readonly maxMessageBytes?: number;
  /**
   * Syslog over TLS (RFC 5425). With a CA, senders must present a
   * certificate it signed: syslog has no place for a bearer token, so this is
   * how a daemon with tokens authenticates its syslog senders.
   */
  readonly tls?: TlsMaterial;
  readonly log?: (level: 'info' | 'warn' | 'error', message: string) => void;
  /** The clock the refusal warnings are rate-limited by (default the system's). */
  readonly clock?: Clock;
}

export interface SyslogStats {
  connections: number;
  accepted: number;
  /** Messages refused by the parser (bad PRI, header or time; too long). */
  rejected: number;
  /** Connections closed because an octet count was over the limit (the stream cannot be resynchronised). */
  oversizedFrames: number;
  /** Bytes of framed messages given up on: the listener closed while storage kept refusing them. */
  droppedBytes: number;
}

/** One connection: bytes in, whole frames out in order, one flush in flight at a time. */
class SyslogConnection {
  private carry: Buffer | undefined;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  /** Dropping the rest of a newline-framed line that was over the limit (its head was sent to be rejected). */
  private discarding = false;
  private closed = false;

  constructor(
    private readonly socket: Socket,
    private readonly listener: SyslogListener,
    private readonly o: Required<Omit<SyslogOptions, 'host' | 'port' | 'log' | 'tls' | 'clock'>>,
  ) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('end', () => void this.onEnd());
    socket.on('error', () => {}); // a reset by the peer: 'close' follows
    socket.on('close', () => {
      this.closed = true;
      clearTimeout(this.timer);
    });
  }

  private onData(chunk: Buffer): void {
    let data = this.carry ? Buffer.concat([this.carry, chunk]) : chunk;
    this.carry = undefined;
    if (this.discarding) {
      const lf = data.indexOf(10);
      if (lf < 0) return;
      this.discarding = false;
      data = data.subarray(lf + 1);
    }
    let at = 0;
    for (;;) {
      const scan = scanFrame(data, at, data.length, this.o.maxMessageBytes);
      if (scan.kind === 'incomplete') break;
      if (scan.kind === 'oversized') {
        this.listener.counters.oversizedFrames++;
        this.listener.log(
          'warn',
          `syslog: ${this.socket.remoteAddress} sent a frame of ${scan.length} bytes (limit ${this.o.maxMessageBytes}): connection closed`,
        );
        this.enqueue(data.subarray(0, at));
        void this.flush().finally(() => this.socket.destroy());
        return;
      }
      at = scan.next;
      // A line with no newline within the limit comes back cut at it (its end is where the scan stopped).
      if (scan.next === scan.frame.end && scan.frame.end - scan.frame.start > this.o.maxMessageBytes) {
        // Cut at the limit: this head is sent (and refused as too long), the rest of the line is dropped.
        this.discarding = true;
        this.enqueue(Buffer.concat([data.subarray(0, at), Buffer.from('\n')]));
        data = data.subarray(at);
        at = 0;
        const lf = data.indexOf(10);
        if (lf < 0) return;
        this.discarding = false;
        data = data.subarray(lf + 1);
      }
    }
    this.enqueue(data.subarray(0, at));
    // The incomplete tail is copied: a small view must not hold a large socket buffer alive.
    if (at < data.length) this.carry = Buffer.from(data.subarray(at));
  }

  private enqueue(frames: Buffer): void {
    if (frames.length === 0) return;
    this.pending.push(frames);
    this.pendingBytes += frames.length;
    if (this.pendingBytes >= this.o.maxPendingBytes) this.socket.pause();
    if (this.pendingBytes >= this.o.flushBytes) void this.flush();
    else this.timer ??= setTimeout(() => void this.flush(), this.o.flushMs);
  }

  /** Hands the waiting frames to storage, one request at a time so a connection's messages keep their order. */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.flushing ??= this.drain().finally(() => {
      this.flushing = undefined;
      if (!this.closed) this.socket.resume();
    });
    return this.flushing;
  }

  private async drain(): Promise<void> {
    while (this.pending.length > 0) {
      const body = Buffer.concat(this.pending);
      this.pending = [];
      this.pendingBytes = 0;
      await this.listener.store(body, this.socket.remoteAddress);
    }
  }

  private async onEnd(): Promise<void> {
    // A last message without its newline is still a message.
    if (this.carry && !this.discarding) this.enqueue(Buffer.concat([this.carry, Buffer.from('\n')]));
    this.carry = undefined;
    await this.flush();
    this.socket.end();
  }
}

/**
 * Syslog over TCP (RFC 5424 and RFC 3164; octet-counted and newline
 * framing, RFC 6587). The main thread only frames bytes: each connection's
 * whole frames go to a parse thread in requests of up to `flushBytes`.
 * Syslog has no acknowledgement, so durability is carried by TCP flow
 * control instead: a connection with `maxPendingBytes` not yet stored stops
 * being read, and the sender's socket buffer fills. When storage refuses
 * for a while (overload), the frames are held and retried, not dropped.
 */
export class SyslogListener {
  readonly counters: SyslogStats = { connections: 0, accepted: 0, rejected: 0, oversizedFrames: 0, droppedBytes: 0 };
  private readonly connections = new Set<SyslogConnection>();
  private readonly sockets = new Set<Socket>();
  private closing = false;
  private boundPort = 0;

  private readonly notSyslog: NotSyslogWarnings;

  private constructor(
    private readonly server: Server,
    private readonly ingestor: Ingestor,
    readonly log: (level: 'info' | 'warn' | 'error', message: string) => void,
    clock: Clock,
  ) {
    this.notSyslog = new NotSyslogWarnings((m) => log('warn', m), 10_000, clock);
  }

  static async listen(ingestor: Ingestor, options: SyslogOptions = {}): Promise<SyslogListener> {
    const o = {
      maxConnections: options.maxConnections ?? 1024,
      flushBytes: options.flushBytes ?? 256 * 1024,
      flushMs: options.flushMs ?? 20,
      maxPendingBytes: options.maxPendingBytes ?? 4 * 1024 * 1024,
      maxMessageBytes: options.maxMessageBytes ?? 256 * 1024 + 2048,
    };
    const tls = options.tls;
    const server: Server = tls
      ? createTlsServer({ cert: tls.cert, key: tls.key, ...(tls.ca ? { ca: tls.ca, requestCert: true, rejectUnauthorized: true } : {}) })
      : createServer();
    server.maxConnections = o.maxConnections;
    const listener = new SyslogListener(server, ingestor, options.log ?? (() => {}), options.clock ?? systemClock);
    server.on(tls ? 'secureConnection' : 'connection', (socket: Socket) => {
      listener.counters.connections++;
      listener.sockets.add(socket);
      const conn = new SyslogConnection(socket, listener, o);
      listener.connections.add(conn);
      socket.on('close', () => {
        listener.sockets.delete(socket);
        listener.connections.delete(conn);
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 1514, options.host ?? '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    listener.boundPort = (server.address() as { port: number }).port;
    return listener;
  }

  get port(): number {
    return this.boundPort;
  }

  stats(): SyslogStats {
    return { ...this.counters };
  }

  /** Stores one body of frames; storage that refuses for now (overload, a parse thread restarting) is retried with backoff. */
  async store(body: Buffer, peer: string | undefined): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        const report = await this.ingestor.push('syslog', 'syslog', body, { peer });
        this.counters.accepted += report.accepted + report.duplicates;
        this.counters.rejected += Object.values(report.rejected).reduce((a, b) => a + (b ?? 0), 0);
        const notSyslog = report.rejected.malformed_syslog ?? 0;
        if (notSyslog > 0) {
          const first = report.errors.find((e) => e.reason === 'malformed_syslog');
          this.notSyslog.refused(peer ?? 'an unknown peer', notSyslog, first?.message ?? 'malformed');
        }
        return;
      } catch (err) {
        const retriable = isTributaryError(err, 'E_OVERLOADED') || isTributaryError(err, 'E_WORKER_DIED') || isTributaryError(err, 'E_TIMEOUT');
        if (!retriable || this.closing) {
          this.counters.droppedBytes += body.length;
          this.log('error', `syslog: ${body.length} bytes from ${peer} not stored: ${(err as Error).message}`);
          return;
        }
        await new Promise((r) => setTimeout(r, Math.min(2000, 50 * 2 ** attempt)));
      }
    }
  }

  /** Stops accepting, stores what connections have framed, and closes them. */
  async close(): Promise<void> {
    const closed = new Promise<void>((r) => this.server.close(() => r()));
    await Promise.all([...this.connections].map((c) => c.flush()));
    this.closing = true;
    for (const s of this.sockets) s.destroy();
    await closed;
  }
}
