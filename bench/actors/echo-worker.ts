// Baselines for the ask benchmark: a bare MessagePort echo and a comlink call.
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import * as Comlink from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';

const { echo, rpc } = workerData as { echo: MessagePort; rpc: MessagePort };
echo.on('message', (m: unknown) => echo.postMessage(m));
Comlink.expose({ ping: (x: unknown) => x }, nodeEndpoint(rpc));
parentPort!.postMessage('ready');
