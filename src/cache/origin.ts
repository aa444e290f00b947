/**
 * Origins: where a cached source fetches its bytes from (a registry host, or the chain of a
 * registry's mirrors ending at the registry). Until a blob is verified, the chunks one origin
 * sent are served only to reads through that origin: a lying registry's bytes are never handed
 * to another registry's image that names the same digest. Each origin's unverified instance
 * lives in its own directory, named by {@link originId}.
 *
 * @packageDocumentation
 */
import { createHash } from 'node:crypto';
import { InvalidOptionError } from '../errors.js';

/** The origin of sources opened without one (library callers with a single upstream). */
export const DEFAULT_ORIGIN = '';

/** Longest origin name accepted (a mirror chain of a few URLs). */
export const MAX_ORIGIN_LENGTH = 4096;

/** Checks an origin name: a string without NUL or line breaks, at most {@link MAX_ORIGIN_LENGTH} characters. */
export function checkOrigin(origin: unknown): string {
  if (typeof origin !== 'string' || origin.length > MAX_ORIGIN_LENGTH || /[\0\r\n]/.test(origin)) {
    throw new InvalidOptionError(
      'origin',
      `must be a string of at most ${MAX_ORIGIN_LENGTH} characters without NUL or line breaks`,
    );
  }
  return origin;
}

/** The directory name of an origin: 32 hex digits of the sha256 of its name. */
export function originId(origin: string): string {
  return createHash('sha256').update(origin, 'utf8').digest('hex').slice(0, 32);
}

/** True when `name` could be an {@link originId} (and so a directory the cache made). */
export function isOriginId(name: string): boolean {
  return /^[0-9a-f]{32}$/.test(name);
}
