// Entry point of an actor host thread: builds the host from workerData,
// serves the control plane over comlink, reports events over parentPort.
import { parentPort, workerData } from 'node:worker_threads';
import * as Comlink from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { ActorHost } from './host.js';
import type { HostEvent, HostInit } from './protocol.js';

const init = workerData as HostInit;
const post = (event: HostEvent): void => parentPort!.postMessage(event);
const host = new ActorHost(init, post);
Comlink.expose(host.api, nodeEndpoint(init.control));
// Ready first: the scheduler may park right away, and nothing should wait on that.
post({ type: 'ready' });
host.start();
