/**
 * The content of one inode as a byte source: uncompressed layouts read straight from the
 * device ranges they map to (one read per contiguous run, no copy when a read falls in one
 * run); compressed layouts decode whole physical clusters once, keep them in a bounded LRU
 * shared by the whole image, and serve every read inside an extent from there, so sequential
 * reads never fetch or decode a cluster twice.
 *
 * @packageDocumentation
 */
import { throwIfAborted } from '../errors.js';
import type { ByteSource, EncodedSpan, EncodedSpanOptions, FileSpan, ReadOptions } from '../io/byte-source.js';
import { clampRead } from '../io/check-range.js';
import { mapRaw } from './block-map.js';
import {
  checkPhysical,
  imageSpan,
  metaSpans,
  physicalSpans,
  readMeta,
  readPhysical,
  type ErofsContext,
} from './context.js';
import { decodeCluster } from './decompress.js';
import { CorruptErofsError } from './errors.js';
import {
  EROFS_FEATURE_INCOMPAT_ZERO_PADDING,
  Z_EROFS_COMPRESSION_INTERLACED,
  Z_EROFS_COMPRESSION_LZ4,
  Z_EROFS_COMPRESSION_SHIFTED,
} from './format.js';
import { isCompressed, type ErofsInode } from './inode.js';
import { ZMap, type ZExtent } from './zmap.js';

/** Largest physical read issued for one run of adjacent clusters. */
const MAX_RUN = 8 * 1024 * 1024;

/** An extent with a physical cluster (on a device, or inline in the metadata). */
type CodedExtent = Extract<ZExtent, { kind: 'encoded' | 'inline' }>;

/** Adjacent physical clusters read together. */
interface PhysicalRun {
  extents: CodedExtent[];
  pa: number;
  len: number;
  bytes: Promise<Uint8Array>;
}

/** How an {@link ErofsFileData} reads. */
export interface FileDataOptions {
  /**
   * Read uncompressed data through the metadata page cache (for directories, whose blocks
   * are metadata that lookups revisit).
   */
  metaCached?: boolean;
}

/** A byte source over the content of one EROFS inode. */
export class ErofsFileData implements ByteSource {
  readonly size: number;
  private readonly zmap?: ZMap;
  /** The extent of the last compressed read: sequential reads skip re-mapping. */
  private last?: ZExtent;

  constructor(
    private readonly ctx: ErofsContext,
    readonly inode: ErofsInode,
    private readonly opts: FileDataOptions = {},
  ) {
    this.size = inode.size;
    if (isCompressed(inode)) this.zmap = new ZMap(ctx, inode);
  }

  async read(offset: number, length: number, options?: ReadOptions): Promise<Uint8Array> {
    throwIfAborted(options?.signal);
    const n = clampRead(offset, length, this.size);
    if (n === 0) return new Uint8Array(0);
    return this.zmap ? this.readCompressed(offset, n, options) : this.readRaw(offset, n, options);
  }

  /**
   * Where `[offset, offset + length)` lies in local files, when the inode is uncompressed and
   * every byte of the range is stored (no holes) in sources that know their files: its blocks
   * and its inline tail (which sits in the metadata, right after the inode) are ranges of the
   * image file. Undefined otherwise (compressed, sparse, remote): use `read`.
   */
  async fileSpans(offset: number, length: number, options?: ReadOptions): Promise<FileSpan[] | undefined> {
    throwIfAborted(options?.signal);
    const n = clampRead(offset, length, this.size);
    if (n === 0) return [];
    if (this.zmap) return undefined;
    const out: FileSpan[] = [];
    const extents = await mapRaw(this.ctx, this.inode, offset, n, options);
    const base = this.inode.inMetabox ? undefined : await imageSpan(this.ctx, options);
    if (base !== undefined) {
      // The whole image is one span: every piece is an offset into it (no call per piece).
      for (const e of extents) {
        if (e.kind === 'hole') return undefined;
        let at: number;
        if (e.kind === 'inline') {
          this.ctx.meta.check(e.pos, e.length);
          at = e.pos;
        } else {
          if (e.deviceId !== 0) return undefined;
          checkPhysical(this.ctx, e.pa, e.length, this.inode.nid);
          at = e.pa;
        }
        const prev = out[out.length - 1];
        if (prev !== undefined && prev.position + prev.length === base.position + at) prev.length += e.length;
        else out.push({ fd: base.fd, fileId: base.fileId, position: base.position + at, length: e.length });
      }
      return out;
    }
    for (const e of extents) {
      if (e.kind === 'hole') return undefined;
      const spans =
        e.kind === 'inline'
          ? await metaSpans(this.ctx, this.inode.inMetabox, e.pos, e.length, options)
          : await physicalSpans(this.ctx, e.deviceId, e.pa, e.length, this.inode.nid, options);
      if (spans === undefined) return undefined;
      for (const s of spans) {
        // Adjacent pieces (blocks followed by a tail stored right after them) become one span.
        const prev = out[out.length - 1];
        if (
          prev !== undefined &&
          prev.fd === s.fd &&
          prev.fileId === s.fileId &&
          prev.position + prev.length === s.position
        )
          prev.length += s.length;
        else out.push({ ...s });
      }
    }
    return out;
  }

