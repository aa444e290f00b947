/**
 * A tar stream parser that only ever looks at headers.
 *
 * It is a state machine driven from outside: {@link TarParser.need} says whether the next
 * bytes must be read (a header, a pax or GNU long-name record, a sparse map) or may be
 * skipped (file data). A random-access driver seeks over skipped data (so listing an
 * uncompressed layer fetches little more than its headers); a streaming driver (the gzip pass)
 * discards it. Both get the same entries.
 *
 * @packageDocumentation
 */
import { CorruptTarError, UnsupportedLayerError } from './errors.js';
import { BLOCK, F, checksumOk, headerFormat, isZeroBlock, readNumber, readString } from './tar-header.js';
import { parsePax, paxInt, paxText, paxTime, paxXattr, type PaxRecord } from './pax.js';
import { normalizeTarPath } from './tar-path.js';
import type { SparseSegment, TarEntry, TarEntryType } from './tar-entry.js';

/** Default cap on one pax / GNU long-name record (xattrs can be large, but not this large). */
export const DEFAULT_MAX_EXTENDED_HEADER = 8 * 1024 * 1024;
/** Default cap on the number of segments of one sparse file. */
export const DEFAULT_MAX_SPARSE_SEGMENTS = 1 << 20;

/** Options of {@link TarParser}. */
export interface TarParserOptions {
  /** Size of the whole tar stream when known: entries reaching past it are refused. */
  totalSize?: number;
  /** Largest pax / GNU long-name record accepted (default {@link DEFAULT_MAX_EXTENDED_HEADER}). */
  maxExtendedHeader?: number;
  /** Most segments one sparse file may have (default {@link DEFAULT_MAX_SPARSE_SEGMENTS}). */
  maxSparseSegments?: number;
}

/** What the parser wants next. */
export type ParserNeed = { kind: 'read'; length: number } | { kind: 'skip'; length: number } | { kind: 'done' };

type State = 'header' | 'ext' | 'sparseExt' | 'sparseMap' | 'skip' | 'done';

const pad = (n: number) => (BLOCK - (n % BLOCK)) % BLOCK;

/** Parses tar headers; see the module comment. */
export class TarParser {
  /** Offset in the tar stream of the next byte the parser will be given or will skip. */
  position = 0;
  /** Entries found so far, in archive order. */
  readonly entries: TarEntry[] = [];

  private state: State = 'header';
  private want = BLOCK;
  private readonly maxExt: number;
  private readonly maxSparse: number;
  private readonly totalSize: number | undefined;

  // Per-entry extension state, reset after each real entry.
  private entryStart = -1;
  private local: PaxRecord[] = [];
  private longName: string | undefined;
  private longLink: string | undefined;
  private readonly global = new Map<string, PaxRecord>();
  private extKind = '';
  private extAfter = 0;
  // An entry whose sparse map is still being read.
  private pendingEntry: TarEntry | undefined;
  private pendingSkip = 0;
  private sparseSegs: SparseSegment[] = [];
  private sparseMapText = '';
  private sparseMapBlocks = 0;

  constructor(options: TarParserOptions = {}) {
    this.totalSize = options.totalSize;
    this.maxExt = options.maxExtendedHeader ?? DEFAULT_MAX_EXTENDED_HEADER;
    this.maxSparse = options.maxSparseSegments ?? DEFAULT_MAX_SPARSE_SEGMENTS;
  }

  /** What the parser needs next. */
  need(): ParserNeed {
    if (this.state === 'done') return { kind: 'done' };
    if (this.state === 'skip') return { kind: 'skip', length: this.want };
    return { kind: 'read', length: this.want };
  }

  /** Confirms that the bytes of a `skip` need were passed over. */
  skipped(): void {
    if (this.state !== 'skip') throw new Error('TarParser.skipped() without a skip need');
    this.position += this.want;
    this.state = 'header';
    this.want = BLOCK;
  }

