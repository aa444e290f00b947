/**
 * {@link SpanFiles}: where a cached blob's bytes lie in a local file, for readers that copy or
 * map them without going through `read` (`ByteSource.fileSpans`). A span names a descriptor
 * this object keeps open until it closes, so an eviction meanwhile cannot change the bytes
 * behind it: the verified data file once the blob is complete and verified, or (when a caller
 * accepts unverified bytes) the data file of an incomplete instance, for ranges whose every
 * chunk is present there (only missing chunks are ever written, so those bytes never change).
 *
 * @packageDocumentation
 */
import type { FileHandle } from 'node:fs/promises';
import type { FileSpan } from '../io/byte-source.js';
import type { IoStats } from '../io/io-stats.js';
import { everyChunk } from './chunk-runs.js';
import { DiskStore } from './disk-store.js';
import type { StoreSlot } from './store-slot.js';
import type { ChunkStore } from './store.js';

/** A data file open for spans, with the `dev:ino` id a span names it by. */
interface SpanFile {
  fh: FileHandle;
  fileId: string;
}

async function withFileId(fh: FileHandle | null): Promise<SpanFile | null> {
  if (fh === null) return null;
  const st = await fh.stat({ bigint: true });
  return { fh, fileId: `${st.dev}:${st.ino}` };
}

/** The span files of one cached source. */
export class SpanFiles {
  /** The verified data file, opened on first use. */
  private verifiedFile: Promise<SpanFile | null> | undefined;
  /** Data files of incomplete instances behind unverified spans, kept open until close. */
  private readonly partialFiles = new Map<ChunkStore, Promise<SpanFile | null>>();

  constructor(
    private readonly slot: StoreSlot,
    /** Whether completion means verified (else there is no verified file to give). */
    private readonly verify: boolean,
    /** Where spans handed out count as cache hits. */
    private readonly stats: IoStats | undefined,
  ) {}

  /**
   * For a complete, verified blob in the on-disk cache: a new read-only handle on its data file,
   * else null (see `CachedSource.openVerifiedFile`).
   */
  async openVerifiedFile(): Promise<FileHandle | null> {
    const store = await this.slot.get();
    return store instanceof DiskStore && store.complete && this.verify ? store.openVerifiedData() : null;
  }

  /** `[offset, offset + n)` of the verified data file; undefined when there is none (yet). */
  verified(offset: number, n: number): Promise<FileSpan[] | undefined> {
    if (this.verifiedFile === undefined) {
      const opening = this.openVerifiedFile().then(withFileId);
      this.verifiedFile = opening;
      // Not verified (yet): ask again next time rather than remember the refusal.
      opening.then(
        (f) => f === null && this.verifiedFile === opening && (this.verifiedFile = undefined),
        () => (this.verifiedFile = undefined),
      );
    }
    return this.spanIn(this.verifiedFile, offset, n);
  }

  /**
   * `[offset, offset + n)` as a span of the data file of an incomplete instance, when every
   * chunk of it is readable here (written to the file), else undefined.
   */
  async unverified(offset: number, n: number): Promise<FileSpan[] | undefined> {
    const store = await this.slot.get();
    if (!(store instanceof DiskStore) || store.complete || n === 0) return undefined;
    const cs = store.chunkSize;
    if (!everyChunk(Math.floor(offset / cs), Math.ceil((offset + n) / cs), (c) => store.has(c))) return undefined;
    let opening = this.partialFiles.get(store);
    if (opening === undefined) {
      opening = store.openData().then(withFileId);
      opening.catch(() => {});
      this.partialFiles.set(store, opening);
    }
    return this.spanIn(opening, offset, n);
  }

  /**
   * `[offset, offset + n)` of the file `opening` gives, counted as a cache hit; undefined when
   * it gave none or the source closed.
   */
  private async spanIn(opening: Promise<SpanFile | null>, offset: number, n: number): Promise<FileSpan[] | undefined> {
    const f = await opening.catch(() => null);
    if (f === null || this.slot.closed) return undefined;
    if (this.stats) this.stats.cacheHitBytes += n;
    return n === 0 ? [] : [{ fd: f.fh.fd, fileId: f.fileId, position: offset, length: n }];
  }

  /** Closes the files (once their opening settled); call once the slot is closed. */
  async close(): Promise<void> {
    const verified = await this.verifiedFile?.catch(() => null);
    this.verifiedFile = undefined;
    await verified?.fh.close().catch(() => {});
    for (const opening of this.partialFiles.values()) {
      await (await opening.catch(() => null))?.fh.close().catch(() => {});
    }
    this.partialFiles.clear();
  }
}