  /**
   * The content of `[offset, offset + length)` as spans of local files, encoded where the
   * clusters are (see {@link ByteSource.encodedSpans}): uncompressed inodes give their
   * {@link fileSpans}; compressed ones one span per extent — stored as-is for uncompressed
   * clusters (SHIFTED; INTERLACED as its two rotated halves), `lz4-block` with 0-padding for
   * LZ4 clusters, as `decodeCluster` reads them. Undefined for anything else (other algorithms,
   * partial references, fragments, holes, legacy LZ4 without 0-padding, a range that does not
   * start and end at extent boundaries, clusters not in one local-file span).
   */
  async encodedSpans(
    offset: number,
    length: number,
    options: EncodedSpanOptions = {},
  ): Promise<EncodedSpan[] | undefined> {
    throwIfAborted(options.signal);
    const n = clampRead(offset, length, this.size);
    if (!this.zmap) return this.fileSpans(offset, n, options);
    if (n === 0) return [];
    const { ctx, inode } = this;
    const lz4 =
      options.encodings?.includes('lz4-block') === true &&
      (ctx.sb.featureIncompat & EROFS_FEATURE_INCOMPAT_ZERO_PADDING) !== 0;
    const out: EncodedSpan[] = [];
    const stored = (s: FileSpan) => {
      const prev = out[out.length - 1];
      if (
        prev !== undefined &&
        prev.encoding === undefined &&
        prev.fd === s.fd &&
        prev.fileId === s.fileId &&
        prev.position + prev.length === s.position
      )
        prev.length += s.length;
      else out.push(s);
    };
    const end = offset + n;
    const base = inode.inMetabox ? undefined : await imageSpan(ctx, options);
    for (let pos = offset; pos < end;) {
      const e = this.extentCached(pos) ?? (await this.extentMapped(pos, options));
      if (e.la !== pos || e.la + e.llen > end || e.llen <= 0) return undefined;
      pos = e.la + e.llen;
      if (e.kind === 'hole' || e.kind === 'fragment' || e.partialRef) return undefined;
      let raw: FileSpan;
      if (base !== undefined) {
        // The whole image is one span: the cluster is an offset into it.
        if (e.kind === 'inline') ctx.meta.check(e.pa, e.plen);
        else checkPhysical(ctx, e.pa, e.plen, inode.nid);
        raw = { fd: base.fd, fileId: base.fileId, position: base.position + e.pa, length: e.plen };
      } else {
        const spans =
          e.kind === 'inline'
            ? await metaSpans(ctx, inode.inMetabox, e.pa, e.plen, options)
            : await physicalSpans(ctx, 0, e.pa, e.plen, inode.nid, options);
        if (spans === undefined || spans.length !== 1) return undefined;
        raw = spans[0];
      }
      const where = { nid: inode.nid, la: e.la };
      if (e.alg === Z_EROFS_COMPRESSION_SHIFTED) {
        if (e.llen > e.plen) throw new CorruptErofsError(`uncompressed extent of ${e.llen} bytes in ${e.plen}`, where);
        stored({ fd: raw.fd, fileId: raw.fileId, position: raw.position, length: e.llen });
      } else if (e.alg === Z_EROFS_COMPRESSION_INTERLACED) {
        // As decodeCluster: the bytes up to the next block boundary sit at the cluster's end.
        if (e.llen > e.plen) throw new CorruptErofsError(`uncompressed extent of ${e.llen} bytes in ${e.plen}`, where);
        const head = ctx.sb.blockSize - (e.la % ctx.sb.blockSize);
        const at = e.plen - head;
        if (at < 0) throw new CorruptErofsError(`interlaced cluster of ${e.plen} bytes is shorter than a block`, where);
        const cur = Math.min(head, e.llen);
        stored({ fd: raw.fd, fileId: raw.fileId, position: raw.position + at, length: cur });
        if (e.llen > cur) stored({ fd: raw.fd, fileId: raw.fileId, position: raw.position, length: e.llen - cur });
      } else if (e.alg === Z_EROFS_COMPRESSION_LZ4 && lz4) {
        out.push({
          fd: raw.fd,
          fileId: raw.fileId,
          position: raw.position,
          length: raw.length,
          encoding: 'lz4-block',
          decodedLength: e.llen,
          zeroPadLimit: Math.min(e.plen, ctx.sb.blockSize),
        });
      } else {
        return undefined;
      }
    }
    return out;
  }