  /** Gives the bytes of a `read` need (exactly `need().length` of them). */
  give(bytes: Uint8Array): void {
    if (this.state === 'skip' || this.state === 'done') throw new Error('TarParser.give() without a read need');
    if (bytes.length !== this.want)
      throw new Error(`TarParser.give(): expected ${this.want} bytes, got ${bytes.length}`);
    const at = this.position;
    this.position += bytes.length;
    switch (this.state) {
      case 'header':
        this.onHeader(bytes, at);
        break;
      case 'ext':
        this.onExt(bytes, at);
        break;
      case 'sparseExt':
        this.onSparseExt(bytes, at);
        break;
      case 'sparseMap':
        this.onSparseMap(bytes, at);
        break;
    }
  }

  /**
   * The stream ended at {@link position}. An archive may end without its two zero blocks,
   * but not inside a member.
   */
  end(skippedSoFar = 0): void {
    if (this.state === 'done') return;
    // Some writers (umoci 0.4's `insert`) stop right after the last member's data, without its
    // padding or the end-of-archive blocks: the data is complete, so accept it as GNU tar does
    // (it extracts everything, then complains).
    const onlyPaddingMissing = this.state === 'skip' && this.want - skippedSoFar <= this.lastPad && this.entryStart < 0;
    if ((this.state === 'header' && this.entryStart < 0) || onlyPaddingMissing) {
      this.state = 'done';
      return;
    }
    throw new CorruptTarError('archive is truncated', this.position, this.pendingEntry?.path);
  }

  private fail(reason: string, at: number, entry?: string): never {
    throw new CorruptTarError(reason, at, entry);
  }

  private checkEnd(at: number, length: number, entry: string | undefined): void {
    const end = at + length;
    if (!Number.isSafeInteger(end) || (this.totalSize !== undefined && end > this.totalSize)) {
      this.fail(
        `member data (${length} bytes) reaches past the end of the archive (${this.totalSize ?? 'unknown'} bytes)`,
        at,
        entry,
      );
    }
  }

  private num(block: Uint8Array, field: readonly [number, number], at: number, what: string, name: string): bigint {
    const v = readNumber(block, field[0], field[1]);
    if (v === undefined) this.fail(`bad ${what} field`, at, name);
    return v;
  }

  private onHeader(block: Uint8Array, at: number): void {
    if (isZeroBlock(block)) {
      if (this.entryStart >= 0) this.fail('end-of-archive marker after an extension header', at);
      this.state = 'done';
      return;
    }
    const rawName = readString(block, F.name[0], F.name[1]);
    if (!checksumOk(block)) this.fail('bad header checksum', at, rawName);
    if (this.entryStart < 0) this.entryStart = at;
    const flag = String.fromCharCode(block[F.typeflag[0]]);
    const sizeBig = this.num(block, F.size, at, 'size', rawName);
    if (sizeBig < 0n || sizeBig > BigInt(Number.MAX_SAFE_INTEGER)) this.fail(`impossible size ${sizeBig}`, at, rawName);
    const size = Number(sizeBig);
    const dataAt = at + BLOCK;
    this.checkEnd(dataAt, size, rawName);

    if (flag === 'x' || flag === 'g' || flag === 'L' || flag === 'K') {
      if (size > this.maxExt)
        this.fail(`extension header of ${size} bytes exceeds the limit of ${this.maxExt}`, at, rawName);
      this.extKind = flag;
      this.extAfter = pad(size);
      if (size === 0) {
        this.finishExt(new Uint8Array(0), dataAt);
        return;
      }
      this.state = 'ext';
      this.want = size;
      return;
    }
    if (flag === 'M') throw new UnsupportedLayerError(`multi-volume tar continuation at offset ${at}`);
    if (flag === 'V') {
      // A volume label carries no file.
      this.resetExt();
      this.skip(size + pad(size));
      return;
    }
    this.onEntryHeader(block, at, flag, size, rawName);
  }

