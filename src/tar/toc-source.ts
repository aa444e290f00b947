/**
 * The virtual content stream of a TOC layer (see `toc-index.ts`) as a {@link ByteSource}:
 * a read fetches the compressed ranges of the chunks it touches, decompresses each, checks
 * its `chunkDigest` and serves the bytes. Nothing else of the layer is fetched. Memory stays
 * bounded whatever the chunk sizes: small chunks are decoded in memory (the segment LRU of
 * `chunkCacheBytes`), large ones streamed into temporary files, runs of zeros never stored.
 *
 * @packageDocumentation
 */
import { createHash } from 'node:crypto';
import { DigestMismatchError, InvalidOptionError, throwIfAborted } from '../errors.js';
import type { ByteSource, ReadOptions } from '../io/byte-source.js';
import { clampRead } from '../io/check-range.js';
import { LRUCache } from '../io/lru.js';
import { readPieces } from '../io/read-stream.js';
import { SliceSource } from '../io/slice-source.js';
import { checkChunkLength, type ChunkCodec } from './chunk-codec.js';
import { TempDerivedBlobStore, type DerivedBlobStore } from './derived-blob.js';
import { CorruptTocError } from './errors.js';
import { SegmentedSource } from './segmented-source.js';
import type { TocChunk } from './toc-index.js';

/** Default memory for decoded chunks. */
export const DEFAULT_CHUNK_CACHE_BYTES = 32 * 1024 * 1024;
/**
 * Chunks longer than this are not decoded into memory: they are streamed once into a temporary
 * file (checked against their digest on the way) and read from there. eStargz chunks are 4 MiB
 * by default; zstd:chunked stores a file without a split point as one chunk of any size.
 */
export const DEFAULT_MAX_MEMORY_CHUNK = 16 * 1024 * 1024;
/** Large chunks kept decoded (in temporary files) at once; the least recently used is dropped. */
const MAX_SPILLED = 16;
/** Compressed bytes per read while streaming a large chunk. */
const SPILL_PIECE = 1024 * 1024;

/** Options of {@link TocSource}. */
export interface TocSourceOptions {
  /** Bytes of decoded chunks kept (default {@link DEFAULT_CHUNK_CACHE_BYTES}). */
  chunkCacheBytes?: number;
  /** Largest chunk decoded into memory (default {@link DEFAULT_MAX_MEMORY_CHUNK}); larger ones go to `spill`. */
  maxMemoryChunk?: number;
  /** Where large chunks are decoded to (default: anonymous temporary files). */
  spill?: DerivedBlobStore;
}

type Spilled = ByteSource & { close?(): Promise<void> };

/** A large chunk decoded into a file; closed once evicted and no read uses it. */
interface SpillEntry {
  source: Spilled;
  users: number;
  evicted: boolean;
}

function evict(e: SpillEntry): void {
  e.evicted = true;
  if (e.users === 0) e.source.close?.().catch(() => {});
}

function release(e: SpillEntry): void {
  if (--e.users === 0 && e.evicted) e.source.close?.().catch(() => {});
}

/** See the module comment. */
export class TocSource extends SegmentedSource {
  /** Chunks fetched and decoded so far (for tests and stats). */
  chunksDecoded = 0;
  private readonly maxMemoryChunk: number;
  private readonly spill: DerivedBlobStore;
  /** Large chunks decoded into files, least recently used first. */
  private readonly spilled: LRUCache<number, SpillEntry, ReadOptions>;

  constructor(
    private readonly blob: ByteSource,
    private readonly chunks: readonly TocChunk[],
    size: number,
    private readonly codec: ChunkCodec,
    options: TocSourceOptions = {},
  ) {
    super(
      chunks.map((c) => c.virtualOffset),
      size,
      { bytes: options.chunkCacheBytes ?? DEFAULT_CHUNK_CACHE_BYTES, option: 'chunkCacheBytes' },
    );
    this.maxMemoryChunk = options.maxMemoryChunk ?? DEFAULT_MAX_MEMORY_CHUNK;
    if (!Number.isSafeInteger(this.maxMemoryChunk) || this.maxMemoryChunk < 1)
      throw new InvalidOptionError('maxMemoryChunk', 'must be a positive integer');
    this.spill = options.spill ?? new TempDerivedBlobStore();
    this.spilled = new LRUCache<number, SpillEntry, ReadOptions>({
      max: MAX_SPILLED,
      fetchMethod: async (i, _stale, { context }) => ({
        source: await this.decodeToFile(this.chunks[i], context),
        users: 0,
        evicted: false,
      }),
      ignoreFetchAbort: true,
      dispose: evict,
    });
    let at = 0;
    for (const c of chunks) {
      if (c.virtualOffset !== at || (!c.zeros && (c.blobEnd > blob.size || c.blobStart >= c.blobEnd)))
        throw new CorruptTocError('chunk table does not cover the files');
      at += c.length;
    }
    if (at !== size) throw new CorruptTocError('chunk table does not cover the files');
  }

