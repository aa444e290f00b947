/**
 * Waiting with an abort signal in the cache.
 *
 * @packageDocumentation
 */
import { AbortedError } from '../errors.js';

/** Settles like `p`, or rejects with {@link AbortedError} as soon as `signal` aborts (`p` goes on). */
export function raceAbort<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(new AbortedError({ cause: signal.reason }));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new AbortedError({ cause: signal.reason }));
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
