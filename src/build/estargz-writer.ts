/**
 * An eStargz layer writer (stargz-snapshotter's `estargz` format): a tar+gzip stream in which
 * every chunk of a regular file's content (4 MiB at most) starts a new gzip member, followed by
 * the TOC (`stargz.index.json`, its own gzip member, the archive's last entry and end blocks)
 * and the 51-byte footer member whose gzip Extra field holds the TOC's offset. Any gzip reader
 * sees one ordinary tar; a lazy reader fetches a file's chunks by the TOC's offsets.
 *
 * Members are compressed on the thread pool, several at once, and written in order; a member
 * holds at most one chunk plus the headers that follow it, so memory stays bounded whatever the
 * layer's size.
 *
 * @packageDocumentation
 */
import { createHash, type Hash } from 'node:crypto';
import { gzip } from 'node:zlib';
import { promisify } from 'node:util';
import { throwIfAborted, InvalidOptionError } from '../errors.js';
import { ESTARGZ_FOOTER_SIZE, TOC_NAME } from '../tar/estargz.js';
import type { BuildEntry } from './entry.js';
import { denseContent } from './entry.js';
import { OrderedQueue, type ByteSink } from './sink.js';
import { END_OF_ARCHIVE, devParts, tarHeader, tarName, tarPadding } from './tar-write.js';
import { digestOf } from '../ref/digest.js';

const gzipAsync = promisify(gzip);

/** Default largest chunk of file content in one gzip member. */
export const DEFAULT_ESTARGZ_CHUNK_SIZE = 4 * 1024 * 1024;
/** The landmark that ends the prioritized files, and the one that says there are none. */
export const PREFETCH_LANDMARK = '.prefetch.landmark';
export const NO_PREFETCH_LANDMARK = '.no.prefetch.landmark';
/** The layer annotation with the uncompressed size of the layer. */
export const UNCOMPRESSED_SIZE_ANNOTATION = 'io.containers.estargz.uncompressed-size';

/** Options of {@link EstargzWriter}. */
export interface EstargzWriterOptions {
  /** Largest chunk of file content per gzip member (default {@link DEFAULT_ESTARGZ_CHUNK_SIZE}). */
  chunkSize?: number;
  /** gzip level, 1–9 (default 6, zlib's default; ctr-remote uses 9). */
  level?: number;
  signal?: AbortSignal;
}

/** What a finished eStargz layer is. */
export interface EstargzResult {
  /** `sha256:…` of the TOC JSON (the `containerd.io/snapshot/stargz/toc.digest` annotation). */
  tocDigest: string;
  /** `sha256:…` of the uncompressed tar (the layer's diff_id). */
  diffId: string;
  /** Bytes of the uncompressed tar. */
  uncompressedSize: number;
  /** Entries written (TOC entries of files and chunks included). */
  entries: number;
}

/** One TOC entry, as stargz-snapshotter's `TOCEntry` serialises it. */
interface TocEntry {
  name: string;
  type: string;
  size?: number;
  modtime?: string;
  linkName?: string;
  mode?: number;
  uid?: number;
  gid?: number;
  /** Filled in once the member's compressed offset is known. */
  offset?: number;
  devMajor?: number;
  devMinor?: number;
  xattrs?: Record<string, string>;
  digest?: string;
  chunkOffset?: number;
  chunkSize?: number;
  chunkDigest?: string;
}

const TOC_TYPES: Record<string, string> = {
  file: 'reg',
  dir: 'dir',
  symlink: 'symlink',
  hardlink: 'hardlink',
  chardev: 'char',
  blockdev: 'block',
  fifo: 'fifo',
};

/** RFC 3339 in UTC, with nanoseconds when there are any; empty for the epoch (as stargz omits it). */
export function rfc3339(sec: number, nsec: number): string | undefined {
  if (sec === 0 && nsec === 0) return undefined;
  const iso = new Date(sec * 1000).toISOString().replace(/\.\d{3}Z$/, '');
  return nsec ? `${iso}.${String(nsec).padStart(9, '0').replace(/0+$/, '')}Z` : `${iso}Z`;
}

