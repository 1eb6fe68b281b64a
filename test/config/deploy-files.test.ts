import test from 'ava';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { parseServers } from '../../src/cluster/nats.js';
import { loadConfig } from '../../src/config/load.js';
import { natsServer } from '../helpers/cluster.js';
import { tempDir } from '../helpers/system.js';

/** The files operators copy (deploy/, docs/CLUSTER.md) stay true to the code: they load, and the cluster's pieces name each other. */

const repo = (path: string) => fileURLToPath(new URL(`../../../${path}`, import.meta.url));
const read = (path: string) => readFileSync(repo(path), 'utf8');

interface ComposeService {
  command?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
}
const compose = parseYaml(read('deploy/cluster/docker-compose.yml'), { merge: true }) as { services: Record<string, ComposeService> };
const natsServices = Object.keys(compose.services).filter((n) => n.startsWith('nats-'));
const flag = (s: ComposeService, name: string) => s.command![s.command!.indexOf(name) + 1]!;

test('deploy/tributary.yaml and the configuration in docs/CLUSTER.md load', (t) => {
  t.notThrows(() => loadConfig({ file: repo('deploy/tributary.yaml') }));
  const block = /or, in `\/etc\/tributary\/tributary.yaml`[^\n]*\n\n```yaml\n([\s\S]*?)```/.exec(read('docs/CLUSTER.md'))?.[1];
  t.truthy(block, 'docs/CLUSTER.md has its example configuration');
  const file = join(tempDir(t), 'tributary.yaml');
  writeFileSync(file, block!);
  t.is(loadConfig({ file }).cluster.servers.length, 3);
});

test('the compose cluster: three NATS nodes, each named as its service and routed to all; every member and the collector list every node', (t) => {
  t.is(natsServices.length, 3);
  const conf = read('deploy/cluster/nats.conf');
  for (const name of natsServices) {
    t.is(compose.services[name]!.environment?.NATS_NAME, name);
    t.true(compose.services[name]!.volumes!.some((v) => v.startsWith('./nats.conf:')));
    t.true(conf.includes(`nats://${name}:6222`), `nats.conf routes to ${name}`);
  }
  const expected = natsServices.map((n) => `nats://${n}:4222`).sort();
  const members = Object.entries(compose.services).filter(([n]) => n.startsWith('tributary-'));
  t.is(members.length, 3);
  for (const [, s] of members) {
    t.is(s.command![0], 'start');
    t.deepEqual(parseServers(flag(s, '--cluster')).sort(), expected);
  }
  t.deepEqual(parseServers(flag(compose.services.collector!, '--aggregator')).sort(), expected);
});

(natsServer ? test : test.skip)('deploy/cluster/nats.conf is a valid nats-server configuration', (t) => {
  const r = spawnSync(natsServer!, ['-c', repo('deploy/cluster/nats.conf'), '-t'], { env: { ...process.env, NATS_NAME: 'nats-1' }, encoding: 'utf8' });
  t.is(r.status, 0, r.stderr);
  t.regex(r.stderr, /configuration file .* is valid/);
});
