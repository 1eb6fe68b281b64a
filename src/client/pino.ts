import build from 'pino-abstract-transport';
import { TributaryClient, type ClientOptions } from './client.js';

/** Options of the pino transport: the client's (aggregators, labels, batching, limits), as plain JSON. */
export type PinoTransportOptions = Omit<ClientOptions, 'transportFor' | 'onError'>;

/**
 * The pino transport: `pino({ transport: { target: 'tributary/pino',
 * options: { aggregators: ['host:9095'], labels: { service: 'api' } } } })`.
 * pino runs it on a thread of its own and hands it NDJSON lines; they are
 * batched, numbered and sent by a TributaryClient, so the service's event
 * loop never waits on the network. Lines pino writes are parsed once, here,
 * with pino's field names (level numbers, time, hostname, name, msg).
 */
export default function pinoTransport(options: PinoTransportOptions = {}) {
  let reported = 0;
  const client = new TributaryClient({
    ...options,
    // A transport has no caller to tell: trouble goes to stderr, a line a minute at most.
    onError: (err) => {
      if (Date.now() - reported < 60_000) return;
      reported = Date.now();
      process.stderr.write(`tributary pino transport: ${err.message}\n`);
    },
  });
  return build(
    async (source: AsyncIterable<string>) => {
      for await (const line of source) client.write(line + '\n');
    },
    { parse: 'lines', close: () => client.close() },
  );
}