/** The TOC entry of a build entry (without offsets). */
export function tocEntryOf(e: BuildEntry, type = TOC_TYPES[e.type]): TocEntry {
  const t: TocEntry = { name: tarName(e), type };
  if (e.type === 'file') t.size = e.size;
  const mt = rfc3339(e.mtimeSec, e.mtimeNsec);
  if (mt) t.modtime = mt;
  if (e.linkName !== undefined) t.linkName = e.linkName;
  if (e.mode) t.mode = e.mode;
  if (e.uid) t.uid = e.uid;
  if (e.gid) t.gid = e.gid;
  if (e.type === 'chardev' || e.type === 'blockdev') {
    const d = devParts(e.rdev);
    if (d.major) t.devMajor = d.major;
    if (d.minor) t.devMinor = d.minor;
  }
  if (e.xattrs && e.xattrs.size)
    t.xattrs = Object.fromEntries([...e.xattrs].map(([k, v]) => [k, Buffer.from(v).toString('base64')]));
  return t;
}

/** Writes one eStargz layer into a sink; see the module comment. */
export class EstargzWriter {
  private readonly chunkSize: number;
  private readonly level: number;
  private readonly diff: Hash = createHash('sha256');
  private uncompressed = 0;
  /** Uncompressed bytes of the member being gathered. */
  private member: Uint8Array[] = [];
  private memberBytes = 0;
  /** Members pushed so far; entries refer to a member by number until offsets are known. */
  private members = 0;
  private readonly memberOffsets: number[] = [];
  private written = 0;
  private readonly toc: { entry: TocEntry; member: number }[] = [];
  private readonly queue: OrderedQueue<Uint8Array>;

  constructor(
    private readonly sink: ByteSink,
    private readonly options: EstargzWriterOptions = {},
  ) {
    this.chunkSize = options.chunkSize ?? DEFAULT_ESTARGZ_CHUNK_SIZE;
    if (!Number.isSafeInteger(this.chunkSize) || this.chunkSize < 4096)
      throw new InvalidOptionError('chunkSize', 'must be an integer of at least 4096');
    this.level = options.level ?? 6;
    if (!Number.isInteger(this.level) || this.level < 1 || this.level > 9)
      throw new InvalidOptionError('level', 'must be 1 to 9');
    this.queue = new OrderedQueue(4, async (gz) => {
      this.memberOffsets.push(this.written);
      this.written += gz.length;
      await this.sink.write(gz);
    });
  }

  /** Adds uncompressed tar bytes to the current member. */
  private put(b: Uint8Array): void {
    if (b.length === 0) return;
    this.diff.update(b);
    this.uncompressed += b.length;
    this.member.push(b);
    this.memberBytes += b.length;
  }

  /** Ends the current member (if it holds anything): it is compressed and queued. */
  private async closeMember(): Promise<void> {
    if (this.memberBytes === 0) return;
    const data = Buffer.concat(this.member, this.memberBytes);
    this.member = [];
    this.memberBytes = 0;
    this.members++;
    await this.queue.push(
      gzipAsync(data, { level: this.level }).then((b) => new Uint8Array(b.buffer, b.byteOffset, b.byteLength)),
    );
  }

