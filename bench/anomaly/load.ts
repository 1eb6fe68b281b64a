// Child process of bench:anomaly: the synthetic fleet pushed over gRPC
// PushBatches (optionally paced), while the parent probes detection latency.
// It writes "pushing" to stderr when its clock starts and prints
// { entries, ms }. argv: address total [rate]
import { fleetEntry } from '../lib/fleet.js';
import { ingestClient, ringFramer, streamFrames } from '../lib/batch-stream.js';

const [address, totalArg, rateArg] = process.argv.slice(2) as [string, string, string | undefined];
const total = Number(totalArg);
const T0 = BigInt(Date.now()) * 1_000_000n;
const client = ingestClient(address);
const { frames, frame } = await ringFramer(client);
for (let n = 0; n < total; n += 5000) frame(Array.from({ length: Math.min(5000, total - n) }, (_, i) => fleetEntry(n + i, T0 + BigInt(n + i))));
const t0 = performance.now();
process.stderr.write('pushing\n');
await streamFrames(client, frames, Number(rateArg ?? 0));
const ms = performance.now() - t0;
client.close();
console.log(JSON.stringify({ entries: total, ms }));
