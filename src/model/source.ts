import { nanoid } from 'nanoid';
import { TributaryError } from '../errors.js';

/**
 * Source ids name whoever first encoded an entry (a collector, a front door
 * connection, a producer). They are nanoids: 21 URL-safe characters, so
 * collisions need ~10^15 ids before a 1-in-a-billion chance.
 */
export const SOURCE_ID_LENGTH = 21;

const SOURCE_ID_PATTERN = /^[A-Za-z0-9_-]{1,32}$/;

export function newSourceId(): string {
  return nanoid(SOURCE_ID_LENGTH);
}

export function assertSourceId(id: string): void {
  if (!SOURCE_ID_PATTERN.test(id)) {
    throw new TributaryError('E_INVALID_ARGUMENT', `source id must be 1-32 characters of [A-Za-z0-9_-], got ${JSON.stringify(id.slice(0, 40))}`, {
      sourceId: id.slice(0, 40),
    });
  }
}
