/**
 * zstd:chunked layers: a tar+zstd layer whose files' contents are separate zstd frames, with a
 * TOC ("manifest", the CRFS/eStargz JSON with `offset`/`endOffset` per chunk) zstd-compressed
 * inside a skippable frame, and a footer skippable frame. Three producers' forms are read:
 *
 * - containers/storage ≥ 1.50 (podman ≥ 4.8): a 64-byte footer — manifest offset, compressed
 *   length, uncompressed length, manifest type (1 = CRFS), tar-split offset and lengths (u64
 *   little-endian each), then the magic `GNUlInUx` — and the annotations
 *   `io.github.containers.zstd-chunked.manifest-position` (`offset:length:uncompressed:type`)
 *   and `…manifest-checksum` (digest of the compressed manifest);
 * - containers/storage 1.48–1.49: the same fields in a 56-byte footer, magic `GnUlInUx` after
 *   the manifest type and 16 zero bytes after it;
 * - containers/storage ≤ 1.47 (podman 4.0–4.7, Debian 12's 4.3) and stargz-snapshotter's
 *   "zstdchunked" (`ctr-remote image convert --zstdchunked`): a 40-byte footer (the first four
 *   fields, then `GnUlInUx`) and the annotations without `github.`
 *   (`io.containers.zstd-chunked.manifest-position` / `…-checksum`); stargz also sets
 *   `containerd.io/snapshot/stargz/toc.digest`, the digest of the uncompressed TOC JSON.
 *
 * An annotation gives the position without reading the footer; every checksum given is checked.
 *
 * @packageDocumentation
 */
import { DigestMismatchError } from '../errors.js';
import { digestOf } from '../ref/digest.js';
import type { ByteSource, ReadOptions } from '../io/byte-source.js';
import { zstdDecompress } from '../codec/zstd/decompress.js';
import { zstdChunkCodec } from './chunk-codec.js';
import { CorruptTocError } from './errors.js';
import { MAX_TOC_SIZE, TOC_DIGEST_ANNOTATION, parseTocJson, type TocLayer } from './estargz.js';
import { TarFileSystem } from './tar-fs.js';
import { tocToIndex } from './toc-index.js';
import { TocSource, type TocSourceOptions } from './toc-source.js';

/** Annotation: digest of the compressed manifest. */
export const ZSTD_CHUNKED_MANIFEST_CHECKSUM = 'io.github.containers.zstd-chunked.manifest-checksum';
/** Annotation: `offset:lengthCompressed:lengthUncompressed:type` of the manifest. */
export const ZSTD_CHUNKED_MANIFEST_POSITION = 'io.github.containers.zstd-chunked.manifest-position';
/** The same annotations as containers/storage before 1.45 and stargz-snapshotter name them. */
export const LEGACY_ZSTD_CHUNKED_MANIFEST_CHECKSUM = 'io.containers.zstd-chunked.manifest-checksum';
/** See {@link LEGACY_ZSTD_CHUNKED_MANIFEST_CHECKSUM}. */
export const LEGACY_ZSTD_CHUNKED_MANIFEST_POSITION = 'io.containers.zstd-chunked.manifest-position';
/** Bytes of footer data of the current form (containers/storage ≥ 1.50). */
export const ZSTD_CHUNKED_FOOTER_SIZE = 64;
/** Footer sizes in use, largest first (see the module comment). */
const FOOTER_SIZES = [64, 56, 40] as const;
/** Bytes at the end of a blob that hold any form of the footer, with its skippable-frame header. */
export const ZSTD_CHUNKED_TAIL = 8 + ZSTD_CHUNKED_FOOTER_SIZE;
const MAGIC = Buffer.from('GNUlInUx', 'latin1');
const LEGACY_MAGIC = Buffer.from('GnUlInUx', 'latin1');
const SKIPPABLE_MAGIC = 0x184d2a50;
const MANIFEST_TYPE_CRFS = 1;

/** Where the manifest is. */
export interface ZstdChunkedPosition {
  offset: number;
  lengthCompressed: number;
  lengthUncompressed: number;
}

/**
 * Parses the footer from the last bytes of a blob (at least {@link ZSTD_CHUNKED_TAIL} of them,
 * or just the footer data of the current 64-byte form), or undefined when no form's magic is
 * there.
 */
export function parseZstdChunkedFooter(tail: Uint8Array): ZstdChunkedPosition | undefined {
  const data = footerData(tail);
  if (!data) return undefined;
  const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const num = (at: number) => {
    const x = v.getBigUint64(at, true);
    if (x > BigInt(Number.MAX_SAFE_INTEGER)) throw new CorruptTocError('zstd:chunked footer field out of range');
    return Number(x);
  };
  if (num(24) !== MANIFEST_TYPE_CRFS)
    throw new CorruptTocError(`zstd:chunked manifest type ${num(24)} is not supported`);
  return { offset: num(0), lengthCompressed: num(8), lengthUncompressed: num(16) };
}

