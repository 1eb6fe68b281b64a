import test from 'ava';
import type { ServerInfo } from '@nats-io/nats-core';
import { maxPayload } from '../../src/cluster/nats.js';

// The client clears `info` while it reconnects after its server died: a query or publish sized then must not throw
// (seen as a 500 from /api/v1/query in the kill test), and must keep the bound the servers told.
test('the message bound is what the server told; while reconnecting, the last bound told; before any, the NATS default', (t) => {
  const nc: { info: Pick<ServerInfo, 'max_payload'> | undefined } = { info: undefined };
  const bound = () => maxPayload(nc as { info: ServerInfo | undefined });
  t.is(bound(), 1 << 20);
  nc.info = { max_payload: 8 << 20 };
  t.is(bound(), 8 << 20);
  nc.info = undefined;
  t.is(bound(), 8 << 20);
  nc.info = { max_payload: 2 << 20 };
  t.is(bound(), 2 << 20);
  t.is(maxPayload({ info: undefined }), 1 << 20, 'another connection has its own bound');
});