  private onEntryHeader(block: Uint8Array, at: number, flag: string, size: number, rawName: string): void {
    const fmt = headerFormat(block);
    let name = rawName;
    if (fmt === 'ustar') {
      const prefix = readString(block, F.prefix[0], F.prefix[1]);
      if (prefix) name = `${prefix}/${rawName}`;
    }
    let link = readString(block, F.linkname[0], F.linkname[1]);
    const rec = new Map<string, PaxRecord>(this.global);
    if (this.longName !== undefined) name = this.longName;
    if (this.longLink !== undefined) link = this.longLink;
    const xattrs = new Map<string, Uint8Array>();
    const sparse00: number[] = [];
    for (const r of [...this.global.values(), ...this.local]) {
      const x = paxXattr(r);
      if (x) xattrs.set(x[0], x[1]);
    }
    for (const r of this.local) {
      // GNU sparse 0.0 repeats these keys, so they are collected in order.
      if (r.key === 'GNU.sparse.offset' || r.key === 'GNU.sparse.numbytes') {
        const n = paxInt(paxText(r.value));
        if (n === undefined) this.fail(`bad ${r.key}`, at, name);
        sparse00.push(n);
      }
      rec.set(r.key, r);
    }
    const text = (k: string) => {
      const r = rec.get(k);
      return r === undefined ? undefined : paxText(r.value);
    };
    const pint = (k: string, fallback: () => number) => {
      const t = text(k);
      if (t === undefined) return fallback();
      const n = paxInt(t);
      if (n === undefined) this.fail(`bad pax ${k} ${JSON.stringify(t)}`, at, name);
      return n;
    };
    name = text('GNU.sparse.name') ?? text('path') ?? name;
    link = text('linkpath') ?? link;
    // A pax size replaces the header's (for members over 8 GiB); the parser must skip by it.
    const stored = pint('size', () => size);
    const dataAt = at + BLOCK;
    this.checkEnd(dataAt, stored, name);

    const id = (k: string, field: readonly [number, number], what: string) =>
      pint(k, () => {
        const v = this.num(block, field, at, what, name);
        if (v < 0n || v > 0xffffffffn) this.fail(`impossible ${what} ${v}`, at, name);
        return Number(v);
      });
    const uid = id('uid', F.uid, 'uid');
    const gid = id('gid', F.gid, 'gid');
    if (uid > 0xffffffff || gid > 0xffffffff) this.fail('uid/gid out of range', at, name);
    const modeBig = this.num(block, F.mode, at, 'mode', name);
    const mode = Number(modeBig & 0o7777n);
    let mtimeSec: number;
    let mtimeNsec = 0;
    const pm = text('mtime');
    if (pm !== undefined) {
      const t = paxTime(pm);
      if (!t) this.fail(`bad pax mtime ${JSON.stringify(pm)}`, at, name);
      mtimeSec = t.sec;
      mtimeNsec = t.nsec;
    } else {
      const m = this.num(block, F.mtime, at, 'mtime', name);
      if (m > BigInt(Number.MAX_SAFE_INTEGER) || m < -BigInt(Number.MAX_SAFE_INTEGER))
        this.fail(`impossible mtime ${m}`, at, name);
      mtimeSec = Number(m);
    }

    let type: TarEntryType;
    switch (flag) {
      case '0':
      case '\0':
      case '7':
      case 'S':
        type = 'file';
        break;
      case '1':
        type = 'hardlink';
        break;
      case '2':
        type = 'symlink';
        break;
      case '3':
        type = 'chardev';
        break;
      case '4':
        type = 'blockdev';
        break;
      case '5':
      case 'D':
        type = 'dir';
        break;
      case '6':
        type = 'fifo';
        break;
      // POSIX: an unknown type is extracted as a regular file.
      default:
        type = 'file';
    }
    if (type === 'file' && (flag === '0' || flag === '\0') && fmt === 'v7' && name.endsWith('/')) type = 'dir';

    const path = normalizeTarPath(name);
    if (path === undefined) this.fail('unsafe member name (a ".." component or NUL)', at, name);
    if (path === '' && type !== 'dir') this.fail('a non-directory member names the archive root', at, name);

    const entry: TarEntry = {
      path,
      type,
      mode,
      uid,
      gid,
      mtimeSec,
      mtimeNsec,
      size: type === 'file' ? stored : 0,
      dataOffset: dataAt,
      storedSize: type === 'file' ? stored : 0,
      headerOffset: this.entryStart,
    };
    if (type === 'symlink') {
      if (link === '') this.fail('symlink without a target', at, name);
      entry.linkName = link;
    } else if (type === 'hardlink') {
      const target = normalizeTarPath(link);
      if (target === undefined || target === '') this.fail(`unsafe hardlink target ${JSON.stringify(link)}`, at, name);
      entry.linkName = target;
    }
    if (type === 'chardev' || type === 'blockdev') {
      entry.devMajor = id('SCHILY.devmajor', F.devmajor, 'devmajor');
      entry.devMinor = id('SCHILY.devminor', F.devminor, 'devminor');
    }
    if (xattrs.size > 0) entry.xattrs = xattrs;

    // Sparse files: old GNU ('S'), pax 0.0 (offset/numbytes pairs), 0.1 (map), 1.0 (map in data).
    const major = text('GNU.sparse.major');
    if (type !== 'file' && (major !== undefined || rec.has('GNU.sparse.map') || sparse00.length > 0)) {
      this.fail(`GNU sparse records on a ${type}`, at, name);
    }
    if (flag === 'S') {
      const real = this.num(block, F.gnuRealSize, at, 'realsize', name);
      this.beginSparse(entry, real, stored);
      this.addSparseDescriptors(block, 386, 4, at);
      if (block[F.gnuIsExtended[0]]) {
        this.pendingSkip = stored + pad(stored);
        this.state = 'sparseExt';
        this.want = BLOCK;
        this.resetExt();
        return;
      }
      this.finishSparse(at);
    } else if (major === '1') {
      if (text('GNU.sparse.minor') !== '0')
        this.fail(`unknown GNU sparse version 1.${text('GNU.sparse.minor')}`, at, name);
      const real = pint('GNU.sparse.realsize', () => this.fail('GNU sparse 1.0 without realsize', at, name));
      this.beginSparse(entry, BigInt(real), stored);
      this.sparseMapText = '';
      this.sparseMapBlocks = 0;
      this.pendingSkip = stored + pad(stored);
      this.state = 'sparseMap';
      this.want = BLOCK;
      this.resetExt();
      if (stored < BLOCK) this.fail('GNU sparse 1.0 member too short for its map', at, name);
      return;
    } else if (rec.has('GNU.sparse.map') || sparse00.length > 0) {
      const real = pint('GNU.sparse.size', () =>
        pint('GNU.sparse.realsize', () => this.fail('GNU sparse without size', at, name)),
      );
      this.beginSparse(entry, BigInt(real), stored);
      const nums = sparse00.length > 0 ? sparse00 : this.mapNumbers(text('GNU.sparse.map')!, at, name);
      if (nums.length % 2) this.fail('odd GNU sparse map', at, name);
      for (let i = 0; i < nums.length; i += 2) this.addSegment(nums[i], nums[i + 1], at);
      this.finishSparse(at);
    }
    this.entries.push(entry);
    this.resetExt();
    this.skip(stored + pad(stored), pad(stored));
  }

