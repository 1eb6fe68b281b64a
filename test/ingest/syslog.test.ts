import test from 'ava';
import { connect, type Socket } from 'node:net';
import syslog from 'syslog-client';
import type { Daemon } from '../../src/daemon/daemon.js';
import { SimulatedClock } from '../../src/supervisor/clock.js';
import { startDaemon, storedEntries } from '../helpers/daemon.js';
import { waitUntil } from '../helpers/workers.js';

// RFC 3164 times carry no zone: the listener reads them as UTC, and syslog-client writes local time.
process.env.TZ = 'UTC';

function sendWithClient(port: number, rfc3164: boolean, messages: [string, number][]): Promise<void> {
  const client = syslog.createClient('127.0.0.1', { port, transport: syslog.Transport.Tcp, rfc3164, syslogHostname: 'web-7', appName: 'checkout' });
  return new Promise((resolve, reject) => {
    let left = messages.length;
    for (const [msg, severity] of messages)
      client.log(msg, { severity }, (err: Error | null) => {
        if (err) reject(err);
        else if (--left === 0) {
          client.close();
          resolve();
        }
      });
  });
}

async function settled(d: Daemon, messages: number): Promise<void> {
  await waitUntil(
    `${messages} syslog messages are stored or refused`,
    () => {
      const s = d.syslog!.stats();
      return s.accepted + s.rejected >= messages;
    },
    20_000,
  );
}

test('syslog-client over TCP, RFC 5424 and RFC 3164: level from the severity, service from APP-NAME or TAG, server from HOSTNAME', async (t) => {
  const d = await startDaemon(t, { syslog: { port: 0 } });
  await sendWithClient(d.syslog!.port, false, [
    ['card declined', syslog.Severity.Error],
    ['slow upstream', syslog.Severity.Warning],
    ['cache warm', syslog.Severity.Debug],
  ]);
  await sendWithClient(d.syslog!.port, true, [
    ['billing[42]: invoice sent', syslog.Severity.Notice],
    ['billing: disk full', syslog.Severity.Critical],
  ]);
  await settled(d, 5);
  const got = await storedEntries(d);
  t.deepEqual(got.map((e) => [e.level, e.service, e.server, e.message]).sort(), [
    ['DEBUG', 'checkout', 'web-7', 'cache warm'],
    ['ERROR', 'billing', 'web-7', 'disk full'],
    ['ERROR', 'checkout', 'web-7', 'card declined'],
    ['INFO', 'billing', 'web-7', 'invoice sent'],
    ['WARN', 'checkout', 'web-7', 'slow upstream'],
  ]);
  const now = BigInt(Date.now()) * 1_000_000n;
  for (const e of got) t.true(BigInt(e.ts) > now - 60_000_000_000n && BigInt(e.ts) <= now, `${e.ts} is the time it was sent`);
});

function rawConnection(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
  });
}

test('octet counting carries newlines inside a message, a bad message is refused alone, and framing splits across packets', async (t) => {
  const d = await startDaemon(t, { syslog: { port: 0 } });
  const s = await rawConnection(d.syslog!.port);
  const multi = '<11>1 2025-11-21T21:00:00.123456789Z db-1 postgres 77 - [origin region="eu-2"] ERROR: deadlock\n  DETAIL: process 77 waits';
  const octet = `${Buffer.byteLength(multi)} ${multi}`;
  const stream = [
    octet,
    'this is not syslog\n',
    '<14>Nov 21 21:00:01 app-3 sshd[901]: Accepted publickey\n',
    '<999>1 - - - - - - bad pri\n',
    '<12>1 not-a-time h a - - - x\n',
    '<13>2025-11-21T21:00:02+01:00 app-4 cron: job done\r\n',
  ].join('');
  // Split mid-header and mid-message: frames must be reassembled.
  const bytes = Buffer.from(stream);
  const cuts = [0, 3, 40, 200, bytes.length];
  for (let i = 1; i < cuts.length; i++) s.write(bytes.subarray(cuts[i - 1], cuts[i]));
  s.end();
  await settled(d, 6);
  const got = await storedEntries(d);
  // An RFC 3164 time has no year: this year's, unless that is more than a day ahead.
  const year = new Date().getUTCFullYear();
  const bsdMs = Date.UTC(year, 10, 21, 21, 0, 1) > Date.now() + 86_400_000 ? Date.UTC(year - 1, 10, 21, 21, 0, 1) : Date.UTC(year, 10, 21, 21, 0, 1);
  t.deepEqual(
    got.map((e) => [e.ts, e.level, e.service, e.server, e.region, e.message]),
    [
      ['1763758800123456789', 'ERROR', 'postgres', 'db-1', 'eu-2', 'ERROR: deadlock\n  DETAIL: process 77 waits'],
      ['1763755202000000000', 'INFO', 'cron', 'app-4', 'unknown', 'job done'],
      [`${bsdMs}000000`, 'INFO', 'sshd', 'app-3', 'unknown', 'Accepted publickey'],
    ].sort((a, b) => (BigInt(a[0]!) < BigInt(b[0]!) ? -1 : 1)),
  );
  // Structured data and the PROCID are metadata, not text glued onto the message.
  t.deepEqual(got.find((e) => e.service === 'postgres')!.metadata, { origin_region: 'eu-2', proc_id: '77' });
  t.deepEqual(d.ingestor.stats().syslog?.rejected, { malformed_syslog: 2, invalid_timestamp: 1 });
});

