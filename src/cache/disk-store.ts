/**
 * The on-disk store of one blob instance: `data` (the blob's bytes at their offsets, sparse) and
 * `map` (header + one presence byte per chunk), in a directory that is created whole in tmp/ and
 * renamed into place, and evicted whole by renaming it into trash/. An instance is filled in
 * `partial/<digest>/<origin>/` and moved into `blobs/<digest>/` once verified
 * ({@link DiskStore.promote}); opening and creating instances is in `disk-open.ts`.
 *
 * Write protocol (what makes crashes harmless):
 * 1. the chunk's bytes are written to `data` (pwrite);
 * 2. a group commit fdatasyncs `data` once for every chunk written since the last commit;
 * 3. only then are their map bytes set to PRESENT.
 * A crash at any point loses at most unmarked work; a marked chunk's bytes are always on disk.
 * Between 1 and 3 the chunk is readable by this process (the page cache holds the bytes we
 * wrote), never by others, which trust only the map.
 *
 * @packageDocumentation
 */
import { open, rename, rmdir, stat, utimes, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { debuglog } from '../io/debug-log.js';
import { chunkRuns, runEnd } from './chunk-runs.js';
import { ClaimSet, CLAIM_BLOCK_BYTES } from './claims.js';
import { CacheCorruptError, CacheIoError } from './errors.js';
import type { Digest } from '../ref/digest.js';
import { evictDir } from './evict.js';
import { fsyncDir, isNoSpace, isNotFound, preadFull, pwriteFull, pwritevFull } from './fs-util.js';
import { partsLength, sliceParts } from './streaming.js';
import { CLAIMS_DIR, DATA_FILE, MAP_FILE, type CacheLayout } from './layout.js';
import { BlobState, CHUNK_MISSING, CHUNK_PRESENT, MAP_HEADER_SIZE, STATE_OFFSET } from './map-format.js';
import { readSidecar, writeSidecar } from './sidecar.js';
import { StoreMissError, type ChunkStore, type WriteResult } from './store.js';

const debug = debuglog('ocifs:cache');

/** Largest single pwrite (whole chunks): what fits of a run on a nearly full disk is kept. */
const WRITE_SLICE_BYTES = 1024 * 1024;

/** Minimum time between two LRU access-time updates of one blob. */
export const ACCESS_TOUCH_INTERVAL_MS = 60_000;

/** What opening an instance needs (see `openDiskStore`). */
export interface DiskStoreParams {
  layout: CacheLayout;
  digest: Digest;
  /** Where the bytes come from: a new instance is filled in this origin's own directory until verified. */
  origin: string;
  /**
   * The blob's size; an instance recording another size is discarded. Undefined (management only):
   * take it from the instance.
   */
  size: number | undefined;
  /** Chunk size for a new instance. */
  chunkSize: number;
  /**
   * Keep an existing instance's own chunk size (true on first open); false: discard an instance
   * with another chunk size.
   */
  adoptChunkSize: boolean;
  claimStaleMs: number;
  /** Whether completion needs verification (a 'complete' but unverified instance is then not complete). */
  verify: boolean;
  /**
   * Told when another origin's unverified copy of the blob held bytes that differ from the
   * verified blob (that copy is discarded): `chunks` of it differed.
   */
  onOriginMismatch?: (origin: string, chunks: number) => void;
}

/** Where an instance lives: `blobs/` (verified, every origin's) or `partial/` (one origin's). */
export type InstancePlace = 'verified' | 'partial';

/** @internal An instance's open files and what its map says, as `probeInstance` found them. */
export interface InstanceFiles {
  dir: string;
  place: InstancePlace;
  mapFh: FileHandle;
  dataFh: FileHandle;
  mapIno: number;
  dataIno: number;
  size: number;
  chunkSize: number;
  /** Presence bytes. */
  map: Uint8Array;
  present: number;
  state: BlobState;
  instanceId: bigint;
}

const LOCAL_MISSING = 0;
const LOCAL_WRITTEN = 1; // readable by this process, not yet durable/marked
const LOCAL_DURABLE = 2;

interface Batch {
  chunks: number[];
  promise: Promise<boolean>;
  resolve: (ok: boolean) => void;
}

/** One blob instance on disk. */
export class DiskStore implements ChunkStore {
  readonly kind = 'disk' as const;
  readonly chunkCount: number;
  claims: ClaimSet;
  complete: boolean;
  /** The map says verified (state V). */
  verified: boolean;
  presentCount: number;
  noSpace = false;
  readonly size: number;
  readonly chunkSize: number;
  /** The random id of this instance (from its map): binds sidecars to its bytes. */
  readonly instanceId: bigint;
  /** Inode of the data file this store has open. */
  readonly dataIno: number;
  /** Where the instance is now (it moves from `partial` to `verified` once, by {@link promote}). */
  place: InstancePlace;
  private dir: string;
  private readonly mapFh: FileHandle;
  private readonly dataFh: FileHandle;
  private readonly mapIno: number;
  private readonly local: Uint8Array;
  private batch: Batch | null = null;
  private syncing: Promise<void> | null = null;
  private failed = false;
  private retired = false;
  private closed = false;
  private activeOps = 0;
  private idle: (() => void) | null = null;
  private lastTouch = 0;
  private closing: Promise<void> | null = null;

  /** @internal Use `openDiskStore` (or `probeInstance` for management). */
  constructor(
    private readonly p: DiskStoreParams,
    f: InstanceFiles,
  ) {
    this.dir = f.dir;
    this.place = f.place;
    this.mapFh = f.mapFh;
    this.dataFh = f.dataFh;
    this.mapIno = f.mapIno;
    this.dataIno = f.dataIno;
    this.size = f.size;
    this.chunkSize = f.chunkSize;
    this.instanceId = f.instanceId;
    this.chunkCount = f.map.length;
    this.local = new Uint8Array(f.map.length);
    for (let i = 0; i < f.map.length; i++) if (f.map[i] === CHUNK_PRESENT) this.local[i] = LOCAL_DURABLE;
    this.presentCount = f.present;
    this.verified = f.state === BlobState.Verified;
    this.complete = this.verified || (f.state === BlobState.Complete && !p.verify);
    this.claims = this.claimSet();
  }

  private claimSet(): ClaimSet {
    return new ClaimSet(
      join(this.dir, CLAIMS_DIR),
      Math.max(1, Math.floor(CLAIM_BLOCK_BYTES / this.chunkSize)),
      this.p.claimStaleMs,
    );
  }

  /** The instance directory (it changes once, when the instance is promoted). */
  get path(): string {
    return this.dir;
  }

  /** Bytes of the blob present (durable or written by us). */
  get presentBytes(): number {
    if (this.complete) return this.size;
    let bytes = this.presentCount * this.chunkSize;
    const last = this.chunkCount - 1;
    if (last >= 0 && this.local[last] !== LOCAL_MISSING) bytes -= this.chunkCount * this.chunkSize - this.size;
    return bytes;
  }

  has(c: number): boolean {
    return this.complete || this.local[c] !== LOCAL_MISSING;
  }

  private async op<T>(fn: () => Promise<T>): Promise<T> {
    this.activeOps++;
    try {
      return await fn();
    } finally {
      if (--this.activeOps === 0 && this.idle) this.idle();
    }
  }

  async refresh(c0: number, c1: number): Promise<void> {
    if (this.complete || this.closed || c1 <= c0) return;
    await this.op(async () => {
      const n = c1 - c0;
      const buf = Buffer.allocUnsafe(n);
      // What we knew before reading: our own marks may land while the read is in flight, so a
      // chunk only counts as "marked by us, yet missing on disk" if it was marked before.
      const before = this.local.slice(c0, c1);
      await preadFull(this.mapFh, buf, 0, n, MAP_HEADER_SIZE + c0, join(this.dir, MAP_FILE));
      for (let i = 0; i < n; i++) {
        const v = buf[i];
        const c = c0 + i;
        if (v === CHUNK_PRESENT) {
          if (this.local[c] === LOCAL_MISSING) this.presentCount++;
          this.local[c] = LOCAL_DURABLE;
        } else if (v !== CHUNK_MISSING || before[i] === LOCAL_DURABLE) {
          throw new CacheCorruptError(join(this.dir, MAP_FILE), `chunk ${c} has presence byte 0x${v.toString(16)}`);
        }
      }
    });
  }

  async read(offset: number, length: number, buf: Uint8Array, bufOffset: number): Promise<void> {
    if (length === 0) return;
    if (this.closed) throw new StoreMissError(Math.floor(offset / this.chunkSize));
    if (!this.complete) {
      const end = Math.floor((offset + length - 1) / this.chunkSize) + 1;
      const miss = runEnd(Math.floor(offset / this.chunkSize), end, (c) => this.local[c] !== LOCAL_MISSING);
      if (miss < end) throw new StoreMissError(miss);
    }
    await this.op(() => preadFull(this.dataFh, buf, bufOffset, length, offset, join(this.dir, DATA_FILE)));
  }

  async write(c0: number, bytes: Uint8Array | readonly Uint8Array[]): Promise<WriteResult | null> {
    if (this.retired || this.failed || this.closed) return null;
    // One operation until its marks are queued: a close waits for it, then commits them.
    return this.op(() => this.writeNow(c0, bytes));
  }

  private async writeNow(c0: number, bytes: Uint8Array | readonly Uint8Array[]): Promise<WriteResult | null> {
    const cs = this.chunkSize;
    const parts = bytes instanceof Uint8Array ? [bytes] : bytes;
    const total = partsLength(parts);
    const n = Math.ceil(total / cs);
    const written: number[] = [];
    // Written in slices of whole chunks, so that on a full disk the chunks that did fit are kept;
    // the slices go out together (one round trip through the thread pool, not one per slice).
    const sliceChunks = Math.max(1, Math.floor(WRITE_SLICE_BYTES / cs));
    let full = false;
    let failure: unknown;
    await this.op(async () => {
      // Only missing chunks are written: bytes already marked present are never overwritten.
      const slices = [...chunkRuns(c0, c0 + n, (c) => this.local[c] === LOCAL_MISSING, sliceChunks)];
      const results = await Promise.allSettled(
        slices.map(([c, e]) =>
          pwritevFull(this.dataFh, sliceParts(parts, (c - c0) * cs, Math.min(total, (e - c0) * cs)), c * cs),
        ),
      );
      results.forEach((r, i) => {
        const [c, e] = slices[i];
        if (r.status === 'fulfilled') for (let k = c; k < e; k++) written.push(k);
        else if (isNoSpace(r.reason)) full = true;
        else failure ??= r.reason;
      });
    });
    if (failure !== undefined) throw new CacheIoError(join(this.dir, DATA_FILE), 'write', failure);
    if (full) {
      this.noSpace = true;
      const d = this.p.digest.value;
      debug('%s: no space to cache all of %d bytes at %d; the rest is served uncached', d, total, c0 * cs);
    }
    if (!full) this.noSpace = false;
    const fresh = written.filter((c) => this.local[c] === LOCAL_MISSING);
    if (full && fresh.length === 0) return null;
    for (const c of fresh) this.local[c] = LOCAL_WRITTEN;
    this.presentCount += fresh.length;
    const all = fresh.length === n;
    if (fresh.length === 0) return { durable: Promise.resolve(true), all };
    return { durable: this.enqueue(fresh), all };
  }

  private enqueue(chunks: number[]): Promise<boolean> {
    if (!this.batch) {
      let resolve!: (ok: boolean) => void;
      const promise = new Promise<boolean>((r) => (resolve = r));
      this.batch = { chunks: [], promise, resolve };
    }
    this.batch.chunks.push(...chunks);
    const p = this.batch.promise;
    this.syncing ??= this.syncLoop();
    return p;
  }

  /** Group commit: one fdatasync of the data file covers every chunk written before it started. */
  private async syncLoop(): Promise<void> {
    this.activeOps++;
    try {
      // Never finish synchronously: `syncing` is assigned after this returns and reset below.
      await Promise.resolve();
      while (this.batch) {
        const b = this.batch;
        this.batch = null;
        let ok = !this.failed;
        if (ok) {
          try {
            await this.dataFh.datasync();
            await this.writeMarks(b.chunks);
          } catch (err) {
            ok = false;
            // After a failed writeback the kernel may drop the pages and report the error only
            // once: nothing written to this instance since can be trusted, so stop caching here.
            this.failed = true;
            if (isNoSpace(err)) this.noSpace = true;
            const d = this.p.digest.value;
            const why = (err as Error).message;
            debug('%s: commit failed (%s); chunks stay missing, caching stops for this blob', d, why);
          }
        }
        for (const c of b.chunks) {
          if (ok) this.local[c] = LOCAL_DURABLE;
          else if (this.local[c] === LOCAL_WRITTEN) {
            this.local[c] = LOCAL_MISSING;
            this.presentCount--;
          }
        }
        b.resolve(ok);
      }
    } finally {
      this.syncing = null;
      if (--this.activeOps === 0 && this.idle) this.idle();
    }
  }

  private async writeMarks(chunks: number[]): Promise<void> {
    chunks.sort((a, b) => a - b);
    let i = 0;
    while (i < chunks.length) {
      let j = i + 1;
      while (j < chunks.length && chunks[j] === chunks[j - 1] + 1) j++;
      await pwriteFull(this.mapFh, Buffer.alloc(j - i, CHUNK_PRESENT), MAP_HEADER_SIZE + chunks[i]);
      i = j;
    }
  }

  async flush(): Promise<void> {
    for (let s = this.syncing; s; s = this.syncing) {
      await s;
      if (this.syncing === s) break; // (defensive: a finished loop must never be awaited forever)
    }
  }

  async setComplete(verified: boolean): Promise<void> {
    if (this.closed || this.failed) return;
    await this.op(async () => {
      await pwriteFull(this.mapFh, Uint8Array.of(verified ? BlobState.Verified : BlobState.Complete), STATE_OFFSET);
      await this.mapFh.datasync();
    });
    this.verified ||= verified;
    this.complete = verified || !this.p.verify;
  }

  /**
   * Moves this verified instance from its origin's `partial/` directory into `blobs/`, where
   * every origin finds it (one rename of the directory, sidecars included; the state V it
   * records was made durable first, so a crash in between leaves a verified instance that the
   * next open of this origin moves). True once it is there; false when it is not this
   * instance's place (another origin's verified copy got there first: this one is discarded)
   * or the instance is gone (another process moved or evicted it): reopen then.
   */
  async promote(): Promise<boolean> {
    if (this.place === 'verified') return true;
    if (!this.verified || this.closed || this.failed) return false;
    const from = this.dir;
    const to = this.p.layout.blobDir(this.p.digest);
    // Claims belong to the partial instance; a complete blob needs none.
    await this.claims.releaseAll();
    try {
      await rename(from, to);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOTEMPTY' || code === 'EEXIST') {
        debug('%s: another origin verified the blob first; dropping this copy', this.p.digest.value);
        await evictDir(from, this.p.layout.trash, this.mapIno).catch((e: unknown) => debug('evict %s: %s', from, e));
        return false;
      }
      if (isNotFound(err)) return false;
      throw new CacheIoError(from, 'move the verified instance into blobs/', err);
    }
    this.dir = to;
    this.place = 'verified';
    this.claims = this.claimSet();
    await fsyncDir(dirname(to));
    await fsyncDir(dirname(from));
    // The digest's partial/ directory goes when no other origin has a copy in it.
    await rmdir(dirname(from)).catch(() => {});
    debug('%s: verified copy moved into blobs/', this.p.digest.value);
    return true;
  }

  /** A sidecar derived from this instance's bytes, or undefined. */
  async getSidecar(name: string): Promise<Uint8Array | undefined> {
    if (this.closed) return undefined;
    return readSidecar({ dir: this.dir, instanceId: this.instanceId, digest: this.p.digest }, name);
  }

  /** Stores a sidecar derived from this instance's bytes; false when the instance is gone. */
  async putSidecar(name: string, bytes: Uint8Array): Promise<boolean> {
    if (this.closed || this.failed) return false;
    return writeSidecar(
      { dir: this.dir, instanceId: this.instanceId, digest: this.p.digest, tmp: this.p.layout.tmp },
      name,
      bytes,
    );
  }

  async discard(reason: string): Promise<void> {
    debug('%s: discarding: %s', this.p.digest.value, reason);
    this.failed = true;
    this.complete = false;
    this.local.fill(LOCAL_MISSING);
    this.presentCount = 0;
    if (!this.closed) {
      // Tell other processes holding this instance open, then remove it.
      await this.op(() => pwriteFull(this.mapFh, Uint8Array.of(BlobState.Bad), STATE_OFFSET)).catch(() => {});
    }
    await evictDir(this.dir, this.p.layout.trash, this.mapIno).catch((err: unknown) =>
      debug('evict %s: %s', this.dir, err),
    );
    this.retire();
  }

  /**
   * A new read-only handle on the data file of this (verified) instance, or null. The path is
   * opened and checked to be the very file this store holds, so an instance evicted and
   * re-created meanwhile (partial, holes) is never handed out.
   */
  async openVerifiedData(): Promise<FileHandle | null> {
    return this.complete ? this.openData() : null;
  }

  /**
   * A new read-only handle on the data file of this instance (complete or not), or null when
   * it is gone: its present chunks never change, so reading them through the handle is safe.
   */
  async openData(): Promise<FileHandle | null> {
    if (this.closed) return null;
    let fh: FileHandle | undefined;
    try {
      fh = await open(join(this.dir, DATA_FILE), 'r');
      if ((await fh.stat()).ino === this.dataIno) return fh;
    } catch {
      /* evicted */
    }
    await fh?.close().catch(() => {});
    return null;
  }

  /** False once the instance was evicted or replaced, or (for a partial one) once a verified copy exists. */
  async isCurrent(): Promise<boolean> {
    try {
      if ((await stat(join(this.dir, MAP_FILE))).ino !== this.mapIno) return false;
    } catch {
      return false;
    }
    if (this.place === 'verified') return true;
    return stat(join(this.p.layout.blobDir(this.p.digest), MAP_FILE)).then(
      () => false,
      () => true,
    );
  }

  touch(): void {
    const now = Date.now();
    if (now - this.lastTouch < ACCESS_TOUCH_INTERVAL_MS) return;
    this.lastTouch = now;
    const t = new Date(now);
    utimes(this.dir, t, t).catch(() => {});
  }

  retire(): void {
    if (this.retired) return;
    this.retired = true;
    void this.close().catch(() => {});
  }

  close(): Promise<void> {
    this.retired = true;
    this.closing ??= this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    // Writes under way finish and their marks are committed before the files close (a write
    // that ended after the commit loop used to queue marks that then failed on a closed file:
    // a clean close lost the chunks a reader had just downloaded). Claims go last: other
    // processes trust the map only.
    for (;;) {
      if (this.activeOps > 0) await new Promise<void>((r) => (this.idle = r));
      else if (this.syncing) await this.flush();
      else break;
    }
    await this.claims.releaseAll();
    this.closed = true;
    await Promise.all([this.mapFh.close().catch(() => {}), this.dataFh.close().catch(() => {})]);
  }
}
