// A Node service that logs with pino through Tributary's transport: the one line of configuration a user writes.
// Usage (after npm run build): node dist/examples/pino/checkout.js [aggregator host:port]
import pino from 'pino';

const logger = pino({
  name: 'checkout',
  transport: { target: 'tributary/pino', options: { aggregators: [process.argv[2] ?? '127.0.0.1:9095'], labels: { region: 'eu-west' } } },
});
logger.info({ order: 1 }, 'order placed');
logger.warn({ order: 2, ms: 2300 }, 'payment slow');
logger.error({ order: 3 }, 'card declined');
// Nothing else: at exit pino ends the transport, which flushes what it holds.