  private mapNumbers(map: string, at: number, name: string): number[] {
    if (map === '') return [];
    return map.split(',').map((t) => {
      const n = paxInt(t);
      if (n === undefined) this.fail('bad GNU.sparse.map', at, name);
      return n;
    });
  }

  private beginSparse(entry: TarEntry, real: bigint, stored: number): void {
    if (real < 0n || real > BigInt(Number.MAX_SAFE_INTEGER))
      this.fail(`impossible sparse size ${real}`, entry.headerOffset, entry.path);
    entry.size = Number(real);
    entry.storedSize = stored;
    this.pendingEntry = entry;
    this.sparseSegs = [];
  }

  private addSegment(offset: number, length: number, at: number): void {
    const e = this.pendingEntry!;
    if (this.sparseSegs.length >= this.maxSparse) this.fail('too many sparse segments', at, e.path);
    const prev = this.sparseSegs[this.sparseSegs.length - 1];
    if (
      !Number.isSafeInteger(offset + length) ||
      offset + length > e.size ||
      (prev && offset < prev.offset + prev.length)
    ) {
      this.fail(`impossible sparse segment ${offset}+${length} (file size ${e.size})`, at, e.path);
    }
    // Zero-length segments carry nothing (GNU tar writes one to mark a trailing hole).
    if (length > 0) this.sparseSegs.push({ offset, length });
  }

