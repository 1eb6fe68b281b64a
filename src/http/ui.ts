import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { TOKEN_COOKIE } from './auth.js';
import type { TokenSet } from '../security/tokens.js';

/** The UI's files: plain HTML, CSS and JavaScript in ui/ (no build step), and uPlot from its package. */
const UI_DIR = fileURLToPath(new URL('../../../ui/', import.meta.url));
const UPLOT_DIR = dirname(createRequire(import.meta.url).resolve('uplot'));

interface Asset {
  readonly type: string;
  readonly body: Buffer;
}

function loadAssets(): Map<string, Asset> {
  const files: [string, string, string][] = [
    ['/', join(UI_DIR, 'index.html'), 'text/html; charset=utf-8'],
    ['/ui/app.js', join(UI_DIR, 'app.js'), 'text/javascript; charset=utf-8'],
    ['/ui/style.css', join(UI_DIR, 'style.css'), 'text/css; charset=utf-8'],
    ['/ui/vendor/uPlot.iife.min.js', join(UPLOT_DIR, 'uPlot.iife.min.js'), 'text/javascript; charset=utf-8'],
    ['/ui/vendor/uPlot.min.css', join(UPLOT_DIR, 'uPlot.min.css'), 'text/css; charset=utf-8'],
  ];
  return new Map(files.map(([route, path, type]) => [route, { type, body: readFileSync(path) }]));
}

const LOGIN_PAGE = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Tributary: sign in</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>body{font:15px system-ui,sans-serif;background:#0f1419;color:#e6e6e6;display:grid;place-items:center;height:100vh;margin:0}
form{background:#1a2129;padding:2em;border-radius:8px;min-width:22em}input{width:100%;box-sizing:border-box;padding:.6em;margin:.8em 0;background:#0f1419;color:inherit;border:1px solid #3a4450;border-radius:4px}
button{padding:.6em 1.2em;background:#2f81f7;color:#fff;border:0;border-radius:4px;cursor:pointer}#err{color:#ff7b72;min-height:1.2em}</style></head>
<body><form id="f"><h2>Tributary</h2><label for="t">Bearer token</label><input id="t" type="password" autocomplete="current-password" required autofocus>
<div id="err"></div><button type="submit">Sign in</button></form><script>
document.getElementById('f').onsubmit=async(e)=>{e.preventDefault();const r=await fetch('/ui/login',{method:'POST',headers:{'content-type':'application/json'},body:JSON.stringify({token:document.getElementById('t').value})});
if(r.ok)location.reload();else document.getElementById('err').textContent='That token is not valid.'};</script></body></html>`;

/** A browser asking for a page without a valid token gets the sign-in page (still a 401), anything else the JSON 401. */
export function uiSignIn(req: FastifyRequest, reply: FastifyReply): boolean {
  const path = req.url.split('?', 1)[0]!;
  if (req.method !== 'GET' || path !== '/' || !(req.headers.accept ?? '').includes('text/html')) return false;
  void reply.code(401).type('text/html; charset=utf-8').send(LOGIN_PAGE);
  return true;
}

/**
 * The web UI at `/`: a query box over the LogQL API, results with infinite
 * scroll by cursor, a histogram of counts by level that zooms the range, a
 * live tail (SSE) and the anomaly panel (SSE). With tokens configured,
 * `POST /ui/login` checks a token and sets it as an HttpOnly, SameSite=Strict
 * cookie, which the server honours on GET requests only.
 */
export function registerUi(app: FastifyInstance, tokens: TokenSet, secure: boolean): void {
  const assets = loadAssets();
  for (const [route, asset] of assets) {
    app.get(route, async (_req, reply) => reply.type(asset.type).header('cache-control', 'no-cache').send(asset.body));
  }
  app.post('/ui/login', async (req, reply) => {
    const token = (req.body as { token?: unknown } | undefined)?.token;
    if (!tokens.enabled) return { status: 'success' };
    if (typeof token !== 'string' || !tokens.accepts(token)) {
      return reply.code(401).send({ status: 'error', error: { code: 'E_UNAUTHENTICATED', message: 'the token is not valid' } });
    }
    const cookie = `${TOKEN_COOKIE}=${encodeURIComponent(token)}; HttpOnly; SameSite=Strict; Path=/${secure ? '; Secure' : ''}`;
    return reply.header('set-cookie', cookie).send({ status: 'success' });
  });
  app.get('/ui/logout', async (_req, reply) => reply.header('set-cookie', `${TOKEN_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0`).redirect('/'));
}
