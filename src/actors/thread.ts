import { MessageChannel, Worker, type MessagePort, type ResourceLimits } from 'node:worker_threads';
import * as Comlink from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { TributaryError, serializeError, type SerializedError } from '../errors.js';
import { Doorbell } from '../mailbox/doorbell.js';
import { THREAD_SLOT, T_CONTROL, T_HEARTBEAT } from './layout.js';
import type { HostApi, HostEvent, HostInit, Result } from './host/protocol.js';

const HOST_ENTRY = new URL('./host/worker.js', import.meta.url);

/** What a slot needs: the host's init (less what each start supplies) and the slot's own settings. */
export interface ThreadOptions extends Omit<HostInit, 'thread' | 'control'> {
  /** The thread's doorbell: rung after each control message so a parked scheduler serves it at once. */
  readonly doorbell: SharedArrayBuffer;
  readonly resourceLimits?: ResourceLimits;
  readonly hangTimeoutMs: number;
}

export interface ThreadHandlers {
  onEvent(thread: number, event: HostEvent): void;
  onExit(thread: number, code: number, error: SerializedError | undefined): void;
  onHung(thread: number, silentMs: number): void;
}

/**
 * One worker thread slot on the main side. The slot outlives the Worker: when
 * the worker dies, a new one is started in the same slot with the same rings,
 * so nothing addressed to its actors is lost.
 *
 * Control calls go through comlink, with two repairs: every answer is a
 * Result (so error codes survive the crossing), and a call pending on a
 * worker that dies rejects at once with E_WORKER_DIED (comlink alone would
 * leave it pending forever).
 */
export class ActorThread {
  private worker: Worker | undefined;
  private port: MessagePort | undefined;
  private remote: Comlink.Remote<HostApi> | undefined;
  /**
   * The calls waiting on this worker, failed at once if it dies. A set, not a
   * long-lived "died" promise raced against every call: each race would hang a
   * reaction on that promise holding the call's result, for as long as the
   * worker lives (a leak of every answer).
   */
  private readonly waiting = new Set<(err: TributaryError) => void>();
  /** Resolves when the slot's current (or, while it is dead, next) worker is ready. */
  private readyPromise: Promise<void> = Promise.resolve();
  private markReady: (() => void) | undefined;
  private monitor: NodeJS.Timeout | undefined;
  private lastBeat = 0;
  private lastBeatAt = 0;
  private lastError: SerializedError | undefined;
  private intentional = false;
  status: 'idle' | 'starting' | 'running' | 'dead' | 'stopped' = 'idle';
  starts = 0;

  private readonly bell: Doorbell;

  constructor(
    readonly index: number,
    private readonly options: ThreadOptions,
    private readonly handlers: ThreadHandlers,
  ) {
    this.bell = new Doorbell(options.doorbell);
    this.control = new Int32Array(options.tables.threadControl);
  }

  private readonly control: Int32Array;

  /** Starts (or restarts) the worker; resolves when its host is ready. */
  start(): Promise<void> {
    this.status = 'starting';
    this.starts++;
    this.intentional = false;
    this.lastError = undefined;
    const { port1, port2 } = new MessageChannel();
    const init: HostInit = {
      thread: this.index,
      tables: this.options.tables,
      incoming: this.options.incoming,
      outgoing: this.options.outgoing,
      control: port2,
      config: this.options.config,
    };
    const worker = new Worker(HOST_ENTRY, { workerData: init, transferList: [port2], resourceLimits: this.options.resourceLimits });
    this.worker = worker;
    this.port = port1;
    this.remote = Comlink.wrap<HostApi>(nodeEndpoint(port1));
    if (!this.markReady) this.awaitNextWorker();
    const onReady = this.markReady!;
    // This start's own outcome: ready, or dead before ready (a boot failure).
    let booted!: () => void;
    let bootFailed!: (err: unknown) => void;
    const boot = new Promise<void>((resolve, reject) => {
      booted = resolve;
      bootFailed = reject;
    });
    boot.catch(() => {});
    worker.on('message', (event: HostEvent) => {
      if (event.type === 'ready') {
        this.status = 'running';
        this.markReady = undefined;
        this.startMonitor();
        onReady();
        booted();
      } else this.handlers.onEvent(this.index, event);
    });
    worker.on('error', (err) => {
      this.lastError = serializeError(err);
    });
    worker.once('exit', (code) => {
      this.stopMonitor();
      port1.close();
      const error = this.lastError;
      const wasIntentional = this.intentional;
      this.status = wasIntentional ? 'stopped' : 'dead';
      const death = new TributaryError('E_WORKER_DIED', `worker thread ${this.index} exited with code ${code}${error ? `: ${error.message}` : ''}`, {
        thread: this.index,
        exitCode: code,
        cause: error?.code ?? null,
      });
      for (const fail of this.waiting) fail(death);
      this.waiting.clear();
      bootFailed(death);
      // Whoever waits for this slot now waits for the next worker (stop() releases them).
      if (!wasIntentional) this.awaitNextWorker();
      else this.markReady?.();
      if (!wasIntentional) this.handlers.onExit(this.index, code, error ?? death.toJSON());
    });
    return boot;
  }

