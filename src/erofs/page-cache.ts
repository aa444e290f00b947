/**
 * A bounded cache of fixed-size, aligned pages of a byte source, used for EROFS metadata
 * (inodes, xattrs, directory blocks, compression indexes). Reads that span pages fetch every
 * missing run of adjacent pages with one read, so an inode, its xattrs and its inline data come
 * in together, and concurrent readers of the same page share one read. Misses asked for in the
 * same turn of the event loop (a walk fetching the inodes of a directory's entries together)
 * are merged into as few reads as their nearness allows, since each read costs a thread-pool
 * round trip (or more). Hits on loaded pages are answered synchronously
 * ({@link PageCache.peek}), which keeps index walks cheap.
 *
 * @packageDocumentation
 */
import type { ByteSource, FileSpan, ReadOptions } from '../io/byte-source.js';
import { CorruptErofsError } from './errors.js';
import { byteLru, type LRUCache } from '../io/lru.js';

interface Page {
  /** Set once loaded. */
  bytes?: Uint8Array;
  promise: Promise<Uint8Array>;
}

/** A page asked for and not yet read: its read starts when the current turn's misses are merged. */
interface PendingPage {
  page: number;
  resolve: (bytes: Uint8Array) => void;
  reject: (err: unknown) => void;
  signal: AbortSignal | undefined;
  /** Asked for by a walk ({@link ReadOptions.scan}). */
  scan: boolean;
}

/**
 * Missing pages this close together are read with one read, the pages between included (they
 * are cached too): a smaller gap costs less than another read.
 */
const MERGE_GAP_PAGES = 8;
/** Pages one merged read may span at most. */
const MERGE_MAX_PAGES = 64;

/** Cached, aligned pages of one byte source. */
export class PageCache {
  private readonly pages: LRUCache<number, Page>;
  /** Misses of this turn, read together by {@link flush}. */
  private pending: PendingPage[] = [];

  /**
   * @param source what the pages are read from
   * @param pageSize a power of two
   * @param budget bytes of pages kept
   * @param what names the space in errors ("image", "metabox")
   * @param blockSize filesystem block size, to name blocks in errors
   */
  constructor(
    readonly source: ByteSource,
    readonly pageSize: number,
    budget: number,
    private readonly what: string,
    private readonly blockSize: number,
  ) {
    this.pages = byteLru(Math.max(budget, pageSize * 4), () => pageSize);
  }

  /** Puts bytes already read (the superblock probe) into the cache: whole pages only. */
  seed(offset: number, bytes: Uint8Array): void {
    const first = Math.ceil(offset / this.pageSize);
    for (let p = first; (p + 1) * this.pageSize <= offset + bytes.length; p++) {
      const start = p * this.pageSize - offset;
      const b = bytes.subarray(start, start + this.pageSize);
      this.pages.set(p, { bytes: b, promise: Promise.resolve(b) });
    }
  }

  /** Throws {@link CorruptErofsError} for a range outside the source. */
  check(offset: number, length: number): void {
    if (
      !Number.isSafeInteger(offset) ||
      offset < 0 ||
      !Number.isSafeInteger(length) ||
      length < 0 ||
      offset + length > this.source.size
    ) {
      throw new CorruptErofsError(
        `metadata at ${offset}+${length} lies outside the ${this.what} (${this.source.size} bytes)`,
        {
          block: Number.isSafeInteger(offset) && offset >= 0 ? Math.floor(offset / this.blockSize) : undefined,
          offset,
        },
      );
    }
  }

  /**
   * `length` bytes at `offset` if they lie in one page that is already loaded (a view; callers
   * must not modify it), else undefined. Throws for a range outside the source.
   */
  peek(offset: number, length: number): Uint8Array | undefined {
    this.check(offset, length);
    const p = Math.floor(offset / this.pageSize);
    const start = offset - p * this.pageSize;
    if (start + length > this.pageSize) return undefined;
    const page = this.pages.get(p)?.bytes;
    return page?.subarray(start, start + length);
  }

  /**
   * The local-file spans of `length` bytes at `offset` of the source (not through the cache),
   * or undefined when the source cannot say; refuses ranges outside the source like `read`.
   */
  async fileSpans(offset: number, length: number, options?: ReadOptions): Promise<FileSpan[] | undefined> {
    this.check(offset, length);
    if (length === 0) return [];
    return this.source.fileSpans?.(offset, length, options);
  }

