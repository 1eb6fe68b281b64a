import test from 'ava';
import pino from 'pino';
import { pinoLoki } from 'pino-loki';
import winston from 'winston';
import LokiTransport from 'winston-loki';
import { startDaemon, storedEntries } from '../helpers/daemon.js';
import { waitUntil } from '../helpers/workers.js';

// Real shippers a user already runs, pointed at Tributary unchanged: each sends to /loki/api/v1/push.

test('pino-loki: labels become service and server, pino levels map, every line stored', async (t) => {
  const d = await startDaemon(t);
  const errors: unknown[] = [];
  const stream = pinoLoki({ host: d.url, batching: { interval: 0.05 }, labels: { app: 'cart', host: 'cart-7' } });
  stream.on('error', (e) => errors.push(e));
  const logger = pino({ level: 'debug' }, stream);
  for (let i = 0; i < 200; i++) {
    if (i % 4 === 0) logger.warn(`stock low ${i}`);
    else if (i % 4 === 1) logger.error(`checkout failed ${i}`);
    else if (i % 4 === 2) logger.debug(`cache hit ${i}`);
    else logger.info(`item added ${i}`);
  }
  await waitUntil('pino-loki has pushed every line', async () => (await storedEntries(d, '{service="cart"}')).length >= 200, 20_000);
  stream.end();
  const stored = await storedEntries(d, '{service="cart"}');
  t.deepEqual(errors, []);
  t.is(stored.length, 200);
  t.true(stored.every((e) => e.server === 'cart-7'));
  const byLevel = (level: string) => stored.filter((e) => e.level === level).length;
  t.deepEqual([byLevel('DEBUG'), byLevel('INFO'), byLevel('WARN'), byLevel('ERROR')], [50, 50, 50, 50]);
  t.true(stored.filter((e) => e.level === 'ERROR').every((e) => e.message.includes('checkout failed')));
});

test("winston-loki: job, instance and region labels and winston's levels map, every line stored", async (t) => {
  const d = await startDaemon(t);
  const errors: Error[] = [];
  const transport = new LokiTransport({
    host: d.url,
    labels: { job: 'payments', instance: 'pay-2', region: 'ap-south' },
    json: true,
    batching: true,
    interval: 0.05,
    onConnectionError: (e: unknown) => errors.push(e as Error),
  });
  const logger = winston.createLogger({ level: 'debug', transports: [transport] });
  for (let i = 0; i < 120; i++) {
    if (i % 3 === 0) logger.error(`card declined ${i}`);
    else if (i % 3 === 1) logger.warn(`retrying charge ${i}`);
    else logger.info(`charge ok ${i}`);
  }
  await transport.flush();
  await waitUntil('winston-loki has pushed every line', async () => (await storedEntries(d, '{service="payments"}')).length >= 120, 20_000);
  await transport.close();
  logger.close();
  t.deepEqual(errors, []);
  const stored = await storedEntries(d, '{service="payments"}');
  t.is(stored.length, 120);
  t.true(stored.every((e) => e.server === 'pay-2' && e.region === 'ap-south'));
  const byLevel = (level: string) => stored.filter((e) => e.level === level).length;
  t.deepEqual([byLevel('INFO'), byLevel('WARN'), byLevel('ERROR')], [40, 40, 40]);
  t.true(stored.filter((e) => e.level === 'ERROR').every((e) => e.message.includes('card declined')));
});
