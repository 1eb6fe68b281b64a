import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { TokenSet } from '../security/tokens.js';

/** The cookie the web UI's sign-in sets: the token itself, HttpOnly, SameSite=Strict. */
export const TOKEN_COOKIE = 'tributary_token';

/** Routes that neither read nor write logs and must answer probes without a token. */
const OPEN_ROUTES = new Set(['/healthz', '/readyz', '/ready', '/ui/login', '/ui/logout']);

function cookieToken(req: FastifyRequest): string | undefined {
  const header = req.headers.cookie;
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === TOKEN_COOKIE) return decodeURIComponent(part.slice(eq + 1).trim());
  }
  return undefined;
}

/**
 * Bearer-token authentication in front of every route of the server: the
 * query API, the push doors (Loki, OTLP, Tributary), live tails, metrics and
 * the UI. Without a valid `Authorization: Bearer <token>` the answer is 401
 * and nothing else runs. The UI's cookie is honoured only on GET (reads and
 * WebSocket/SSE streams): a page on another site cannot make a browser push
 * or change anything with it, and SameSite=Strict keeps it off cross-site
 * reads too.
 */
export function registerAuth(app: FastifyInstance, tokens: TokenSet, onDenied?: (req: FastifyRequest, reply: FastifyReply) => boolean): void {
  if (!tokens.enabled) return;
  app.addHook('onRequest', async (req, reply) => {
    const path = req.url.split('?', 1)[0]!;
    if (OPEN_ROUTES.has(path)) return;
    const header = req.headers.authorization;
    const presented = header !== undefined ? TokenSet.fromHeaderOf(header) : req.method === 'GET' || req.method === 'HEAD' ? cookieToken(req) : undefined;
    if (tokens.accepts(presented)) return;
    if (onDenied?.(req, reply)) return reply; // answered (the UI's sign-in page)
    return reply
      .code(401)
      .header('www-authenticate', 'Bearer realm="tributary"')
      .send({
        status: 'error',
        error: { code: 'E_UNAUTHENTICATED', message: header ? 'the bearer token is not valid' : 'a bearer token is required (Authorization: Bearer <token>)' },
      });
  });
}