test('an octet count over the limit closes that connection; what came before it is stored; a line over the limit is refused alone', async (t) => {
  const d = await startDaemon(t, { syslog: { port: 0 }, ingest: { maxLineBytes: 1000 } });
  const long = await rawConnection(d.syslog!.port);
  // One line over the limit with its newline, one with none for longer than the listener holds (cut, the rest dropped).
  long.write(`<14>Nov 21 21:00:01 h a: before\n<14>Nov 21 21:00:02 h a: ${'x'.repeat(1500)}\n<14>Nov 21 21:00:03 h a: after\n`);
  long.write(`<14>Nov 21 21:00:03 h a: ${'y'.repeat(2000)}`);
  long.write(`${'y'.repeat(3000)}\n<14>Nov 21 21:00:03 h a: tail\n`);
  long.end();
  const bad = await rawConnection(d.syslog!.port);
  const closed = new Promise<void>((r) => bad.once('close', () => r()));
  bad.on('error', () => {});
  bad.write('<14>Nov 21 21:00:04 h b: kept\n99999999 <14>...');
  await closed;
  await settled(d, 6);
  t.deepEqual((await storedEntries(d)).map((e) => e.message).sort(), ['after', 'before', 'kept', 'tail']);
  t.is(d.syslog!.stats().oversizedFrames, 1);
  t.deepEqual(d.ingestor.stats().syslog?.rejected, { line_too_long: 2 });
});

test("an octet-counted frame's trailing newline (rsyslog, syslog-ng) is framing, not message; structured data is queryable metadata", async (t) => {
  const d = await startDaemon(t, { syslog: { port: 0 } });
  const s = await rawConnection(d.syslog!.port);
  const frames = [
    '<14>1 2025-11-21T21:00:00Z web-1 nginx 12 ID47 [exampleSDID@32473 iut="3" eventSource="Application"] GET /index\n',
    '<14>1 2025-11-21T21:00:01Z web-1 nginx - - - GET /about\r\n',
  ];
  s.end(frames.map((f) => `${Buffer.byteLength(f)} ${f}`).join(''));
  await settled(d, 2);
  const got = await storedEntries(d, '{service="nginx"}');
  t.deepEqual(
    got.map((e) => [e.message, e.metadata]),
    [
      ['GET /index', { exampleSDID_32473_eventSource: 'Application', exampleSDID_32473_iut: '3', msg_id: 'ID47', proc_id: '12' }],
      ['GET /about', undefined],
    ],
  );
  t.deepEqual(
    (await storedEntries(d, '{service="nginx"} | exampleSDID_32473_iut="3"')).map((e) => e.message),
    ['GET /index'],
  );
});

test('bytes that are not syslog are refused loudly: a warning naming the peer, rate-limited, with the count', async (t) => {
  const clock = new SimulatedClock();
  const warnings: string[] = [];
  const d = await startDaemon(t, {
    syslog: { port: 0, clock },
    log: (level, message) => {
      if (level === 'warn' && message.startsWith('syslog:')) warnings.push(message);
    },
  });
  // pino-socket's NDJSON, sent to the syslog port by mistake.
  const ndjson = (n: number) => Array.from({ length: n }, (_, i) => JSON.stringify({ level: 30, time: 1, msg: `m${i}` }) + '\n').join('');
  const send = async (text: string, total: number) => {
    const s = await rawConnection(d.syslog!.port);
    s.end(text);
    await settled(d, total);
  };
  await send(ndjson(3), 3);
  t.is(warnings.length, 1);
  t.regex(warnings[0]!, /127\.0\.0\.1 sent 3 message\(s\) that are not syslog/);
  t.regex(warnings[0]!, /looks like JSON.*POST \/api\/v1\/ingest/);
  await send(ndjson(2), 5);
  t.is(warnings.length, 1, 'within the interval: counted, not logged');
  clock.advance(10_000);
  await send(ndjson(1), 6);
  t.is(warnings.length, 2);
  t.regex(warnings[1]!, /sent 3 message\(s\)/, 'the suppressed two and this one');
  t.like(d.syslog!.stats(), { rejected: 6 });
});