  private addSparseDescriptors(block: Uint8Array, start: number, count: number, at: number): void {
    for (let i = 0; i < count; i++) {
      const o = start + i * 24;
      if (block[o] === 0) break;
      const off = readNumber(block, o, 12);
      const len = readNumber(block, o + 12, 12);
      if (
        off === undefined ||
        len === undefined ||
        off < 0n ||
        len < 0n ||
        off + len > BigInt(Number.MAX_SAFE_INTEGER)
      ) {
        this.fail('bad GNU sparse descriptor', at, this.pendingEntry!.path);
      }
      this.addSegment(Number(off), Number(len), at);
    }
  }

  private finishSparse(at: number): void {
    const e = this.pendingEntry!;
    const total = this.sparseSegs.reduce((s, g) => s + g.length, 0);
    if (total !== e.storedSize)
      this.fail(`sparse map covers ${total} bytes but ${e.storedSize} are stored`, at, e.path);
    e.sparse = this.sparseSegs;
    this.pendingEntry = undefined;
  }

  private onSparseExt(block: Uint8Array, at: number): void {
    this.addSparseDescriptors(block, 0, 21, at);
    if (block[504]) return; // another extension block follows
    const e = this.pendingEntry!;
    e.dataOffset = this.position;
    this.checkEnd(e.dataOffset, e.storedSize, e.path);
    this.finishSparse(at);
    this.entries.push(e);
    this.skip(this.pendingSkip, pad(e.storedSize));
  }

  private onSparseMap(block: Uint8Array, at: number): void {
    const e = this.pendingEntry!;
    this.sparseMapBlocks++;
    this.sparseMapText += String.fromCharCode(...block);
    if (this.sparseMapText.length > 64 + this.maxSparse * 40) this.fail('GNU sparse map too long', at, e.path);
    const lines = this.sparseMapText.split('\n');
    const count = paxInt(lines[0]);
    if (count === undefined) this.fail('bad GNU sparse 1.0 map', at, e.path);
    if (count > this.maxSparse) this.fail('too many sparse segments', at, e.path);
    // Complete once 1 + 2*count newline-terminated numbers are present.
    if (lines.length - 1 < 1 + 2 * count) {
      if (this.sparseMapBlocks * BLOCK >= e.storedSize)
        this.fail('GNU sparse 1.0 map runs past the member data', at, e.path);
      return;
    }
    for (let i = 0; i < count; i++) {
      const off = paxInt(lines[1 + 2 * i]);
      const len = paxInt(lines[2 + 2 * i]);
      if (off === undefined || len === undefined) this.fail('bad GNU sparse 1.0 map', at, e.path);
      this.addSegment(off, len, at);
    }
    const mapBytes = this.sparseMapBlocks * BLOCK;
    e.dataOffset += mapBytes;
    e.storedSize -= mapBytes;
    this.finishSparse(at);
    this.entries.push(e);
    this.skip(this.pendingSkip - mapBytes, pad(e.storedSize + mapBytes));
  }

  private onExt(data: Uint8Array, at: number): void {
    this.finishExt(data, at);
  }

  private finishExt(data: Uint8Array, at: number): void {
    switch (this.extKind) {
      case 'x':
      case 'g': {
        const recs = parsePax(data);
        if (typeof recs === 'string') this.fail(recs, at);
        // Copies: a streaming driver reuses the buffer these views point into.
        for (const r of recs) r.value = r.value.slice();
        if (this.extKind === 'x') this.local.push(...recs);
        else {
          for (const r of recs) {
            if (r.value.length === 0) this.global.delete(r.key);
            else this.global.set(r.key, r);
          }
          // A global header is not part of the next member.
          this.entryStart =
            this.local.length || this.longName !== undefined || this.longLink !== undefined ? this.entryStart : -1;
        }
        break;
      }
      case 'L':
        this.longName = readString(data, 0, data.length);
        break;
      case 'K':
        this.longLink = readString(data, 0, data.length);
        break;
    }
    this.skip(this.extAfter);
  }

  private resetExt(): void {
    this.entryStart = -1;
    this.local = [];
    this.longName = undefined;
    this.longLink = undefined;
  }

  /** Padding at the end of the current skip (see {@link end}). */
  private lastPad = 0;

  private skip(n: number, padding = 0): void {
    this.lastPad = padding;
    if (n === 0) {
      this.state = 'header';
      this.want = BLOCK;
      return;
    }
    this.state = 'skip';
    this.want = n;
  }
}
