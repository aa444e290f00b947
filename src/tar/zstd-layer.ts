/**
 * tar+zstd layers. One streaming pass (through the given byte source, so it also fills the
 * blob cache) decodes the layer, builds the tar index and records the zstd frames:
 * - when every frame decodes to at most `maxFrameSpan` bytes, the frames are the checkpoints:
 *   a read decodes only the frames it touches, from the blob (mode `frames`);
 * - otherwise (typically one frame for the whole layer, as `zstd` and containers/image write
 *   it) the decompressed tar is written to a derived blob while the pass runs — frames that
 *   came before the first big one are decoded again from the blob to fill it in — and reads are
 *   served from there (mode `derived`). Memory stays bounded: at most `maxFrameSpan` of output
 *   is held before the decision.
 * The pass also computes the tar's sha256, which is the layer's diff_id: the caller checks it
 * against the image config, and it keys the derived blob.
 *
 * @packageDocumentation
 */
import { createHash } from 'node:crypto';
import { debuglog } from '../io/debug-log.js';
import { InvalidOptionError, isOcifsError, throwIfAborted } from '../errors.js';
import { isDigest } from '../ref/digest.js';
import type { ByteSource, ReadOptions } from '../io/byte-source.js';
import { readPieces } from '../io/read-stream.js';
import { zstdDecompress } from '../codec/zstd/decompress.js';
import { ZstdStreamDecoder, type ZstdStreamFrame } from '../codec/zstd/stream.js';
import { BinFormatError, BinReader, BinWriter } from './bin-codec.js';
import { TempDerivedBlobStore, type DerivedBlobStore, type DerivedBlobWriter } from './derived-blob.js';
import { CorruptIndexError } from './errors.js';
import type { IndexStore } from './index-store.js';
import { packIndex, unpackIndex } from './index-store.js';
import { TarFeeder } from './tar-feeder.js';
import { TarFileSystem } from './tar-fs.js';
import { decodeTarIndexFrom, encodeTarIndexInto, type TarIndex } from './tar-index.js';
import { TarParser, type TarParserOptions } from './tar-parser.js';
import { SegmentedSource } from './segmented-source.js';

const debug = debuglog('ocifs:zstd');

/** Default largest frame output served by decoding the frame from the blob. */
export const DEFAULT_MAX_FRAME_SPAN = 8 * 1024 * 1024;
/** Default memory for decoded frames. */
export const DEFAULT_FRAME_CACHE_BYTES = 64 * 1024 * 1024;
/** IndexStore name of a serialised zstd index. */
export const ZSTD_INDEX_NAME = 'zstd-index';
const MAGIC = 'OCIFSZTX';
/** Version of the serialised form. */
export const ZSTD_INDEX_VERSION = 1;

/** One zstd frame: where it is in the blob and what it decodes to. */
export interface ZstdFrame {
  compressedOffset: number;
  compressedSize: number;
  out: number;
  size: number;
}

/** What the pass learnt about a tar+zstd layer. */
export interface ZstdIndex {
  blobSize: number;
  tarSize: number;
  /** `sha256:…` of the decompressed tar (the layer's diff_id). */
  diffId: string;
  mode: 'frames' | 'derived';
  /** Frames that produce output, in order (covering the tar without gaps). */
  frames: ZstdFrame[];
  tar: TarIndex;
}

/** Options of {@link openZstdLayer}. */
export interface ZstdLayerOptions extends ReadOptions, Omit<TarParserOptions, 'totalSize'> {
  store?: IndexStore;
  /** Where decompressed layers are kept (default: anonymous temporary files). */
  derived?: DerivedBlobStore;
  /** Frames decoding to more than this are not decoded per read (default {@link DEFAULT_MAX_FRAME_SPAN}). */
  maxFrameSpan?: number;
  /** Bytes of decoded frames kept (default {@link DEFAULT_FRAME_CACHE_BYTES}). */
  frameCacheBytes?: number;
  /** Compressed bytes per read during the pass (default 1 MiB). */
  pieceSize?: number;
  onProgress?: (done: number, total: number) => void;
}

/** An opened tar+zstd layer. */
export interface ZstdLayer {
  fs: TarFileSystem;
  /** The uncompressed tar stream. */
  source: ByteSource;
  index: ZstdIndex;
  fromStore: boolean;
}