  private async readRaw(offset: number, n: number, options?: ReadOptions): Promise<Uint8Array> {
    const extents = await mapRaw(this.ctx, this.inode, offset, n, options);
    if (extents.length === 1 && extents[0].kind !== 'hole') return this.rawPiece(extents[0], options);
    const out = new Uint8Array(n);
    await Promise.all(
      extents.map(async (e) => {
        if (e.kind !== 'hole') out.set(await this.rawPiece(e, options), e.la - offset);
      }),
    );
    return out;
  }

  private rawPiece(
    e:
      | { kind: 'data'; la: number; length: number; deviceId: number; pa: number }
      | { kind: 'inline'; length: number; pos: number },
    options?: ReadOptions,
  ): Promise<Uint8Array> {
    if (e.kind === 'inline') return readMeta(this.ctx, this.inode.inMetabox, e.pos, e.length, options);
    if (this.opts.metaCached && e.deviceId === 0 && this.ctx.sb.devices.length === 0)
      return this.ctx.meta.read(e.pa, e.length, options);
    // The rest of the file, stored contiguously (as mkfs lays out flat and chunked files).
    return readPhysical(
      this.ctx,
      e.deviceId,
      e.pa,
      e.length,
      this.inode.nid,
      this.fileLimited(options, e.pa + (this.size - e.la)),
    );
  }

  /**
   * `options` with readahead stopped at `end`, where this file's data would end on disk — not
   * into the next file's blocks — unless the read is part of a scan (an extract), which reads
   * the next files too.
   */
  private fileLimited(options: ReadOptions | undefined, end: number): ReadOptions | undefined {
    return options?.scan ? options : { ...options, readaheadLimit: end };
  }

  /**
   * Reads the physical cluster(s) `[pa, pa + plen)` that end at logical offset `laEnd`;
   * readahead behind it may run over the rest of the file at the same compression ratio (a
   * hint; mkfs stores a file's clusters in order).
   */
  private compressedRead(
    pa: number,
    plen: number,
    llen: number,
    laEnd: number,
    options?: ReadOptions,
  ): Promise<Uint8Array> {
    const end = pa + plen + Math.ceil(((this.size - laEnd) * plen) / Math.max(1, llen));
    return readPhysical(this.ctx, 0, pa, plen, this.inode.nid, this.fileLimited(options, end));
  }

  private async extentAt(pos: number, options?: ReadOptions): Promise<ZExtent> {
    return this.extentCached(pos) ?? this.extentMapped(pos, options);
  }

  /** The extent at `pos` when it can be mapped from memory alone (no await). */
  private extentCached(pos: number): ZExtent | undefined {
    const l = this.last;
    if (l !== undefined && l.la <= pos && pos < l.la + l.llen) return l;
    const e = this.zmap!.mapCached(pos);
    if (e !== undefined) this.last = e;
    return e;
  }

  private async extentMapped(pos: number, options?: ReadOptions): Promise<ZExtent> {
    const e = await this.zmap!.map(pos, options);
    this.last = e;
    return e;
  }

