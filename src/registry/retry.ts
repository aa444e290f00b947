import { setTimeout as sleep } from 'node:timers/promises';
import { AbortedError, throwIfAborted } from '../errors.js';
import type { IoStats } from '../io/io-stats.js';
import { isRetryable, RegistryError } from './errors.js';

/** How failed requests are retried. */
export interface RetryPolicy {
  /** Retries after the first attempt. */
  maxRetries: number;
  /** First backoff delay (ms); doubles per retry. */
  baseDelay: number;
  /** Largest backoff delay (ms). */
  maxDelay: number;
  /** Largest Retry-After (ms) honoured; longer requests are cut to this. */
  retryAfterMax: number;
}

/**
 * Parses a Retry-After header: delta-seconds or an HTTP-date. Returns milliseconds (≥ 0), or
 * undefined when absent or unparsable.
 */
export function parseRetryAfter(value: string | undefined | null, now = Date.now()): number | undefined {
  if (value === undefined || value === null) return undefined;
  const v = value.trim();
  if (/^[0-9]{1,10}$/.test(v)) return Number(v) * 1000;
  // HTTP-date: IMF-fixdate and the obsolete forms Date.parse understands; must name a weekday or a month.
  if (!/[A-Za-z]{3}/.test(v)) return undefined;
  const t = Date.parse(v);
  if (Number.isNaN(t)) return undefined;
  return Math.max(0, t - now);
}

/**
 * Delay before retry number `attempt` (0-based): the server's Retry-After (capped) when it gave
 * one, else exponential backoff with "equal jitter" (half fixed, half random) so a fleet of
 * clients does not retry in lockstep.
 */
export function retryDelay(attempt: number, policy: RetryPolicy, retryAfter?: number, random = Math.random): number {
  if (retryAfter !== undefined) return Math.min(retryAfter, policy.retryAfterMax);
  const exp = Math.min(policy.maxDelay, policy.baseDelay * 2 ** Math.min(attempt, 30));
  return exp / 2 + random() * (exp / 2);
}

/** Runs `fn`, retrying retryable {@link RegistryError}s per `policy`; aborts promptly on `signal`. */
export async function withRetry<T>(
  fn: (attempt: number) => Promise<T>,
  policy: RetryPolicy,
  options: { signal?: AbortSignal; stats?: IoStats; log?: (msg: string) => void } = {},
): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    throwIfAborted(options.signal);
    try {
      return await fn(attempt);
    } catch (err) {
      if (!isRetryable(err) || attempt >= policy.maxRetries || options.signal?.aborted) throw err;
      const delay = retryDelay(attempt, policy, (err as RegistryError).retryAfter);
      options.log?.(
        `retry ${attempt + 1}/${policy.maxRetries} in ${Math.round(delay)} ms after: ${(err as Error).message}`,
      );
      if (options.stats) options.stats.retries++;
      try {
        await sleep(delay, undefined, { signal: options.signal });
      } catch {
        throw new AbortedError({ cause: options.signal?.reason });
      }
    }
  }
}
