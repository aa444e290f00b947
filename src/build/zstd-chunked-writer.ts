/**
 * A zstd:chunked layer writer (containers/storage `pkg/chunked`): a tar+zstd stream in which
 * each tar header run is a zstd frame and each chunk of a regular file's content is a frame of
 * its own (content-defined chunks, see `chunking.ts`, at most 4 MiB), then three skippable
 * frames: the TOC ("manifest", CRFS/eStargz-style JSON, zstd-compressed), the tar-split
 * (JSON lines that rebuild the exact tar stream, zstd-compressed) and the footer (64 bytes:
 * manifest offset, compressed and uncompressed length, type 1, tar-split offset and lengths,
 * magic `GNUlInUx`). Any zstd reader sees one ordinary tar (skippable frames are skipped).
 *
 * @packageDocumentation
 */
import { createHash, type Hash } from 'node:crypto';
import { throwIfAborted } from '../errors.js';
import { zstdCompressor, type ZstdCompressor } from '../codec/zstd-encode.js';
import { ZSTD_CHUNKED_MANIFEST_CHECKSUM, ZSTD_CHUNKED_MANIFEST_POSITION } from '../tar/zstd-chunked.js';
import { Crc64, RollSum } from './chunking.js';
import { denseContent, type BuildEntry } from './entry.js';
import { tocEntryOf } from './estargz-writer.js';
import type { ByteSink } from './sink.js';
import { END_OF_ARCHIVE, tarHeader, tarName, tarPadding } from './tar-write.js';
import { digestOf } from '../ref/digest.js';

/** The annotation with the tar-split's position (`offset:length:uncompressed`). */
export const ZSTD_CHUNKED_TARSPLIT_POSITION = 'io.github.containers.zstd-chunked.tarsplit-position';
/** Largest chunk of file content in one frame (content-defined cuts usually come far sooner). */
export const MAX_ZSTD_CHUNK = 4 * 1024 * 1024;
/** Tar-split JSON gathered before it is compressed into a frame. */
const TARSPLIT_FRAME = 1 << 20;
const SKIPPABLE_MAGIC = 0x184d2a50;
const FOOTER_MAGIC = Buffer.from('GNUlInUx', 'latin1');

/** Options of {@link ZstdChunkedWriter}. */
export interface ZstdChunkedWriterOptions {
  /** zstd level (default 3). */
  level?: number;
  signal?: AbortSignal;
}

/** What a finished zstd:chunked layer is. */
export interface ZstdChunkedResult {
  /** The layer annotations (manifest checksum and position, tar-split position). */
  annotations: Record<string, string>;
  diffId: string;
  uncompressedSize: number;
}

/** A TOC entry as containers/storage's `FileMetadata` serialises it (omitempty fields left out). */
type ChunkedTocEntry = ReturnType<typeof tocEntryOf> & { endOffset?: number; chunkType?: string };

/** Writes one zstd:chunked layer into a sink; see the module comment. */
export class ZstdChunkedWriter {
  private zstd!: ZstdCompressor;
  private readonly diff: Hash = createHash('sha256');
  private uncompressed = 0;
  private written = 0;
  /** Uncompressed tar bytes (headers, padding) waiting for their frame. */
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;
  private readonly toc: ChunkedTocEntry[] = [];
  /** Tar-split: raw bytes of the current segment, JSON lines, compressed frames. */
  private segment: Uint8Array[] = [];
  private splitLines: string[] = [];
  private splitLineBytes = 0;
  private readonly splitFrames: Uint8Array[] = [];
  private splitUncompressed = 0;
  private position = 0;

  private constructor(
    private readonly sink: ByteSink,
    private readonly options: ZstdChunkedWriterOptions,
  ) {}

  /** A writer into `sink` (loads the zstd compressor). */
  static async create(sink: ByteSink, options: ZstdChunkedWriterOptions = {}): Promise<ZstdChunkedWriter> {
    const w = new ZstdChunkedWriter(sink, options);
    w.zstd = await zstdCompressor(options.level);
    return w;
  }

  private async out(b: Uint8Array): Promise<void> {
    await this.sink.write(b);
    this.written += b.length;
  }

  /** Tar bytes that are not file content: hashed, kept for the next header frame and the tar-split segment. */
  private raw(b: Uint8Array): void {
    if (b.length === 0) return;
    this.diff.update(b);
    this.uncompressed += b.length;
    this.pending.push(b);
    this.pendingBytes += b.length;
    this.segment.push(b);
  }

  /** Compresses what is pending into one frame. */
  private async flushFrame(): Promise<void> {
    if (this.pendingBytes === 0) return;
    const data = Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    await this.out(this.zstd.compress(data));
  }

  private splitEntry(entry: Record<string, unknown>): void {
    const line = JSON.stringify({ ...entry, position: this.position++ }) + '\n';
    this.splitLines.push(line);
    this.splitLineBytes += line.length;
    if (this.splitLineBytes >= TARSPLIT_FRAME) this.flushSplit();
  }

  private endSegment(): void {
    if (this.segment.length === 0) return;
    this.splitEntry({ type: 2, payload: Buffer.concat(this.segment).toString('base64') });
    this.segment = [];
  }

  private flushSplit(): void {
    if (this.splitLines.length === 0) return;
    const data = Buffer.from(this.splitLines.join(''));
    this.splitUncompressed += data.length;
    this.splitFrames.push(this.zstd.compress(data));
    this.splitLines = [];
    this.splitLineBytes = 0;
  }