  private async readCompressed(offset: number, n: number, options?: ReadOptions): Promise<Uint8Array> {
    const end = offset + n;
    const first = await this.extentAt(offset, options);
    if (first.la + first.llen >= end) {
      // One extent: a view of the cached cluster, no copy.
      if (first.kind === 'hole') return new Uint8Array(n);
      if (first.kind === 'fragment') return this.readFragment(first.fragmentOff + (offset - first.la), n, options);
      return (await this.decoded(first, options)).subarray(offset - first.la, end - first.la);
    }
    // Several extents: map them all (metadata is cached), then read the physical clusters of
    // adjacent extents with one read per contiguous run, all runs in flight at once.
    const extents: ZExtent[] = [first];
    for (let pos = first.la + first.llen; pos < end;) {
      const e = await this.extentAt(pos, options);
      if (e.la + e.llen <= pos)
        throw new CorruptErofsError(`extent at ${e.la} makes no progress`, { nid: this.inode.nid, la: pos });
      extents.push(e);
      pos = e.la + e.llen;
    }
    const out = new Uint8Array(n);
    const runs = this.physicalRuns(extents, offset, end, options);
    const done = new Set<ZExtent>();
    for (const e of extents) {
      if (e.kind === 'hole' || done.has(e)) continue;
      const from = Math.max(offset, e.la);
      const to = Math.min(end, e.la + e.llen);
      if (e.kind === 'fragment') {
        out.set(await this.readFragment(e.fragmentOff + (from - e.la), to - from, options), from - offset);
        continue;
      }
      const r = runs.get(e);
      if (r !== undefined) {
        // Wholly inside the read: decoded straight from the run, not cached (a sequential
        // reader will not ask for it again).
        const raw = await r.bytes;
        for (const x of r.extents) {
          const at = x.pa - r.pa;
          const data = decodeCluster(this.ctx.sb, {
            raw: raw.subarray(at, at + x.plen),
            llen: x.llen,
            alg: x.alg,
            la: x.la,
            partial: x.partialRef,
            nid: this.inode.nid,
          });
          out.set(data, x.la - offset);
          done.add(x);
        }
        continue;
      }
      const data = await this.decoded(e, options);
      out.set(data.subarray(from - e.la, to - e.la), from - offset);
    }
    return out;
  }

  /**
   * Groups the encoded extents that lie wholly inside `[offset, end)` into runs of physically
   * adjacent clusters and starts one read per run.
   */
  private physicalRuns(
    extents: ZExtent[],
    offset: number,
    end: number,
    options?: ReadOptions,
  ): Map<ZExtent, PhysicalRun> {
    const runs = new Map<ZExtent, PhysicalRun>();
    const single = this.ctx.sb.devices.length !== 0; // unified addresses may cross devices: no merging
    let cur: PhysicalRun | undefined;
    for (const e of extents) {
      if (e.kind !== 'encoded' || e.la < offset || e.la + e.llen > end) {
        cur = undefined;
        continue;
      }
      if (cur !== undefined && !single && cur.pa + cur.len === e.pa && cur.len + e.plen <= MAX_RUN) {
        cur.extents.push(e);
        cur.len += e.plen;
        continue;
      }
      const r: PhysicalRun = {
        extents: [e],
        pa: e.pa,
        len: e.plen,
        bytes: undefined as unknown as Promise<Uint8Array>,
      };
      runs.set(e, r);
      cur = r;
    }
    for (const r of runs.values()) {
      const last = r.extents[r.extents.length - 1];
      const llen = last.la + last.llen - r.extents[0].la;
      r.bytes = this.compressedRead(r.pa, r.len, llen, last.la + last.llen, options);
      r.bytes.catch(() => {}); // awaited in order by readCompressed
    }
    return runs;
  }

  private async readFragment(off: number, len: number, options?: ReadOptions): Promise<Uint8Array> {
    const packed = await this.ctx.packed(this.inode.nid, options);
    if (off + len > packed.size) {
      throw new CorruptErofsError(`fragment at ${off}+${len} lies outside the packed inode (${packed.size} bytes)`, {
        nid: this.inode.nid,
      });
    }
    return packed.read(off, len, options);
  }

  /** The decoded bytes of an encoded or inline extent, from the shared cluster cache. */
  private decoded(e: CodedExtent, options?: ReadOptions): Promise<Uint8Array> {
    const { ctx, inode } = this;
    const rot = e.alg === Z_EROFS_COMPRESSION_INTERLACED ? e.la % ctx.sb.blockSize : 0;
    const space = e.kind === 'inline' ? (inode.inMetabox ? 'm' : 'i') : 'p';
    const key = `${space}${e.pa}:${e.plen}:${e.llen}:${e.alg}:${e.partialRef ? 1 : 0}:${rot}`;
    const hit = ctx.clusters.get(key);
    if (hit !== undefined) return hit;
    const promise = (async () => {
      const raw =
        e.kind === 'inline'
          ? await readMeta(ctx, inode.inMetabox, e.pa, e.plen, options)
          : await this.compressedRead(e.pa, e.plen, e.llen, e.la + e.llen, options);
      return decodeCluster(ctx.sb, { raw, llen: e.llen, alg: e.alg, la: e.la, partial: e.partialRef, nid: inode.nid });
    })();
    ctx.clusters.set(key, promise, { size: Math.max(1, e.llen) });
    promise.catch(() => ctx.clusters.delete(key));
    return promise;
  }
}
