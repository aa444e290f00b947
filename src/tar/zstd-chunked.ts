/**
 * zstd:chunked layers (containers/storage `pkg/chunked`): a tar+zstd layer whose files'
 * contents are separate zstd frames, with a TOC ("manifest", the CRFS/eStargz JSON with
 * `offset`/`endOffset` per chunk) zstd-compressed inside a skippable frame, and a footer
 * skippable frame whose last 64 bytes are: manifest offset, compressed length, uncompressed
 * length, manifest type (1 = CRFS), tar-split offset and lengths (u64 little-endian each),
 * then the magic `GNUlInUx`. The layer annotation
 * `io.github.containers.zstd-chunked.manifest-position` (`offset:length:uncompressed:type`)
 * gives the same without reading the footer, and `…manifest-checksum` is the digest of the
 * compressed manifest, checked when given.
 *
 * @packageDocumentation
 */
import { DigestMismatchError } from '../errors.js';
import { digestOf } from '../ref/digest.js';
import type { ByteSource, ReadOptions } from '../io/byte-source.js';
import { zstdDecompress } from '../codec/zstd/decompress.js';
import { CorruptTocError } from './errors.js';
import { MAX_TOC_SIZE, parseTocJson, type TocLayer } from './estargz.js';
import { TarFileSystem } from './tar-fs.js';
import { tocToIndex } from './toc-index.js';
import { TocSource, type ChunkDecoder, type TocSourceOptions } from './toc-source.js';

/** Annotation: digest of the compressed manifest. */
export const ZSTD_CHUNKED_MANIFEST_CHECKSUM = 'io.github.containers.zstd-chunked.manifest-checksum';
/** Annotation: `offset:lengthCompressed:lengthUncompressed:type` of the manifest. */
export const ZSTD_CHUNKED_MANIFEST_POSITION = 'io.github.containers.zstd-chunked.manifest-position';
/** Bytes of footer data at the end of the blob. */
export const ZSTD_CHUNKED_FOOTER_SIZE = 64;
const MAGIC = Buffer.from('GNUlInUx', 'latin1');
const MANIFEST_TYPE_CRFS = 1;

/** Where the manifest is. */
export interface ZstdChunkedPosition {
  offset: number;
  lengthCompressed: number;
  lengthUncompressed: number;
}

/** Parses the 64-byte footer data, or undefined when the magic is not there. */
export function parseZstdChunkedFooter(footer: Uint8Array): ZstdChunkedPosition | undefined {
  if (footer.length < ZSTD_CHUNKED_FOOTER_SIZE) return undefined;
  const f = footer.subarray(footer.length - ZSTD_CHUNKED_FOOTER_SIZE);
  if (!Buffer.from(f.subarray(56, 64)).equals(MAGIC)) return undefined;
  const v = new DataView(f.buffer, f.byteOffset, f.byteLength);
  const num = (at: number) => {
    const x = v.getBigUint64(at, true);
    if (x > BigInt(Number.MAX_SAFE_INTEGER)) throw new CorruptTocError('zstd:chunked footer field out of range');
    return Number(x);
  };
  if (num(24) !== MANIFEST_TYPE_CRFS) throw new CorruptTocError(`zstd:chunked manifest type ${num(24)} is not supported`);
  return { offset: num(0), lengthCompressed: num(8), lengthUncompressed: num(16) };
}

/** The manifest position from the annotation, else from the footer; undefined if neither. */
export async function detectZstdChunked(blob: ByteSource, annotations: Record<string, string> = {}, options: ReadOptions = {}): Promise<ZstdChunkedPosition | undefined> {
  const ann = annotations[ZSTD_CHUNKED_MANIFEST_POSITION];
  let pos: ZstdChunkedPosition | undefined;
  if (ann !== undefined) {
    const m = /^(\d+):(\d+):(\d+):(\d+)$/.exec(ann);
    if (!m || Number(m[4]) !== MANIFEST_TYPE_CRFS) throw new CorruptTocError(`bad ${ZSTD_CHUNKED_MANIFEST_POSITION} annotation ${JSON.stringify(ann)}`);
    pos = { offset: Number(m[1]), lengthCompressed: Number(m[2]), lengthUncompressed: Number(m[3]) };
  } else if (blob.size >= ZSTD_CHUNKED_FOOTER_SIZE) {
    pos = parseZstdChunkedFooter(await blob.read(blob.size - ZSTD_CHUNKED_FOOTER_SIZE, ZSTD_CHUNKED_FOOTER_SIZE, options));
  }
  if (!pos) return undefined;
  if (!Number.isSafeInteger(pos.offset + pos.lengthCompressed) || pos.offset < 8 || pos.offset + pos.lengthCompressed > blob.size) {
    throw new CorruptTocError('zstd:chunked manifest position outside the blob');
  }
  if (pos.lengthUncompressed > MAX_TOC_SIZE) throw new CorruptTocError(`zstd:chunked manifest of ${pos.lengthUncompressed} bytes is too large`);
  return pos;
}

/** Decodes the first `length` bytes of the zstd frame(s) at the start of a range. */
export const zstdChunkDecoder: ChunkDecoder = async (compressed, length) => zstdDecompress(compressed, length, { partial: true });

/** Options of {@link openZstdChunkedLayer}. */
export interface ZstdChunkedOptions extends ReadOptions, TocSourceOptions {
  /** The layer descriptor's annotations (position and checksum of the manifest). */
  annotations?: Record<string, string>;
  position?: ZstdChunkedPosition;
}

/** Opens a zstd:chunked layer from its manifest: no pass over the layer. */
export async function openZstdChunkedLayer(blob: ByteSource, options: ZstdChunkedOptions = {}): Promise<TocLayer> {
  const pos = options.position ?? (await detectZstdChunked(blob, options.annotations, options));
  if (!pos) throw new CorruptTocError('not a zstd:chunked layer (no manifest position)');
  const compressed = await blob.read(pos.offset, pos.lengthCompressed, options);
  const digest = digestOf(compressed);
  const want = options.annotations?.[ZSTD_CHUNKED_MANIFEST_CHECKSUM];
  if (want !== undefined && want !== digest) throw new DigestMismatchError(want, digest, 'zstd:chunked manifest');
  let json: Uint8Array;
  try {
    json = zstdDecompress(compressed, pos.lengthUncompressed);
  } catch (err) {
    throw new CorruptTocError(`zstd:chunked manifest does not decompress: ${(err as Error).message}`, { cause: err });
  }
  // File data ends where the skippable frame holding the manifest begins.
  const toc = tocToIndex(parseTocJson(json), pos.offset - 8);
  const source = new TocSource(blob, toc.chunks, toc.index.tarSize, zstdChunkDecoder, options);
  return { fs: new TarFileSystem(toc.index, source), source, toc, tocDigest: digest };
}