  /** Resolves when the slot has a ready worker: the current one, or the next one while it is dead. */
  get ready(): Promise<void> {
    return this.readyPromise;
  }

  private awaitNextWorker(): void {
    if (this.markReady) return;
    this.readyPromise = new Promise<void>((resolve) => (this.markReady = resolve));
  }

  /** Calls the host's control plane. Rejects with the host's typed error, or E_WORKER_DIED. */
  async call<K extends keyof HostApi>(
    method: K,
    ...args: Parameters<HostApi[K]>
  ): Promise<Awaited<ReturnType<HostApi[K]>> extends Result<infer T> ? T : never> {
    await this.readyPromise;
    const remote = this.remote!;
    const fn = remote[method] as unknown as (...a: unknown[]) => Promise<Result<unknown>>;
    const pending = fn(...args); // comlink posts the message synchronously
    // Then bump the control counter, then ring: a scheduler about to park sees
    // the counter move (and does not park); one already parked is woken. Either
    // way it returns to its event loop, which delivers the message.
    Atomics.add(this.control, this.index * THREAD_SLOT + T_CONTROL, 1);
    this.bell.ring();
    let fail!: (err: TributaryError) => void;
    const res = await new Promise<Result<unknown>>((resolve, reject) => {
      fail = reject;
      this.waiting.add(fail);
      pending.then(resolve, reject);
    }).finally(() => this.waiting.delete(fail));
    if (!res.ok) throw TributaryError.fromJSON(res.error);
    return res.value as never;
  }

  /** Asks the host to stop its actors gracefully, then ends the worker. */
  async stop(timeoutMs: number): Promise<void> {
    if (!this.worker || this.status === 'stopped' || this.status === 'dead') {
      this.status = 'stopped';
      this.markReady?.(); // release anyone waiting for a worker that will not come
      return;
    }
    this.intentional = true;
    this.stopMonitor();
    const timer = new Promise<void>((r) => setTimeout(r, timeoutMs).unref());
    await Promise.race([this.call('shutdown').catch(() => {}), timer]);
    await this.endWorker(0, timeoutMs);
    this.port?.close();
    this.status = 'stopped';
  }

  /** Ends the worker as a failure (the exit handler restarts it), at its next safe point. */
  async kill(): Promise<void> {
    if (this.status === 'running') await this.endWorker(1, this.options.hangTimeoutMs);
    else await this.worker?.terminate();
  }

  /**
   * Ends the worker from inside (the host exits at its next turn of the event
   * loop), so no native call is cut in half; one that does not get there
   * within `graceMs` (a busy loop) is terminated.
   */
  private async endWorker(code: number, graceMs: number): Promise<void> {
    const worker = this.worker;
    if (!worker || worker.threadId < 0) return;
    const exited = new Promise<boolean>((r) => worker.once('exit', () => r(true)));
    this.call('exit', code).catch(() => {}); // the answer may never come: the thread is gone
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<boolean>((r) => (timer = setTimeout(() => r(false), graceMs)));
    const clean = await Promise.race([exited, late]);
    clearTimeout(timer);
    if (!clean) await worker.terminate();
  }

  private startMonitor(): void {
    const control = new Int32Array(this.options.tables.threadControl);
    const slot = this.index * THREAD_SLOT + T_HEARTBEAT;
    this.lastBeat = Atomics.load(control, slot);
    this.lastBeatAt = performance.now();
    const every = Math.max(10, Math.min(this.options.config.heartbeatMs, this.options.hangTimeoutMs / 4));
    this.monitor = setInterval(() => {
      const beat = Atomics.load(control, slot);
      const now = performance.now();
      if (beat !== this.lastBeat) {
        this.lastBeat = beat;
        this.lastBeatAt = now;
      } else if (now - this.lastBeatAt > this.options.hangTimeoutMs) {
        // A hung worker cannot be reasoned with: terminate stops even a busy loop, and exit restarts it.
        this.stopMonitor();
        this.handlers.onHung(this.index, now - this.lastBeatAt);
        this.lastError = new TributaryError('E_WORKER_HUNG', `worker thread ${this.index} made no progress for ${Math.round(now - this.lastBeatAt)} ms`, {
          thread: this.index,
        }).toJSON();
        void this.worker?.terminate();
      }
    }, every);
    this.monitor.unref();
  }

  private stopMonitor(): void {
    if (this.monitor) clearInterval(this.monitor);
    this.monitor = undefined;
  }
}