  /** Writes one entry (a socket is skipped: tar cannot hold it). */
  async add(e: BuildEntry): Promise<void> {
    throwIfAborted(this.options.signal);
    const header = tarHeader(e);
    if (!header) return;
    this.raw(header);
    this.endSegment();
    const entry: ChunkedTocEntry = tocEntryOf(e);
    this.toc.push(entry);
    const hasData = e.type === 'file' && e.size > 0;
    const crc = new Crc64();
    if (hasData) await this.writeContent(e, entry, crc);
    this.splitEntry({
      type: 1,
      name: tarName(e),
      ...(e.type === 'file' && e.size ? { size: e.size } : {}),
      payload: hasData ? Buffer.from(crc.digest()).toString('base64') : null,
    });
    if (hasData) this.raw(new Uint8Array(tarPadding(e.size)));
    if (this.pendingBytes >= MAX_ZSTD_CHUNK) await this.flushFrame();
  }

  /** Content frames: cut where the rolling checksum says, or at {@link MAX_ZSTD_CHUNK}. */
  private async writeContent(e: BuildEntry, entry: ChunkedTocEntry, crc: Crc64): Promise<void> {
    await this.flushFrame();
    const fileHash = createHash('sha256');
    const roll = new RollSum();
    const chunks: { offset: number; chunkOffset: number; size: number; digest: string }[] = [];
    let parts: Uint8Array[] = [];
    let partBytes = 0;
    let done = 0;
    let chunkHash = createHash('sha256');
    const cut = async () => {
      if (partBytes === 0) return;
      const offset = this.written;
      await this.out(this.zstd.compress(Buffer.concat(parts, partBytes)));
      chunks.push({
        offset,
        chunkOffset: done - partBytes,
        size: partBytes,
        digest: `sha256:${chunkHash.digest('hex')}`,
      });
      parts = [];
      partBytes = 0;
      chunkHash = createHash('sha256');
    };
    for await (const piece of denseContent(e.content, e.size)) {
      fileHash.update(piece);
      crc.update(piece);
      this.diff.update(piece);
      this.uncompressed += piece.length;
      let p = 0;
      while (p < piece.length) {
        const room = MAX_ZSTD_CHUNK - partBytes;
        const end = Math.min(piece.length, p + room);
        const at = roll.rollUntilSplit(piece, p, end);
        const stop = at < 0 ? end : at;
        const part = piece.subarray(p, stop);
        chunkHash.update(part);
        parts.push(part.slice());
        partBytes += part.length;
        done += part.length;
        p = stop;
        if (at >= 0 || partBytes >= MAX_ZSTD_CHUNK) await cut();
      }
    }
    await cut();
    entry.digest = `sha256:${fileHash.digest('hex')}`;
    entry.offset = chunks[0].offset;
    entry.endOffset = this.written;
    if (chunks.length > 1) {
      chunks.forEach((c, i) => {
        const t: ChunkedTocEntry = i === 0 ? entry : { name: entry.name, type: 'chunk', chunkOffset: c.chunkOffset };
        t.chunkSize = c.size;
        t.offset = c.offset;
        t.chunkDigest = c.digest;
        if (i > 0) this.toc.push(t);
      });
    }
  }

  private async skippable(data: Uint8Array): Promise<number> {
    const head = new Uint8Array(8);
    const dv = new DataView(head.buffer);
    dv.setUint32(0, SKIPPABLE_MAGIC, true);
    dv.setUint32(4, data.length, true);
    await this.out(head);
    const at = this.written;
    await this.out(data);
    return at;
  }

  /** Ends the tar, writes the manifest, the tar-split and the footer. */
  async finish(): Promise<ZstdChunkedResult> {
    this.raw(END_OF_ARCHIVE);
    await this.flushFrame();
    this.endSegment();
    this.flushSplit();
    const split = Buffer.concat(this.splitFrames);
    const tarSplitDigest = digestOf(split);
    const manifest = Buffer.from(JSON.stringify({ version: 1, entries: this.toc, tarSplitDigest }));
    const compressedManifest = this.zstd.compress(manifest);
    const manifestOffset = await this.skippable(compressedManifest);
    const splitOffset = await this.skippable(split);
    const footer = new Uint8Array(64);
    const dv = new DataView(footer.buffer);
    const fields = [
      manifestOffset,
      compressedManifest.length,
      manifest.length,
      1,
      splitOffset,
      split.length,
      this.splitUncompressed,
    ];
    fields.forEach((v, i) => dv.setBigUint64(i * 8, BigInt(v), true));
    footer.set(FOOTER_MAGIC, 56);
    await this.skippable(footer);
    return {
      annotations: {
        [ZSTD_CHUNKED_MANIFEST_CHECKSUM]: digestOf(compressedManifest),
        [ZSTD_CHUNKED_MANIFEST_POSITION]: `${manifestOffset}:${compressedManifest.length}:${manifest.length}:1`,
        [ZSTD_CHUNKED_TARSPLIT_POSITION]: `${splitOffset}:${split.length}:${this.splitUncompressed}`,
      },
      diffId: `sha256:${this.diff.digest('hex')}`,
      uncompressedSize: this.uncompressed,
    };
  }
}