/** Serialises a zstd index. */
export async function encodeZstdIndex(index: ZstdIndex): Promise<Uint8Array> {
  const w = new BinWriter();
  w.uint(index.blobSize);
  w.uint(index.tarSize);
  w.str(index.diffId);
  w.u8(index.mode === 'frames' ? 0 : 1);
  w.uint(index.frames.length);
  for (const f of index.frames) {
    w.uint(f.compressedOffset);
    w.uint(f.compressedSize);
    w.uint(f.size);
  }
  encodeTarIndexInto(w, index.tar);
  return packIndex(MAGIC, ZSTD_INDEX_VERSION, w.finish());
}

/** Loads a serialised zstd index, validating it; throws `ERR_OCIFS_CORRUPT_INDEX`. */
export async function decodeZstdIndex(bytes: Uint8Array): Promise<ZstdIndex> {
  const what = 'zstd index';
  const r = new BinReader(await unpackIndex(bytes, MAGIC, ZSTD_INDEX_VERSION, what));
  try {
    const blobSize = r.uint();
    const tarSize = r.uint();
    const diffId = r.str();
    if (!isDigest(diffId, 'sha256')) throw new BinFormatError('bad diff id');
    const m = r.u8();
    if (m > 1) throw new BinFormatError('bad mode');
    const n = r.count(3);
    const frames: ZstdFrame[] = [];
    let out = 0;
    let end = 0;
    for (let i = 0; i < n; i++) {
      const f = { compressedOffset: r.uint(), compressedSize: r.uint(), out, size: r.uint() };
      if (
        f.compressedOffset < end ||
        f.compressedSize === 0 ||
        f.compressedOffset + f.compressedSize > blobSize ||
        f.size === 0
      )
        throw new BinFormatError(`frame ${i} out of range`);
      end = f.compressedOffset + f.compressedSize;
      out += f.size;
      frames.push(f);
    }
    if (out !== tarSize) throw new BinFormatError('frames do not cover the tar');
    const tar = decodeTarIndexFrom(r, what);
    if (tar.tarSize !== tarSize || r.remaining !== 0) throw new BinFormatError('tar index mismatch');
    return { blobSize, tarSize, diffId, mode: m === 0 ? 'frames' : 'derived', frames, tar };
  } catch (err) {
    if (err instanceof BinFormatError) throw new CorruptIndexError(what, err.message, { cause: err });
    throw err;
  }
}

/** The pass; returns the index and, in `derived` mode, the decompressed tar. */
export async function buildZstdIndex(
  blob: ByteSource,
  options: ZstdLayerOptions = {},
): Promise<{ index: ZstdIndex; derived?: ByteSource }> {
  const maxSpan = options.maxFrameSpan ?? DEFAULT_MAX_FRAME_SPAN;
  if (!Number.isSafeInteger(maxSpan) || maxSpan < 64 * 1024)
    throw new InvalidOptionError('maxFrameSpan', 'must be an integer of at least 64 KiB');
  const parser = new TarParser(options);
  const feeder = new TarFeeder(parser);
  const frames: ZstdFrame[] = [];
  const dec = new ZstdStreamDecoder({
    onFrame: (f: ZstdStreamFrame) => {
      if (f.type === 'frame' && f.decompressedSize > 0) {
        frames.push({
          compressedOffset: f.compressedOffset,
          compressedSize: f.compressedSize,
          out: f.decompressedOffset,
          size: f.decompressedSize,
        });
      }
    },
  });
  const sha = createHash('sha256');
  let total = 0;
  /** Output of frames not finished yet (kept until we know whether they are small). */
  let pending: { at: number; bytes: Uint8Array }[] = [];
  let pendingBytes = 0;
  let writer: DerivedBlobWriter | undefined;
  try {
    for await (const piece of readPieces(blob, {
      pieceSize: options.pieceSize ?? 1024 * 1024,
      signal: options.signal,
      readAhead: 3,
    })) {
      throwIfAborted(options.signal);
      for (const out of dec.push(piece)) {
        sha.update(out);
        feeder.push(out);
        if (writer) await writer.write(out);
        else {
          pending.push({ at: total, bytes: out });
          pendingBytes += out.length;
        }
        total += out.length;
      }
      if (!writer) {
        // Drop output of frames that ended: they can be decoded again from the blob.
        const doneUpTo = frames.length ? frames[frames.length - 1].out + frames[frames.length - 1].size : 0;
        while (pending.length && pending[0].at + pending[0].bytes.length <= doneUpTo)
          pendingBytes -= pending.shift()!.bytes.length;
        if (pending.length && pending[0].at < doneUpTo) {
          const cut = doneUpTo - pending[0].at;
          pending[0] = { at: doneUpTo, bytes: pending[0].bytes.subarray(cut) };
          pendingBytes -= cut;
        }
        if (pendingBytes > maxSpan) {
          debug('frame at output %d is larger than %d bytes: keeping the decompressed layer', doneUpTo, maxSpan);
          writer = await (options.derived ?? new TempDerivedBlobStore()).create();
          for (const f of frames) await writer.write(await decodeFrame(blob, f, options));
          for (const p of pending) await writer.write(p.bytes);
          pending = [];
          pendingBytes = 0;
        }
      }
      options.onProgress?.(dec.bytesIn, blob.size);
    }
    dec.end();
    feeder.end();
  } catch (err) {
    await writer?.abort();
    throw err;
  }
  const diffId = 'sha256:' + sha.digest('hex');
  const index: ZstdIndex = {
    blobSize: blob.size,
    tarSize: total,
    diffId,
    mode: writer ? 'derived' : 'frames',
    frames,
    tar: { tarSize: total, entries: parser.entries },
  };
  return { index, derived: writer ? await writer.commit(diffId) : undefined };
}

