import test from 'ava';
import { fileURLToPath } from 'node:url';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { TributaryClient } from '../../src/client/client.js';
import { GrpcTransport } from '../../src/collector/transport.js';
import { Daemon } from '../../src/daemon/daemon.js';
import { TributaryError } from '../../src/errors.js';
import { startDaemon, storedEntries } from '../helpers/daemon.js';
import { tempDir } from '../helpers/system.js';
import { waitUntil } from '../helpers/workers.js';

const FAST = { timeoutMs: 1000, attempts: 2, backoff: { initialMs: 10, maxMs: 100, jitter: 1 }, breaker: { failures: 2, openMs: 100, maxOpenMs: 400 } };

async function sourceAccounts(d: Daemon, prefix: string) {
  const res = await fetch(`${d.url}/api/v1/sources?prefix=${prefix}`);
  return ((await res.json()) as { data: { sources: { source: string; stored: number; duplicates: number; gaps: number; acknowledged: number }[] } }).data
    .sources;
}

test("the pino transport ships a service's logs with one line of configuration: pino's fields mapped, every line stored", async (t) => {
  const d = await startDaemon(t, { grpc: { port: 0 } });
  // The service is a process of its own, as in production (pino's exit flush blocks its main thread).
  const service = spawn(process.execPath, [fileURLToPath(new URL('../fixtures/scripts/pino-service.js', import.meta.url)), d.grpcAddress, '1000'], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  t.teardown(() => {
    if (service.exitCode === null) service.kill('SIGKILL');
  });
  const [code] = (await once(service, 'exit')) as [number];
  t.is(code, 0);
  const stored = await storedEntries(d, '{service="checkout"}');
  t.is(stored.length, 1000);
  t.is(new Set(stored.map((e) => e.message)).size, 1000);
  const errors = stored.filter((e) => e.level === 'ERROR');
  t.is(errors.length, 100);
  t.true(errors.every((e) => /^payment failed \d+$/.test(e.message)));
  t.true(stored.every((e) => e.region === 'eu-west' && e.server.length > 0));
});

test('a client started before any aggregator holds its entries (bounded), sends them when one comes, and the accounts show nothing missing', async (t) => {
  const dataDir = tempDir(t);
  // A free port: a daemon is started and stopped to learn one.
  const probe = await Daemon.start({ dataDir, http: { port: 0 }, grpc: { port: 0 }, workers: 2 });
  const address = probe.grpcAddress;
  await probe.stop();
  const errors: Error[] = [];
  const client = new TributaryClient({ aggregators: [address], flushMs: 10, send: FAST, onError: (e) => errors.push(e) });
  t.teardown(() => client.close(1000));
  for (let i = 0; i < 500; i++) client.log({ service: 'billing', server: `b-${i % 5}`, level: i % 7 === 0 ? 'ERROR' : 'INFO', message: `invoice ${i}` });
  await waitUntil('the client notices no aggregator answers', () => errors.length > 0, 10_000);
  t.is(client.stats().acked, 0);
  t.true(client.stats().bufferedBytes > 0);

  const d = await Daemon.start({ dataDir, http: { port: 0 }, grpc: { port: Number(address.split(':')[1]) }, workers: 2 });
  t.teardown(() => d.stop());
  await client.flush();
  t.is(client.stats().acked, 500);
  const stored = await storedEntries(d, '{service="billing"}');
  t.is(stored.length, 500);
  const accounts = await sourceAccounts(d, client.sourceId);
  t.is(
    accounts.reduce((n, a) => n + a.stored, 0),
    500,
  );
  t.true(accounts.every((a) => a.gaps === 0));
  t.deepEqual(
    accounts.map((a) => a.source).sort(),
    client
      .stats()
      .sources.map((s) => s.source)
      .sort(),
  );
});

test('a batch whose acknowledgement is lost is sent again with the same numbers, and stored once', async (t) => {
  const d = await startDaemon(t, { grpc: { port: 0 } });
  let lose = 2;
  const client = new TributaryClient({
    aggregators: [d.grpcAddress],
    send: FAST,
    transportFor: (address) => {
      const real = new GrpcTransport(address);
      return {
        ring: (ms) => real.ring(ms),
        // Stored, but the answer never reaches the client (a dropped connection after the write).
        send: async (shard, batch, ms) => {
          await real.send(shard, batch, ms);
          if (lose-- > 0) throw new TributaryError('E_TIMEOUT', 'acknowledgement lost (injected)', {});
        },
        close: () => real.close(),
      };
    },
  });
  t.teardown(() => client.close(1000));
  for (let i = 0; i < 300; i++) client.log({ service: 'orders', server: 'o-1', message: `order ${i}` });
  await client.flush();
  t.is(client.stats().acked, 300);
  t.is((await storedEntries(d, '{service="orders"}')).length, 300);
  const [account] = await sourceAccounts(d, client.sourceId);
  // One batch (one stream, one cut), stored at the first try and resent twice: two repeats of 300.
  t.like(account, { stored: 300, duplicates: 600, gaps: 0 });
});

test('a full client drops the newest lines (counted), never blocks, and keeps what it holds', async (t) => {
  const client = new TributaryClient({ aggregators: ['127.0.0.1:1'], maxBufferedBytes: 10_000, send: FAST });
  t.teardown(() => client.close(100));
  let refused = 0;
  for (let i = 0; i < 1000; i++) if (!client.log({ service: 's', message: `line ${i} ${'x'.repeat(50)}` })) refused++;
  const s = client.stats();
  t.true(refused > 0);
  t.is(s.dropped, refused);
  t.is(s.lines, 1000 - refused);
  t.true(s.bufferedBytes <= 10_000);
});

test('drop_oldest gives up the oldest held lines for the new ones', async (t) => {
  const client = new TributaryClient({ aggregators: ['127.0.0.1:1'], maxBufferedBytes: 10_000, whenFull: 'drop_oldest', send: FAST });
  t.teardown(() => client.close(100));
  let refused = 0;
  for (let i = 0; i < 1000; i++) if (!client.log({ service: 's', message: `line ${i} ${'x'.repeat(50)}` })) refused++;
  const s = client.stats();
  t.is(refused, 0);
  t.true(s.dropped > 0);
  t.true(s.bufferedBytes <= 10_000);
});
