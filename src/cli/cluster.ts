import type { ClusterStatus } from '../http/cluster.js';
import { table } from './format.js';
import { getJson, type DaemonTarget } from './http-client.js';

type Out = (s: string) => void;
const stdout: Out = (s) => void process.stdout.write(s);

/** `tributary cluster status`: members (alive or not, what they own and hold), every shard's owner and consumer lag. */
export async function clusterStatusCommand(o: DaemonTarget & { json: boolean }, out: Out = stdout): Promise<void> {
  const s = await getJson<ClusterStatus>(o, '/api/v1/cluster');
  if (o.json) {
    out(JSON.stringify(s) + '\n');
    return;
  }
  const lag = s.shardOwners.reduce((n, x) => n + (x.pending ?? 0), 0);
  const unknown = s.shardOwners.filter((x) => x.pending === null).length;
  const orphans = s.shardOwners.filter((x) => x.owner === null).map((x) => x.shard);
  out(
    `cluster of ${s.members.filter((m) => m.live).length} live members (${s.members.length} registered), ${s.shards} shards, JetStream replicas ${s.streamReplicas}; ` +
      `asked ${s.member} (its view ${s.viewAgeMs} ms old); ${s.balanced ? 'balanced' : 'REBALANCING'}; consumer lag ${lag} batches${unknown > 0 ? ` (${unknown} shards did not answer)` : ''}${orphans.length > 0 ? `; NO OWNER: ${orphans.join(', ')}` : ''}\n\n`,
  );
  out(
    table([
      ['MEMBER', 'STATE', 'URL', 'OWNS', 'ANSWERS FOR'],
      ...s.members.map((m) => [m.id, m.live ? 'live' : 'DOWN', m.url, m.owns.join(',') || '-', m.serving.join(',') || '-']),
    ]),
  );
  out('\n');
  out(
    table([
      ['SHARD', 'OWNER', 'PENDING', 'IN STREAM', 'STREAM BYTES'],
      ...s.shardOwners.map((x) => [
        x.shard,
        x.owner ?? 'none',
        x.pending ?? '?',
        x.unarchived ?? '?',
        x.streamBytes === null ? '?' : `${(x.streamBytes / 2 ** 20).toFixed(1)} MiB`,
      ]),
    ]),
  );
}

/** `tributary cluster forget <member>`: a member that will not come back; queries stop reporting its data as missing. */
export async function clusterForgetCommand(id: string, o: DaemonTarget, out: Out = stdout): Promise<void> {
  await getJson(o, `/api/v1/cluster/members/${encodeURIComponent(id)}`, {}, 'DELETE');
  out(`forgot ${id}\n`);
}