/**
 * The footer data of whichever form `tail` ends with: framed by a skippable-frame header of its
 * size, or (64-byte form) bare.
 */
function footerData(tail: Uint8Array): Uint8Array | undefined {
  const b = Buffer.from(tail.buffer, tail.byteOffset, tail.byteLength);
  for (const size of FOOTER_SIZES) {
    if (b.length < size + 8) continue;
    const at = b.length - size;
    if (b.readUInt32LE(at - 8) !== SKIPPABLE_MAGIC || b.readUInt32LE(at - 4) !== size) continue;
    const f = b.subarray(at);
    if (size === 64 && f.subarray(56).equals(MAGIC)) return f;
    if (size === 56 && f.subarray(32, 40).equals(LEGACY_MAGIC) && f.subarray(40).every((x) => x === 0)) return f;
    if (size === 40 && f.subarray(32).equals(LEGACY_MAGIC)) return f;
  }
  // The 64 bytes alone (no frame header given).
  if (b.length === ZSTD_CHUNKED_FOOTER_SIZE && b.subarray(56).equals(MAGIC)) return b;
  return undefined;
}

function annotation(
  annotations: Record<string, string>,
  current: string,
  legacy: string,
): { name: string; value: string } | undefined {
  if (annotations[current] !== undefined) return { name: current, value: annotations[current] };
  if (annotations[legacy] !== undefined) return { name: legacy, value: annotations[legacy] };
  return undefined;
}

/** The manifest position from an annotation (either name), else from the footer (any form); undefined if neither. */
export async function detectZstdChunked(
  blob: ByteSource,
  annotations: Record<string, string> = {},
  options: ReadOptions = {},
): Promise<ZstdChunkedPosition | undefined> {
  const ann = annotation(annotations, ZSTD_CHUNKED_MANIFEST_POSITION, LEGACY_ZSTD_CHUNKED_MANIFEST_POSITION);
  let pos: ZstdChunkedPosition | undefined;
  if (ann !== undefined) {
    const m = /^(\d+):(\d+):(\d+):(\d+)$/.exec(ann.value);
    if (!m || Number(m[4]) !== MANIFEST_TYPE_CRFS)
      throw new CorruptTocError(`bad ${ann.name} annotation ${JSON.stringify(ann.value)}`);
    pos = { offset: Number(m[1]), lengthCompressed: Number(m[2]), lengthUncompressed: Number(m[3]) };
  } else if (blob.size >= 8 + Math.min(...FOOTER_SIZES)) {
    const n = Math.min(ZSTD_CHUNKED_TAIL, blob.size);
    pos = parseZstdChunkedFooter(await blob.read(blob.size - n, n, options));
  }
  if (!pos) return undefined;
  if (
    !Number.isSafeInteger(pos.offset + pos.lengthCompressed) ||
    pos.offset < 8 ||
    pos.offset + pos.lengthCompressed > blob.size
  ) {
    throw new CorruptTocError('zstd:chunked manifest position outside the blob');
  }
  if (pos.lengthUncompressed > MAX_TOC_SIZE)
    throw new CorruptTocError(`zstd:chunked manifest of ${pos.lengthUncompressed} bytes is too large`);
  return pos;
}

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
  const want = annotation(
    options.annotations ?? {},
    ZSTD_CHUNKED_MANIFEST_CHECKSUM,
    LEGACY_ZSTD_CHUNKED_MANIFEST_CHECKSUM,
  );
  if (want !== undefined && want.value !== digest)
    throw new DigestMismatchError(want.value, digest, 'zstd:chunked manifest');
  let json: Uint8Array;
  try {
    json = zstdDecompress(compressed, pos.lengthUncompressed);
  } catch (err) {
    throw new CorruptTocError(`zstd:chunked manifest does not decompress: ${(err as Error).message}`, { cause: err });
  }
  // stargz-snapshotter's zstdchunked also names the digest of the uncompressed TOC JSON.
  const tocDigest = options.annotations?.[TOC_DIGEST_ANNOTATION];
  if (tocDigest !== undefined) {
    const actual = digestOf(json);
    if (actual !== tocDigest) throw new DigestMismatchError(tocDigest, actual, 'zstd:chunked TOC');
  }
  // File data ends where the skippable frame holding the manifest begins.
  const toc = tocToIndex(parseTocJson(json), pos.offset - 8);
  const source = new TocSource(blob, toc.chunks, toc.index.tarSize, zstdChunkCodec, options);
  return { fs: new TarFileSystem(toc.index, source), source, toc, tocDigest: digest };
}
