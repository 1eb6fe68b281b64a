import { readFileSync } from 'node:fs';
import { TributaryError } from '../errors.js';

/** Certificate files named by a configuration (PEM). */
export interface TlsFiles {
  readonly cert: string;
  readonly key: string;
  /** Clients must present a certificate this CA signed (mutual TLS). */
  readonly ca?: string;
}

/** The files' contents, read at start. */
export interface TlsMaterial {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly ca?: Buffer;
}

/** Reads the PEM files; `key` names the configuration key in the error ("http.tls"). */
export function readTls(files: TlsFiles, key: string): TlsMaterial {
  const read = (field: 'cert' | 'key' | 'ca', path: string) => {
    try {
      return readFileSync(path);
    } catch (err) {
      throw new TributaryError(
        'E_CONFIG_INVALID',
        `${key}.${field} ${path} cannot be read: ${(err as Error).message}`,
        { key: `${key}.${field}`, path },
        { cause: err },
      );
    }
  };
  return { cert: read('cert', files.cert), key: read('key', files.key), ...(files.ca ? { ca: read('ca', files.ca) } : {}) };
}