  private isLarge(i: number): boolean {
    return this.chunks[i].length > this.maxMemoryChunk;
  }

  /**
   * Reads touching only chunks small enough for memory go through the segment LRU; the others
   * take large chunks from their temporary files and leave runs of zeros as allocated.
   */
  override async read(offset: number, length: number, options: ReadOptions = {}): Promise<Uint8Array> {
    throwIfAborted(options.signal);
    const n = clampRead(offset, length, this.size);
    if (n === 0) return new Uint8Array(0);
    const first = this.segmentAt(offset);
    const last = this.segmentAt(offset + n - 1);
    let large = false;
    for (let i = first; i <= last && !large; i++) large = this.isLarge(i);
    if (!large) return super.read(offset, n, options);
    const out = new Uint8Array(n);
    const parts = [];
    for (let i = first; i <= last; i++) {
      const c = this.chunks[i];
      const from = Math.max(offset, c.virtualOffset);
      const to = Math.min(offset + n, c.virtualOffset + c.length);
      if (c.zeros || to === from) continue; // `out` already holds the zeros
      const at = from - c.virtualOffset;
      const part = this.isLarge(i)
        ? this.spilledPart(i, at, to - from, options)
        : this.segment(i, options).then((d) => d.subarray(at, at + to - from));
      parts.push(part.then((d) => out.set(d, from - offset)));
    }
    await Promise.all(parts);
    return out;
  }

  /** Fetches chunk `i`'s compressed range, decodes it and checks its digest. */
  protected async decode(i: number, options: ReadOptions): Promise<Uint8Array> {
    const c = this.chunks[i];
    const inner = c.innerOffset ?? 0;
    const data = c.zeros
      ? new Uint8Array(c.length)
      : await this.codec.decode(
          await this.blob.read(c.blobStart, c.blobEnd - c.blobStart, options),
          inner + c.length,
          options,
        );
    this.chunksDecoded++;
    checkChunkLength(data.length - inner, c.length, c.blobStart);
    const bytes = data.length === c.length && inner === 0 ? data : data.subarray(inner, inner + c.length);
    checkChunkDigest(c, createHash('sha256').update(bytes));
    return bytes;
  }

  /** `length` bytes at `at` inside large chunk `i`, from its decoded file. */
  private async spilledPart(i: number, at: number, length: number, options: ReadOptions): Promise<Uint8Array> {
    const e = await this.spilledChunk(i, options);
    try {
      return await e.source.read(at, length, options);
    } finally {
      release(e);
    }
  }

  /** The decoded file of large chunk `i`, counted as in use until {@link release}d. */
  private async spilledChunk(i: number, options: ReadOptions): Promise<SpillEntry> {
    const e = await this.spilled.fetch(i, { context: options });
    if (!e) throw new CorruptTocError(`chunk ${i} could not be decoded`);
    // Evicted (and maybe closed) while this read waited: decode it again.
    if (e.evicted) return this.spilledChunk(i, options);
    e.users++;
    return e;
  }

  /** Streams a large chunk through the codec into a file, hashing it on the way; served only once it matches. */
  private async decodeToFile(c: TocChunk, options: ReadOptions): Promise<Spilled> {
    const writer = await this.spill.create();
    try {
      const hash = createHash('sha256');
      let skip = c.innerOffset ?? 0;
      let got = 0;
      const compressed = readPieces(new SliceSource(this.blob, c.blobStart, c.blobEnd - c.blobStart), {
        pieceSize: SPILL_PIECE,
        readAhead: 2,
        signal: options.signal,
      });
      for await (let out of this.codec.stream(compressed)) {
        throwIfAborted(options.signal);
        if (skip > 0) {
          const n = Math.min(skip, out.length);
          out = out.subarray(n);
          skip -= n;
        }
        const take = out.subarray(0, Math.min(out.length, c.length - got));
        if (take.length === 0) continue;
        hash.update(take);
        await writer.write(take);
        got += take.length;
        if (got === c.length) break;
      }
      this.chunksDecoded++;
      checkChunkLength(got, c.length, c.blobStart);
      checkChunkDigest(c, hash);
      return await writer.commit(c.digest ?? '');
    } catch (err) {
      await writer.abort().catch(() => {});
      throw err;
    }
  }

  /** Closes the temporary files of large chunks. */
  async close(): Promise<void> {
    this.spilled.clear();
  }
}

function checkChunkDigest(c: TocChunk, hash: ReturnType<typeof createHash>): void {
  if (!c.digest) return;
  const actual = 'sha256:' + hash.digest('hex');
  if (actual !== c.digest)
    throw new DigestMismatchError(c.digest, actual, `chunk at blob offset ${c.blobStart}`, {
      data: { offset: c.blobStart },
    });
}