  /** Writes one entry (a socket is skipped: tar cannot hold it). */
  async add(e: BuildEntry): Promise<void> {
    throwIfAborted(this.options.signal);
    // Members may end anywhere but inside a chunk: a long run of headers gets members of its own.
    if (this.memberBytes >= this.chunkSize) await this.closeMember();
    const header = tarHeader(e);
    if (!header) return;
    this.put(header);
    const base = tocEntryOf(e);
    if (e.type !== 'file' || e.size === 0) {
      if (e.type === 'file') base.digest = digestOf(new Uint8Array(0));
      this.toc.push({ entry: base, member: -1 });
      return;
    }
    const fileHash = createHash('sha256');
    let written = 0;
    let chunkHash: Hash | undefined;
    let chunkLeft = 0;
    let current: TocEntry = base;
    const startChunk = async () => {
      await this.closeMember();
      const entry: TocEntry = written === 0 ? base : { name: base.name, type: 'chunk' };
      entry.chunkOffset = written;
      if (e.size - written > this.chunkSize) entry.chunkSize = this.chunkSize;
      this.toc.push({ entry, member: this.members });
      current = entry;
      chunkHash = createHash('sha256');
      chunkLeft = Math.min(this.chunkSize, e.size - written);
    };
    for await (let piece of denseContent(e.content, e.size)) {
      while (piece.length > 0) {
        if (chunkLeft === 0) await startChunk();
        const n = Math.min(chunkLeft, piece.length);
        const part = piece.subarray(0, n);
        fileHash.update(part);
        chunkHash!.update(part);
        // A copy: the source may reuse its buffer once this piece is consumed.
        this.put(part.slice());
        written += n;
        chunkLeft -= n;
        piece = piece.subarray(n);
        if (chunkLeft === 0) current.chunkDigest = `sha256:${chunkHash!.digest('hex')}`;
      }
    }
    base.digest = `sha256:${fileHash.digest('hex')}`;
    this.put(new Uint8Array(tarPadding(e.size)));
  }

  /** Writes the TOC and the footer; returns the layer's facts. */
  async finish(): Promise<EstargzResult> {
    try {
      await this.closeMember();
      await this.queue.drain();
    } catch (err) {
      await this.queue.settle();
      throw err;
    }
    const entries = this.toc.map(({ entry, member }) => {
      if (member >= 0) entry.offset = this.memberOffsets[member];
      return entry;
    });
    const json = Buffer.from(JSON.stringify({ version: 1, entries }));
    const tocDigest = digestOf(json);
    const header = tarHeader({
      path: TOC_NAME,
      type: 'file',
      mode: 0o644,
      uid: 0,
      gid: 0,
      mtimeSec: 0,
      mtimeNsec: 0,
      size: json.length,
      rdev: 0,
    })!;
    const tocTar = Buffer.concat([header, json, new Uint8Array(tarPadding(json.length)), END_OF_ARCHIVE]);
    this.diff.update(tocTar);
    this.uncompressed += tocTar.length;
    const tocOffset = this.written;
    const tocGz = await gzipAsync(tocTar, { level: this.level });
    await this.sink.write(new Uint8Array(tocGz.buffer, tocGz.byteOffset, tocGz.byteLength));
    this.written += tocGz.length;
    const footer = estargzFooter(tocOffset);
    await this.sink.write(footer);
    this.written += footer.length;
    return {
      tocDigest,
      diffId: `sha256:${this.diff.digest('hex')}`,
      uncompressedSize: this.uncompressed,
      entries: entries.length,
    };
  }

  /** Waits for compression jobs still running (after a failure). */
  async abort(): Promise<void> {
    await this.queue.settle();
  }
}

/**
 * The 51-byte footer: an empty gzip member whose Extra field is the subfield `SG` holding
 * `%016xSTARGZ` (the TOC offset in hex).
 */
export function estargzFooter(tocOffset: number): Uint8Array {
  const f = new Uint8Array(ESTARGZ_FOOTER_SIZE);
  f.set([0x1f, 0x8b, 8, 4, 0, 0, 0, 0, 0, 255]); // magic, deflate, FEXTRA, mtime 0, xfl 0, OS unknown
  f[10] = 26; // XLEN
  f.set([0x53, 0x47, 22, 0], 12); // 'S' 'G', subfield length 22
  f.set(Buffer.from(`${tocOffset.toString(16).padStart(16, '0')}STARGZ`, 'latin1'), 16);
  f.set([1, 0, 0, 0xff, 0xff], 38); // a final stored block of length 0
  // CRC32 and ISIZE of the empty content: zero.
  return f;
}
