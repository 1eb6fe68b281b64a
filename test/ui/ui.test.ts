import test, { type ExecutionContext } from 'ava';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { Daemon } from '../../src/daemon/daemon.js';
import { Level } from '../../src/model/level.js';
import type { LogEntry } from '../../src/model/entry.js';
import { startDaemon } from '../helpers/daemon.js';

/**
 * The web UI end to end in headless Chromium (Debian's chromium, driven by
 * playwright-core): query box and its errors, level colours, infinite
 * scroll, the histogram's zoom, live tail, the anomaly panel, sign-in.
 * Screenshots go to test-results/ui/. Skipped, saying so, only where no
 * Chromium can be found (CI installs Debian's; CHROMIUM_PATH names another).
 */

function findChromium(): string | undefined {
  const candidates = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'];
  for (const c of candidates) if (c && existsSync(c)) return c;
  try {
    return execFileSync('which', ['chromium'], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

const executable = findChromium();
if (!executable) console.log('UI tests skipped: no Chromium found (apt-get install chromium, or set CHROMIUM_PATH)');
const uiTest = executable ? test.serial : test.skip;

// The functions given to page.evaluate and waitForFunction run in the page, where these exist.
declare const document: any;
declare function getComputedStyle(el: unknown): { color: string };

const SHOTS = fileURLToPath(new URL('../../../test-results/ui/', import.meta.url));

async function browser(t: ExecutionContext): Promise<Browser> {
  const b = await chromium.launch({
    executablePath: executable!,
    headless: true,
    // The machines' network is closed: background fetches by Chromium would only fail slowly.
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  t.teardown(() => b.close());
  return b;
}

async function shot(page: Page, name: string): Promise<void> {
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

const nowNs = () => BigInt(Date.now()) * 1_000_000n;

/** `n` entries over the last minute: services a and b, a level mix, distinct messages. */
function entries(n: number, tag: string): LogEntry[] {
  const base = nowNs() - 60_000_000_000n;
  return Array.from({ length: n }, (_, i) => ({
    ts: base + BigInt(i) * 50_000_000n,
    level: [Level.DEBUG, Level.INFO, Level.INFO, Level.WARN, Level.ERROR][i % 5]!,
    service: i % 2 === 0 ? 'svc-a' : 'svc-b',
    server: `srv-${i % 7}`,
    region: `region-${i % 3}`,
    message: `${tag} request ${i} handled`,
  }));
}

const rows = (page: Page) => page.locator('#results tbody tr').count();

uiTest('the UI queries, shows errors in place, colours levels, scrolls by cursor, zooms, tails live and shows anomalies', async (t) => {
  const d: Daemon = await startDaemon(t, { anomaly: { rule: { size: 20, threshold: 5 } } });
  await d.ingest(entries(600, 'seed'));
  const page = await (await browser(t)).newPage({ viewport: { width: 1400, height: 900 } });
  await page.goto(d.url);

  // Results: the first page of 200, newest first, levels coloured.
  await page.waitForFunction(() => document.querySelectorAll('#results tbody tr').length === 200);
  const errorCell = page.locator('#results td.lvl-ERROR').first();
  t.is(await errorCell.textContent(), 'ERROR');
  t.is(await errorCell.evaluate((el) => getComputedStyle(el).color), 'rgb(248, 81, 73)');
  await page.waitForSelector('#chart .uplot canvas');
  await shot(page, '1-results');

  // Infinite scroll: reaching the bottom fetches the next page by cursor.
  await page.locator('#results-box').evaluate((el) => el.scrollTo(0, el.scrollHeight));
  await page.waitForFunction(() => document.querySelectorAll('#results tbody tr').length === 400);
  await page.locator('#results-box').evaluate((el) => el.scrollTo(0, el.scrollHeight));
  await page.waitForFunction(() => document.querySelectorAll('#results tbody tr').length === 600);
  // A full page may have had a next one: the next scroll finds it empty, and the list says it is complete.
  await page.locator('#results-box').evaluate((el) => el.scrollTo(0, el.scrollHeight));
  await page.waitForFunction(() => document.getElementById('more')!.textContent!.includes('600 entries, that is all'));

  // A bad query: the parser's message in place, the caret under the position.
  await page.fill('#query', '{service="svc-a"');
  await page.click('#run');
  await page.waitForSelector('#query-error:not([hidden])');
  const message = await page.textContent('#query-error');
  t.regex(message!, /parse error at 1:17/);
  t.regex(message!, /\n {16}\^/);
  // Nothing of the query before it stays: no rows, no histogram, no "loading".
  await page.waitForFunction(() => document.querySelector('#chart .uplot') === null);
  t.is(await page.locator('#results tbody tr').count(), 0);
  t.is(await page.textContent('#more'), '');
  await shot(page, '2-query-error');

  // A good one: only what it selects.
  await page.fill('#query', '{service="svc-a"} | level >= ERROR');
  await page.click('#run');
  await page.waitForFunction(() => document.getElementById('query-error')!.hidden && document.getElementById('more')!.textContent!.includes('that is all'));
  const shown = await page.$$eval('#results tbody tr', (trs) => trs.map((tr) => [tr.children[1]!.textContent, tr.children[2]!.textContent]));
  t.is(shown.length, 60); // every 10th of 600 is an ERROR of svc-a
  t.true(shown.every(([level, service]) => level === 'ERROR' && service === 'svc-a'));

  // Zoom: a drag over the histogram narrows the range and runs the query again.
  await page.fill('#query', '{}');
  await page.click('#run');
  await page.waitForFunction(() => document.querySelectorAll('#results tbody tr').length === 200);
  // The histogram comes apart from the rows: the chart must be this query's, not the one before it (drawn again under load).
  await page.waitForFunction(() => {
    const chart = document.getElementById('chart')!;
    return chart.dataset.drawn === chart.dataset.want && chart.querySelector('.u-over') !== null;
  });
  const over = await page.locator('#chart .u-over').boundingBox();
  await page.mouse.move(over!.x + over!.width * 0.2, over!.y + over!.height / 2);
  await page.mouse.down();
  await page.mouse.move(over!.x + over!.width * 0.9, over!.y + over!.height / 2, { steps: 5 });
  await page.mouse.up();
  await page.waitForSelector('#reset-zoom');
  t.regex((await page.textContent('#range-label'))!, /zoomed to/);
  await shot(page, '3-zoomed');
  await page.click('#reset-zoom');
  await page.waitForFunction(() => !document.getElementById('reset-zoom'));

  // A metric query is plotted as series, one line each, and listed with its values.
  await page.fill('#query', 'sum by (service) (count_over_time({service=~"svc-a|svc-b"}[10s]))');
  await page.click('#run');
  await page.waitForFunction(() => document.querySelectorAll('#series tbody tr').length === 2);
  t.true(await page.locator('#results').isHidden());
  t.deepEqual(await page.$$eval('#series tbody tr td:first-child', (tds) => tds.map((td) => td.textContent).sort()), [
    '{service="svc-a"}',
    '{service="svc-b"}',
  ]);
  await page.waitForSelector('#chart .uplot canvas');
  t.is(await page.locator('#chart .u-legend .u-series').count(), 3, 'the time axis and one line per series');
  await shot(page, '3b-metric');

  // The label browser: names from the labels API, a name's values, a value added to the selector.
  await page.fill('#query', '{}');
  await page.click('#labels-box summary');
  await page.locator('#label-names button', { hasText: /^service$/ }).click();
  await page.waitForFunction(() => document.querySelectorAll('#label-values button').length >= 2);
  await page.locator('#label-values button', { hasText: /^svc-b$/ }).click();
  t.is(await page.inputValue('#query'), '{service="svc-b"}');
  await page.waitForFunction(() => document.querySelectorAll('#results tbody tr').length === 200);
  t.true((await page.$$eval('#results tbody tr', (trs) => trs.map((tr) => tr.children[2]!.textContent))).every((s) => s === 'svc-b'));

  // An absolute range: from and to typed in; a range before the entries holds none.
  await page.selectOption('#range', 'absolute');
  const local = (ms: number) => {
    const d = new Date(ms);
    const p = (n: number) => String(n).padStart(2, '0');
    return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
  };
  await page.fill('#from', local(Date.now() - 3 * 3600_000));
  await page.fill('#to', local(Date.now() - 2 * 3600_000));
  await page.click('#run');
  await page.waitForFunction(() => document.getElementById('more')!.textContent === 'no entries in this range');
  await page.fill('#to', local(Date.now() + 60_000));
  await page.click('#run');
  await page.waitForFunction(() => document.querySelectorAll('#results tbody tr').length === 200);
  await page.selectOption('#range', '1h');
  await page.fill('#query', '{}');
  await page.click('#run');
  await page.waitForFunction(() => document.querySelectorAll('#results tbody tr').length === 200);

  // Live tail: an entry stored now shows up at the top by itself.
  await page.check('#live');
  await d.ingest([{ ts: nowNs(), level: Level.WARN, service: 'svc-live', server: 'srv-1', region: 'region-1', message: 'tailed entry' }]);
  await page.waitForFunction(() => document.querySelector('#results tbody tr.new td.msg')?.textContent === 'tailed entry', undefined, { timeout: 15_000 });
  await page.uncheck('#live');

  // Anomaly panel: a burst of errors flags svc-burst, and the panel shows it without a reload.
  t.regex((await page.textContent('#flagged'))!, /no service flagged/);
  const burst: LogEntry[] = Array.from({ length: 20 }, (_, i) => ({
    ts: nowNs() + BigInt(i),
    level: Level.ERROR,
    service: 'svc-burst',
    server: 'srv-1',
    region: 'region-1',
    message: `failure ${i}`,
  }));
  await d.ingest(burst);
  await page.waitForFunction(() => document.getElementById('flagged')!.textContent!.includes('svc-burst'), undefined, { timeout: 15_000 });
  t.regex((await page.textContent('#events'))!, /flagged svc-burst/);
  await shot(page, '4-live-and-anomaly');
});

uiTest('a query run while the one before it is still loading is answered: the older page does not hold the newer one back', async (t) => {
  const d: Daemon = await startDaemon(t);
  await d.ingest(entries(50, 'held'));
  const page = await (await browser(t)).newPage();
  await page.goto(d.url);
  await page.waitForFunction(() => document.querySelectorAll('#results tbody tr').length === 50);
  // The next log query's answer is held at the network until the query after it has been asked.
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let held = false;
  await page.route(/\/api\/v1\/query\?/, async (route) => {
    if (held) {
      release();
      return route.continue();
    }
    held = true;
    await released;
    await route.continue();
  });
  await page.fill('#query', '{service="svc-a"}');
  await page.click('#run');
  await page.waitForFunction(() => document.getElementById('more')!.textContent === 'loading...');
  await page.fill('#query', '{service="svc-b"}');
  await page.click('#run');
  await page.waitForFunction(() => document.getElementById('more')!.textContent === '25 entries, that is all');
  t.true((await page.$$eval('#results tbody tr', (trs) => trs.map((tr) => tr.children[2]!.textContent))).every((s) => s === 'svc-b'));
  t.is(await rows(page), 25);
});

uiTest('with tokens, the UI asks to sign in, refuses a wrong token and works with the right one', async (t) => {
  const token = 'ui-test-token-0123456789';
  const d: Daemon = await startDaemon(t, { auth: { tokens: [token] } });
  await d.ingest(entries(30, 'auth'));
  const page = await (await browser(t)).newPage();
  const first = await page.goto(d.url);
  t.is(first!.status(), 401);
  await page.waitForSelector('input[type=password]');
  t.is(await rows(page), 0);
  await page.fill('input[type=password]', 'not-the-token-0000000');
  await page.click('button[type=submit]');
  await page.waitForFunction(() => document.getElementById('err')!.textContent !== '');
  await page.fill('input[type=password]', token);
  await page.click('button[type=submit]');
  await page.waitForFunction(() => document.querySelectorAll('#results tbody tr').length === 30);
  await shot(page, '5-signed-in');
  // The cookie is HttpOnly: scripts on the page cannot read the token.
  t.is(await page.evaluate(() => document.cookie), '');
});