async function decodeFrame(blob: ByteSource, f: ZstdFrame, options: ReadOptions): Promise<Uint8Array> {
  const bytes = await blob.read(f.compressedOffset, f.compressedSize, options);
  return zstdDecompress(bytes, f.size);
}

/** The tar stream of a `frames`-mode layer: reads decode the frames they touch. */
export class ZstdFramesSource extends SegmentedSource {
  /** Frames decoded so far (for tests and stats). */
  framesDecoded = 0;

  constructor(
    private readonly blob: ByteSource,
    readonly index: ZstdIndex,
    frameCacheBytes = DEFAULT_FRAME_CACHE_BYTES,
  ) {
    super(
      index.frames.map((f) => f.out),
      index.tarSize,
      { bytes: frameCacheBytes, option: 'frameCacheBytes' },
    );
  }

  protected async decode(i: number, options: ReadOptions): Promise<Uint8Array> {
    const d = await decodeFrame(this.blob, this.index.frames[i], options);
    this.framesDecoded++;
    return d;
  }
}

/** Opens a tar+zstd layer: the stored index (and derived blob) when valid, else one pass. */
export async function openZstdLayer(blob: ByteSource, options: ZstdLayerOptions = {}): Promise<ZstdLayer> {
  const stored = await options.store?.get(ZSTD_INDEX_NAME);
  if (stored) {
    try {
      const index = await decodeZstdIndex(stored);
      if (index.blobSize !== blob.size) throw new CorruptIndexError('zstd index', 'blob size mismatch');
      if (index.mode === 'frames') {
        const source = new ZstdFramesSource(blob, index, options.frameCacheBytes);
        return { fs: new TarFileSystem(index.tar, source), source, index, fromStore: true };
      }
      const derived = await options.derived?.get(index.diffId);
      if (derived && derived.size === index.tarSize)
        return { fs: new TarFileSystem(index.tar, derived), source: derived, index, fromStore: true };
      debug('decompressed layer %s is gone: another pass', index.diffId);
    } catch (err) {
      if (!isOcifsError(err, 'ERR_OCIFS_CORRUPT_INDEX')) throw err;
      debug('stored zstd index rejected (%s): rebuilding', (err as Error).message);
    }
  }
  const { index, derived } = await buildZstdIndex(blob, options);
  await options.store?.put(ZSTD_INDEX_NAME, await encodeZstdIndex(index));
  const source = derived ?? new ZstdFramesSource(blob, index, options.frameCacheBytes);
  return { fs: new TarFileSystem(index.tar, source), source, index, fromStore: false };
}
