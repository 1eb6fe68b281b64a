import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { delimiter, join } from 'node:path';
import { TributaryError } from '../errors.js';

/**
 * Where nats-server is: $NATS_SERVER, then $PATH, then Debian's
 * /usr/sbin (the package installs it there, outside a user's PATH).
 * Undefined when there is none.
 */
export function findNatsServer(): string | undefined {
  const candidates = [
    process.env.NATS_SERVER,
    ...(process.env.PATH ?? '').split(delimiter).map((d) => join(d, 'nats-server')),
    '/usr/sbin/nats-server',
    '/usr/local/bin/nats-server',
  ];
  for (const c of candidates) {
    if (!c) continue;
    try {
      accessSync(c, constants.X_OK);
      return c;
    } catch {
      // not this one
    }
  }
  return undefined;
}

/** A TCP port free on 127.0.0.1 now (the OS's pick). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export interface LocalNatsOptions {
  /** Where each node keeps its JetStream files (node-<i>/ below it). */
  readonly dir: string;
  /** Nodes in the cluster (default 3: JetStream's R=3 needs three). */
  readonly nodes?: number;
  /** nats-server's largest message (default 8 MiB: query answers travel as one). */
  readonly maxPayloadBytes?: number;
  /** The binary (default findNatsServer()). */
  readonly binary?: string;
}

interface Node {
  readonly name: string;
  readonly clientPort: number;
  readonly clusterPort: number;
  readonly monitorPort: number;
  readonly configFile: string;
  process: ChildProcess | undefined;
  log: string;
  exited: Promise<void>;
}

/**
 * A NATS cluster with JetStream on 127.0.0.1, one nats-server process per
 * node: what the cluster tests and the cluster benchmark run against.
 * Nodes can be killed and restarted with their files, as a host would be.
 */
export class LocalNatsCluster {
  private constructor(
    private readonly binary: string,
    private readonly nodes: Node[],
  ) {}

  static async start(options: LocalNatsOptions): Promise<LocalNatsCluster> {
    const binary = options.binary ?? findNatsServer();
    if (!binary) throw new TributaryError('E_UNAVAILABLE', 'nats-server not found (install Debian package nats-server, or set NATS_SERVER)', {});
    const count = options.nodes ?? 3;
    const ports = await Promise.all(Array.from({ length: count * 3 }, () => freePort()));
    const nodes: Node[] = [];
    for (let i = 0; i < count; i++) {
      const [clientPort, clusterPort, monitorPort] = [ports[3 * i]!, ports[3 * i + 1]!, ports[3 * i + 2]!];
      const dir = join(options.dir, `node-${i}`);
      mkdirSync(dir, { recursive: true });
      const config = [
        `server_name: n${i}`,
        `listen: 127.0.0.1:${clientPort}`,
        `http: 127.0.0.1:${monitorPort}`,
        `max_payload: ${options.maxPayloadBytes ?? 8 << 20}`,
        `jetstream { store_dir: "${join(dir, 'js')}" }`,
        // One node is a plain server: JetStream refuses a cluster block without routes.
        ...(count === 1
          ? []
          : [
              `cluster {`,
              `  name: tributary`,
              `  listen: 127.0.0.1:${clusterPort}`,
              `  routes: [${Array.from({ length: count }, (_, j) => j)
                .filter((j) => j !== i)
                .map((j) => `nats://127.0.0.1:${ports[3 * j + 1]}`)
                .join(', ')}]`,
              `}`,
            ]),
      ].join('\n');
      const configFile = join(dir, 'nats.conf');
      writeFileSync(configFile, config + '\n');
      nodes.push({ name: `n${i}`, clientPort, clusterPort, monitorPort, configFile, process: undefined, log: '', exited: Promise.resolve() });
    }
    const cluster = new LocalNatsCluster(binary, nodes);
    for (let i = 0; i < count; i++) cluster.launch(i);
    await cluster.ready();
    return cluster;
  }

  /** Client URLs, one per node. */
  get servers(): string[] {
    return this.nodes.map((n) => `nats://127.0.0.1:${n.clientPort}`);
  }

  /** Kills node `i` (SIGKILL by default: a host lost), and waits for its process to end. */
  async kill(i: number, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const node = this.nodes[i]!;
    node.process?.kill(signal);
    await node.exited;
    node.process = undefined;
  }

  /** Starts node `i` again on its files and ports; resolves once the cluster reports healthy. */
  async restart(i: number): Promise<void> {
    if (this.nodes[i]!.process) await this.kill(i, 'SIGTERM');
    this.launch(i);
    await this.ready();
  }

  /** Resolves once every running node answers /healthz (JetStream up, meta leader known). */
  async ready(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (const node of this.nodes) {
      if (!node.process) continue;
      for (;;) {
        const ok = await this.healthy(node);
        if (ok) break;
        if (node.process.exitCode !== null || Date.now() > deadline) {
          const why = node.process.exitCode !== null ? `exited (${node.process.exitCode})` : `not healthy within ${timeoutMs} ms`;
          throw new TributaryError('E_UNAVAILABLE', `nats node ${node.name} ${why}`, { node: node.name, log: node.log });
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  /** /healthz answers ok, and the node knows JetStream's meta leader (until then, creating a stream times out). */
  private async healthy(node: Node): Promise<boolean> {
    const get = (path: string) => fetch(`http://127.0.0.1:${node.monitorPort}${path}`).catch(() => undefined);
    if (!(await get('/healthz'))?.ok) return false;
    const jsz = (await (await get('/jsz'))?.json().catch(() => undefined)) as { meta_cluster?: { leader?: string } } | undefined;
    return this.nodes.length === 1 || Boolean(jsz?.meta_cluster?.leader);
  }

  /** Stops every node (SIGTERM, then waits). */
  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((_, i) => this.kill(i, 'SIGTERM')));
  }

  private launch(i: number): void {
    const node = this.nodes[i]!;
    const child = spawn(this.binary, ['-c', node.configFile], { stdio: ['ignore', 'ignore', 'pipe'] });
    // Its last words, for a test that fails to see why a node would not start.
    child.stderr!.on('data', (d: Buffer) => {
      node.log = (node.log + d.toString()).slice(-4096);
    });
    node.process = child;
    node.exited = new Promise((resolve) => child.once('exit', () => resolve()));
  }
}
