import { readFileSync } from 'node:fs';

/** The package's version, from package.json (dist/src/version.js is two levels below it). */
export const VERSION: string = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
