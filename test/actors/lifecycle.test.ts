import test from 'ava';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

test('after system.stop() the process exits by itself: no worker, port or timer left open', async (t) => {
  const script = fileURLToPath(new URL('../fixtures/scripts/lifecycle.js', import.meta.url));
  const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => child.kill('SIGKILL'));
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d));
  child.stderr.on('data', (d: Buffer) => (err += d));
  const code = await new Promise<number | null>((resolve) => {
    const timer = setTimeout(() => resolve(null), 30_000);
    child.once('exit', (c) => {
      clearTimeout(timer);
      resolve(c);
    });
  });
  t.is(code, 0, `process did not exit cleanly within 30 s: ${err}`);
  t.is(out.trim(), 'stopped');
});