  /**
   * `length` bytes at `offset`. The result is a view into the cache when the range lies in one
   * page (callers must not modify it), else a new array.
   */
  async read(offset: number, length: number, options?: ReadOptions): Promise<Uint8Array> {
    this.check(offset, length);
    if (length === 0) return new Uint8Array(0);
    const first = Math.floor(offset / this.pageSize);
    const last = Math.floor((offset + length - 1) / this.pageSize);
    if (first === last) {
      const hit = this.pages.get(first);
      const page = hit?.bytes ?? (await (hit?.promise ?? this.fetch(first, first, options)[0]));
      const start = offset - first * this.pageSize;
      return page.subarray(start, start + length);
    }
    const parts = await this.span(first, last, options);
    const out = new Uint8Array(length);
    let done = 0;
    for (let p = first; p <= last; p++) {
      const page = parts[p - first];
      const start = p === first ? offset - first * this.pageSize : 0;
      const n = Math.min(page.length - start, length - done);
      out.set(page.subarray(start, start + n), done);
      done += n;
    }
    return out;
  }

  /** Pages first..last, fetching each missing run of adjacent pages with one read. */
  private span(first: number, last: number, options?: ReadOptions): Promise<Uint8Array[]> {
    const out: Promise<Uint8Array>[] = [];
    let p = first;
    while (p <= last) {
      const hit = this.pages.get(p);
      if (hit !== undefined) {
        out.push(hit.promise);
        p++;
        continue;
      }
      let end = p;
      while (end + 1 <= last && this.pages.get(end + 1) === undefined) end++;
      out.push(...this.fetch(p, end, options));
      p = end + 1;
    }
    return Promise.all(out);
  }

  /** Promises of pages first..last (all missing): they are read once this turn's misses are merged. */
  private fetch(first: number, last: number, options?: ReadOptions): Promise<Uint8Array>[] {
    if (this.pending.length === 0) queueMicrotask(() => this.flush());
    const out: Promise<Uint8Array>[] = [];
    for (let p = first; p <= last; p++) {
      const page: Page = {
        promise: new Promise<Uint8Array>((resolve, reject) =>
          this.pending.push({ page: p, resolve, reject, signal: options?.signal, scan: options?.scan === true }),
        ).then((b) => (page.bytes = b)),
      };
      page.promise.catch(() => this.pages.delete(p));
      this.pages.set(p, page);
      out.push(page.promise);
    }
    return out;
  }

  /**
   * Reads the pending pages: sorted, and merged into one read per group of pages at most
   * {@link MERGE_GAP_PAGES} apart (the missing pages between them are read and cached too).
   */
  private flush(): void {
    const todo = this.pending.sort((a, b) => a.page - b.page);
    this.pending = [];
    let i = 0;
    while (i < todo.length) {
      const lo = todo[i].page;
      let j = i + 1;
      let hi = lo;
      while (j < todo.length && todo[j].page - hi <= MERGE_GAP_PAGES && todo[j].page - lo < MERGE_MAX_PAGES)
        hi = todo[j++].page;
      this.readRun(lo, hi, todo.slice(i, j));
      i = j;
    }
  }

  private readRun(lo: number, hi: number, wanted: PendingPage[]): void {
    const start = lo * this.pageSize;
    const len = Math.min(this.source.size, (hi + 1) * this.pageSize) - start;
    // One reader's AbortSignal may only end a read that is its own alone.
    const signal = wanted.every((w) => w.signal === wanted[0].signal) ? wanted[0].signal : undefined;
    const opts: ReadOptions = signal ? { signal } : {};
    // A lookup reads the metadata on its path and nothing else: no readahead on its behalf
    // (it would fetch unrelated file data around each directory block and inode). A walk's
    // reads let the source read ahead, as its next inodes and blocks are probably near.
    if (!wanted.some((w) => w.scan)) opts.readaheadLimit = start + len;
    const read = this.source.read(start, len, opts);
    const asked = new Set<number>();
    for (const w of wanted) asked.add(w.page);
    // The gap pages between asked ones come with the read: cache them (unless already there).
    for (let p = lo + 1; p < hi; p++) {
      if (asked.has(p) || this.pages.has(p)) continue;
      const s = (p - lo) * this.pageSize;
      const page: Page = { promise: read.then((b) => (page.bytes = b.subarray(s, s + this.pageSize))) };
      page.promise.catch(() => this.pages.delete(p));
      this.pages.set(p, page);
    }
    read.then(
      (b) => {
        for (const w of wanted) {
          const s = (w.page - lo) * this.pageSize;
          w.resolve(b.subarray(s, s + this.pageSize));
        }
      },
      (err: unknown) => {
        for (const w of wanted) w.reject(err);
      },
    );
  }
}
