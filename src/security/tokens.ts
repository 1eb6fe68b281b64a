import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { TributaryError } from '../errors.js';

const digest = (token: string) => createHash('sha256').update(token, 'utf8').digest();

/**
 * The bearer tokens a daemon accepts. A presented token is compared with
 * every configured one in constant time: both sides are hashed first, so the
 * comparison takes the same time whatever the lengths, and no early exit
 * tells which token (or how much of one) matched.
 */
export class TokenSet {
  private readonly digests: Buffer[];

  constructor(tokens: readonly string[]) {
    this.digests = [...new Set(tokens)].map(digest);
  }

  /** True when tokens are configured: every door then asks for one. */
  get enabled(): boolean {
    return this.digests.length > 0;
  }

  /** Whether `presented` is one of the tokens (false when absent). */
  accepts(presented: string | undefined): boolean {
    if (presented === undefined || presented === '') return false;
    const d = digest(presented);
    let ok = false;
    for (const known of this.digests) ok = timingSafeEqual(d, known) || ok;
    return ok;
  }

  /** The token in an Authorization header's value ("Bearer <token>"), if it is one. */
  static fromHeaderOf(value: string | undefined): string | undefined {
    if (!value) return undefined;
    const m = /^Bearer[ ]+(\S+)\s*$/i.exec(value);
    return m ? m[1] : undefined;
  }
}

/** Tokens from a file: one per line, blank lines and # comments ignored. */
export function readTokensFile(path: string): string[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new TributaryError(
      'E_CONFIG_INVALID',
      `auth.tokensFile ${path} cannot be read: ${(err as Error).message}`,
      { key: 'auth.tokensFile', path },
      { cause: err },
    );
  }
  const tokens = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  const short = tokens.findIndex((t) => t.length < 16);
  if (short >= 0)
    throw new TributaryError('E_CONFIG_INVALID', `auth.tokensFile ${path}: token ${short + 1} is shorter than 16 characters`, { key: 'auth.tokensFile', path });
  if (tokens.length === 0) throw new TributaryError('E_CONFIG_INVALID', `auth.tokensFile ${path} holds no token`, { key: 'auth.tokensFile', path });
  return tokens;
}
