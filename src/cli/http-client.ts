import { TributaryError, type ErrorCode } from '../errors.js';

/** A running daemon, as the client commands reach it (--url, --token; env TRIBUTARY_URL, TRIBUTARY_TOKEN). */
export interface DaemonTarget {
  readonly url: string;
  readonly token?: string;
}

function headers(t: DaemonTarget, accept: string): Record<string, string> {
  return { accept, ...(t.token ? { authorization: `Bearer ${t.token}` } : {}) };
}

async function request(t: DaemonTarget, path: string, params: Record<string, string>, accept: string, signal?: AbortSignal, method = 'GET'): Promise<Response> {
  const query = new URLSearchParams(params).toString();
  try {
    return await fetch(`${t.url}${path}${query ? `?${query}` : ''}`, { method, headers: headers(t, accept), signal });
  } catch (err) {
    throw new TributaryError('E_IO', `cannot reach the daemon at ${t.url}: ${(err as Error).message} (is it running? npx tributary start)`, { url: t.url });
  }
}

async function failure(res: Response): Promise<TributaryError> {
  const body = (await res.json().catch(() => ({}))) as { error?: { code?: string; message?: string } };
  const code = (body.error?.code ?? (res.status === 401 ? 'E_UNAUTHENTICATED' : 'E_INTERNAL')) as ErrorCode;
  const hint = res.status === 401 ? ' (give --token or set TRIBUTARY_TOKEN)' : '';
  return new TributaryError(code, `${body.error?.message ?? `HTTP ${res.status}`}${hint}`, { status: res.status });
}

/** GET (or another method on) a JSON API of the daemon: its `data`, or the daemon's error as a TributaryError. */
export async function getJson<T>(t: DaemonTarget, path: string, params: Record<string, string> = {}, method = 'GET'): Promise<T> {
  const res = await request(t, path, params, 'application/json', undefined, method);
  if (!res.ok) throw await failure(res);
  const body = (await res.json()) as { status: string; data: T };
  return body.data;
}

/**
 * Follows a Server-Sent Events stream of the daemon, calling `onEvent` per
 * event, until `signal` aborts it (resolves) or the daemon ends it (rejects).
 * `onOpen` runs once the daemon has answered (it is subscribed from then on).
 */
export async function followSse(
  t: DaemonTarget,
  path: string,
  params: Record<string, string>,
  onEvent: (event: string, data: string) => void,
  signal: AbortSignal,
  onOpen?: () => void,
): Promise<void> {
  const res = await request(t, path, params, 'text/event-stream', signal);
  if (!res.ok || !res.body) throw await failure(res);
  onOpen?.();
  const decoder = new TextDecoder();
  let buffer = '';
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let event = 'message';
        const data: string[] = [];
        for (const line of block.split('\n')) {
          if (line.startsWith('event: ')) event = line.slice(7);
          else if (line.startsWith('data: ')) data.push(line.slice(6));
        }
        if (data.length > 0) onEvent(event, data.join('\n'));
      }
    }
  } catch (err) {
    if (signal.aborted) return;
    throw err;
  }
  if (!signal.aborted) throw new TributaryError('E_UNAVAILABLE', `the daemon at ${t.url} ended the stream`, { url: t.url });
}
