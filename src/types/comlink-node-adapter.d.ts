// comlink ships node-adapter.d.ts next to node-adapter.mjs, which TypeScript's
// NodeNext resolution does not pair with an .mjs file; this restates its type.
declare module 'comlink/dist/esm/node-adapter.mjs' {
  import type { Endpoint } from 'comlink';
  import type { MessagePort, Worker } from 'node:worker_threads';
  export default function nodeEndpoint(nep: MessagePort | Worker): Endpoint;
}
