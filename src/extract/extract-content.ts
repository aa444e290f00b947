/**
 * Helpers of the extractor (`extract.ts`): which content its writer thread can copy from local
 * files, and the extraction's own AbortSignal.
 *
 * @packageDocumentation
 */
import { setMaxListeners } from 'node:events';
import type { ByteSource, EncodedSpan } from '../io/byte-source.js';

/** Largest encoded span (either side) handed to the writer; larger ones are read here. */
export const MAX_ENCODED_SPAN = 64 * 1024 * 1024;

/**
 * The spans of local files the extractor's writer thread can make a file from (`encodings`:
 * what it can decode; `unverified`: see `ReadOptions.unverified`), or undefined: then the
 * content is read through the event loop. Spans that do not add up to the file's size, or
 * encoded ones beyond {@link MAX_ENCODED_SPAN}, are not used.
 */
export async function contentSpans(
  source: ByteSource,
  encodings: readonly string[],
  signal: AbortSignal | undefined,
  unverified = false,
): Promise<EncodedSpan[] | undefined> {
  const spans = source.encodedSpans
    ? await source.encodedSpans(0, source.size, { signal, encodings, unverified })
    : await source.fileSpans?.(0, source.size, { signal, unverified });
  if (spans === undefined) return undefined;
  let total = 0;
  for (const s of spans as EncodedSpan[]) {
    if (s.encoding !== undefined) {
      if (!encodings.includes(s.encoding)) return undefined;
      const d = s.decodedLength ?? -1;
      if (!Number.isSafeInteger(d) || d <= 0 || d > MAX_ENCODED_SPAN || s.length > MAX_ENCODED_SPAN) return undefined;
      total += d;
    } else {
      total += s.length;
    }
  }
  if (total !== source.size) return undefined;
  return spans;
}

/**
 * A signal that follows the caller's, with no cap on listeners: every read in flight may listen
 * to it (dozens at once here), which on the caller's own signal would trip Node's
 * MaxListenersExceededWarning. The caller's signal gets one listener.
 */
export function ownSignal(outer: AbortSignal | undefined): { signal?: AbortSignal; dispose(): void } {
  if (outer === undefined) return { dispose() {} };
  const inner = new AbortController();
  setMaxListeners(0, inner.signal);
  const onAbort = () => inner.abort(outer.reason);
  if (outer.aborted) onAbort();
  else outer.addEventListener('abort', onAbort, { once: true });
  return { signal: inner.signal, dispose: () => outer.removeEventListener('abort', onAbort) };
}
