/**
 * Builds a {@link TarIndex} over an uncompressed tar byte source by reading headers only and
 * seeking over member data.
 *
 * @packageDocumentation
 */
import { debuglog } from '../io/debug-log.js';
import { InvalidOptionError, isOcifsError, throwIfAborted } from '../errors.js';
import type { ByteSource, ReadOptions } from '../io/byte-source.js';
import { CorruptTarError } from './errors.js';
import type { IndexStore } from './index-store.js';
import { TAR_INDEX_NAME, decodeTarIndex, encodeTarIndex, type TarIndex } from './tar-index.js';
import { TarParser, type TarParserOptions } from './tar-parser.js';

const debug = debuglog('ocifs:tar');

/** Default bytes read at once around a header (small members' headers then come in one read). */
export const DEFAULT_HEADER_READAHEAD = 16 * 1024;

/** Options of {@link scanTar}. */
export interface ScanTarOptions extends ReadOptions, Omit<TarParserOptions, 'totalSize'> {
  /** Bytes read at once when a header is needed (default {@link DEFAULT_HEADER_READAHEAD}). */
  headerReadAhead?: number;
}

/** Reads the headers of the tar stream in `source` and returns its index. */
export async function scanTar(source: ByteSource, options: ScanTarOptions = {}): Promise<TarIndex> {
  const readAhead = options.headerReadAhead ?? DEFAULT_HEADER_READAHEAD;
  if (!Number.isSafeInteger(readAhead) || readAhead < 512 || readAhead > 64 * 1024 * 1024) {
    throw new InvalidOptionError('headerReadAhead', 'must be an integer between 512 and 64 MiB');
  }
  const parser = new TarParser({ ...options, totalSize: source.size });
  let buf: Uint8Array = new Uint8Array(0);
  let bufAt = 0;
  for (;;) {
    const need = parser.need();
    if (need.kind === 'done') break;
    if (need.kind === 'skip') {
      if (parser.position + need.length > source.size) {
        // Ends inside the skip: fine only when just the last member's padding is missing.
        parser.end(source.size - parser.position);
        break;
      }
      parser.skipped();
      continue;
    }
    const pos = parser.position;
    if (pos === source.size && need.length === 512) {
      parser.end();
      break;
    }
    if (pos + need.length > source.size) throw new CorruptTarError('archive is truncated', pos);
    if (pos < bufAt || pos + need.length > bufAt + buf.length) {
      throwIfAborted(options.signal);
      buf = await source.read(pos, Math.min(Math.max(need.length, readAhead), source.size - pos), {
        signal: options.signal,
      });
      bufAt = pos;
    }
    parser.give(buf.subarray(pos - bufAt, pos - bufAt + need.length));
  }
  return { tarSize: source.size, entries: parser.entries };
}

/**
 * The index of `source` from `store` when a valid one is there, else built by {@link scanTar}
 * and stored. A stored index that fails validation is rebuilt, never used.
 */
export async function loadOrScanTar(
  source: ByteSource,
  store: IndexStore | undefined,
  options: ScanTarOptions = {},
): Promise<TarIndex> {
  const stored = await store?.get(TAR_INDEX_NAME);
  if (stored) {
    try {
      const index = await decodeTarIndex(stored);
      if (index.tarSize === source.size) return index;
      debug('stored tar index is for %d bytes, source has %d: rebuilding', index.tarSize, source.size);
    } catch (err) {
      if (!isOcifsError(err, 'ERR_OCIFS_CORRUPT_INDEX')) throw err;
      debug('stored tar index rejected (%s): rebuilding', (err as Error).message);
    }
  }
  const index = await scanTar(source, options);
  await store?.put(TAR_INDEX_NAME, await encodeTarIndex(index));
  return index;
}
