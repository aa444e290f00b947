/**
 * SOCI (awslabs/soci-snapshotter) prebuilt indexes: the SOCI index manifest lists one zTOC
 * per large layer; a zTOC (FlatBuffers, `ztoc/fbs/ztoc.fbs`) holds the layer's file table and
 * a zran-style checkpoint blob ("zinfo"). {@link loadZtoc} turns one into the same
 * {@link GzipIndex} the gzip pass builds, so no pass over the layer is needed.
 *
 * A zTOC comes from whoever can push to the repository, so it is never trusted blindly:
 * sizes must match the layer, checkpoints must be ordered, every span's compressed bytes are
 * checked against the zTOC's `span_digests` when read, and {@link verifyZtocAgainstLayer}
 * decodes sampled spans and checks that real tar headers sit where the zTOC claims files are.
 *
 * zinfo blob (gzip, `ztoc/compression/gzip_zinfo.c` `zinfo_to_blob`), little-endian:
 * i32 checkpoint count, i64 span size, then per checkpoint i64 `in` (compressed bytes consumed),
 * i64 `out` (uncompressed offset), u8 `bits` (unused bits of byte `in - 1` that belong to the
 * next block), 32 KiB window. Version 1 blobs omit checkpoint 0 (then at `in` 10, `out` 0).
 * A zTOC of an uncompressed tar layer (`compression_algorithm` Uncompressed) holds a TarZinfo
 * table instead, and its file table is all that is used: the layer is read directly.
 * soci writes zTOC version `0.9`; `1.x` is accepted too.
 *
 * @packageDocumentation
 */
import { isDigest } from '../ref/digest.js';
import { CorruptIndexError } from './errors.js';
import { FbTable, FlatbufferBuffer, FlatbufferError } from './flatbuffer-reader.js';
import { WINDOW_SIZE, type GzipCheckpoint, type GzipIndex } from './gzip-index.js';
import { GzipIndexedSource } from './gzip-indexed-source.js';
import type { ByteSource, ReadOptions } from '../io/byte-source.js';
import { BLOCK, F, checksumOk, readNumber, readString } from './tar-header.js';
import { normalizeTarPath } from './tar-path.js';
import { paxTime } from './pax.js';
import type { TarEntry, TarEntryType } from './tar-entry.js';
import { TarFileSystem } from './tar-fs.js';

/** artifactType / config media type of SOCI index manifests (v1 via referrers, v2 via annotation). */
export const SOCI_INDEX_V1 = 'application/vnd.amazon.soci.index.v1+json';
export const SOCI_INDEX_V2 = 'application/vnd.amazon.soci.index.v2+json';
/** Annotation on a zTOC descriptor naming the image layer it indexes. */
export const SOCI_LAYER_DIGEST = 'com.amazon.soci.image-layer-digest';
export const SOCI_LAYER_MEDIA_TYPE = 'com.amazon.soci.image-layer-mediaType';
/** Annotation of a SOCI v2 image manifest naming its SOCI index manifest. */
export const SOCI_INDEX_DIGEST_ANNOTATION = 'com.amazon.soci.index-digest';
/** Largest zTOC accepted. */
export const MAX_ZTOC_SIZE = 512 * 1024 * 1024;

/** One zTOC listed by a SOCI index. */
export interface ZtocDescriptor {
  digest: string;
  size: number;
  /** Digest of the image layer the zTOC describes. */
  layerDigest: string;
  layerMediaType?: string;
}

/** A parsed SOCI index manifest. */
export interface SociIndex {
  version: 1 | 2;
  /** The image manifest it refers to (v1 `subject`), when given. */
  subject?: string;
  ztocs: ZtocDescriptor[];
}

function bad(what: string, reason: string): never {
  throw new CorruptIndexError(what, reason);
}

/** A JSON value as an object, or undefined when it is not one. */
function objectOf(v: unknown): Record<string, unknown> | undefined {
  return typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : undefined;
}

/** Parses a SOCI index manifest (v1 or v2). Throws `ERR_OCIFS_CORRUPT_INDEX` when it is not one. */
export function parseSociIndex(manifestBytes: Uint8Array): SociIndex {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(manifestBytes).toString('utf8'));
  } catch (err) {
    throw new CorruptIndexError('SOCI index', 'not JSON', { cause: err });
  }
  const doc = objectOf(parsed) ?? bad('SOCI index', 'not an object');
  const configType = objectOf(doc.config)?.mediaType;
  const version =
    doc.artifactType === SOCI_INDEX_V1 || configType === SOCI_INDEX_V1
      ? 1
      : doc.artifactType === SOCI_INDEX_V2 || configType === SOCI_INDEX_V2
        ? 2
        : 0;
  if (version === 0) bad('SOCI index', 'artifactType/config is not a SOCI index');
  const list = doc.layers ?? doc.blobs ?? [];
  if (!Array.isArray(list)) bad('SOCI index', 'layers is not an array');
  const ztocs: ZtocDescriptor[] = [];
  for (const item of list as unknown[]) {
    const d = objectOf(item);
    const digest = d?.digest;
    const annotations = objectOf(d?.annotations);
    const layerDigest = annotations?.[SOCI_LAYER_DIGEST];
    if (typeof digest !== 'string' || !isDigest(digest, 'sha256')) bad('SOCI index', 'bad zTOC digest');
    const size = d?.size;
    if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0 || size > MAX_ZTOC_SIZE)
      bad('SOCI index', `bad zTOC size for ${digest}`);
    // Not a zTOC (e.g. a config blob).
    if (typeof layerDigest !== 'string' || !isDigest(layerDigest, 'sha256')) continue;
    const layerMediaType = annotations?.[SOCI_LAYER_MEDIA_TYPE];
    ztocs.push({
      digest,
      size,
      layerDigest,
      layerMediaType: typeof layerMediaType === 'string' ? layerMediaType : undefined,
    });
  }
  const subject = objectOf(doc.subject)?.digest;
  return { version, subject: typeof subject === 'string' ? subject : undefined, ztocs };
}

/** A loaded zTOC: the layer's index and what the zTOC says about itself. */
export interface Ztoc {
  version: string;
  buildTool: string;
  /** `gzip`: a tar+gzip layer; `uncompressed`: a plain tar layer (no checkpoints). */
  algorithm: 'gzip' | 'uncompressed';
  /** The file table and, for gzip, the checkpoints (none for uncompressed layers). */
  index: GzipIndex;
  spanSize: number;
}

const TYPES: Record<string, TarEntryType> = {
  reg: 'file',
  dir: 'dir',
  symlink: 'symlink',
  hardlink: 'hardlink',
  char: 'chardev',
  block: 'blockdev',
  fifo: 'fifo',
};
const PACKED_CHECKPOINT = 8 + 8 + 1 + WINDOW_SIZE;

/**
 * Parses a zTOC into a {@link GzipIndex} (checkpoints + tar index) after structural checks.
 * Throws `ERR_OCIFS_CORRUPT_INDEX`. Pair it with {@link verifyZtocAgainstLayer} before use.
 */
export function loadZtoc(bytes: Uint8Array): Ztoc {
  try {
    return loadZtocUnsafe(bytes);
  } catch (err) {
    if (err instanceof FlatbufferError) throw new CorruptIndexError('zTOC', err.message, { cause: err });
    throw err;
  }
}

function loadZtocUnsafe(bytes: Uint8Array): Ztoc {
  const root = new FlatbufferBuffer(bytes).root();
  const version = root.string(0);
  if (!/^(0\.9|1\.\d+)$/.test(version)) bad('zTOC', `unsupported zTOC version ${JSON.stringify(version)}`);
  const blobSize = root.int64(2);
  const tarSize = root.int64(3);
  if (blobSize <= 0 || tarSize < 0) bad('zTOC', 'bad archive sizes');
  const info = root.table(5) ?? bad('zTOC', 'no compression_info');
  const algorithm = info.int8(0, 1);
  if (algorithm === 2) return loadTarZtoc(root, version, info, blobSize);
  if (algorithm !== 1) bad('zTOC', `unknown compression algorithm ${algorithm}`);
  const { checkpoints, spanSize } = parseZinfo(info.bytes(3) ?? bad('zTOC', 'no checkpoints'), blobSize, tarSize);
  const maxSpan = info.int32(1, checkpoints.length - 1);
  if (maxSpan !== checkpoints.length - 1) bad('zTOC', `max_span_id ${maxSpan} but ${checkpoints.length} checkpoints`);
  const nd = info.vectorLength(2);
  if (nd !== 0 && nd !== checkpoints.length) bad('zTOC', `${nd} span digests for ${checkpoints.length} spans`);
  for (let k = 0; k < nd; k++) {
    const d = Buffer.from(info.bytesAt(2, k)).toString('latin1');
    if (!isDigest(d, 'sha256')) bad('zTOC', `bad span digest ${k}`);
    checkpoints[k].spanDigest = d;
  }
  const entries = fileTable(root, tarSize);
  return {
    version,
    buildTool: root.string(1),
    algorithm: 'gzip',
    spanSize,
    index: { blobSize, tarSize, checkpoints, tar: { tarSize, entries } },
  };
}

function fileTable(root: FbTable, tarSize: number): TarEntry[] {
  const toc = root.table(4) ?? bad('zTOC', 'no toc');
  const n = toc.vectorLength(0);
  const entries: TarEntry[] = [];
  for (let k = 0; k < n; k++) entries.push(fileEntry(toc.tableAt(0, k), tarSize));
  return entries;
}

/** An uncompressed layer's zTOC: `TarZinfo { version; span_size; size }` and the file table. */
function loadTarZtoc(root: FbTable, version: string, info: FbTable, blobSize: number): Ztoc {
  const zinfo = new FlatbufferBuffer(info.bytes(3) ?? bad('zTOC', 'no TarZinfo')).root();
  const spanSize = zinfo.int64(1);
  if (zinfo.int64(2) !== blobSize || spanSize <= 0) bad('zTOC', 'TarZinfo does not match the archive size');
  // The file table is checked against the whole blob: data offsets are blob offsets.
  const entries = fileTable(root, blobSize);
  return {
    version,
    buildTool: root.string(1),
    algorithm: 'uncompressed',
    spanSize,
    index: { blobSize, tarSize: blobSize, checkpoints: [], tar: { tarSize: blobSize, entries } },
  };
}

function parseZinfo(
  b: Uint8Array,
  blobSize: number,
  tarSize: number,
): { checkpoints: GzipCheckpoint[]; spanSize: number } {
  if (b.length < 12) bad('zTOC', 'zinfo too short');
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const count = v.getInt32(0, true);
  const spanSize = Number(v.getBigInt64(4, true));
  if (count <= 0 || count > 1 << 24) bad('zTOC', `bad checkpoint count ${count}`);
  const stored =
    b.length === 12 + count * PACKED_CHECKPOINT
      ? count
      : b.length === 12 + (count - 1) * PACKED_CHECKPOINT
        ? count - 1
        : -1;
  if (stored < 0) bad('zTOC', 'zinfo size does not match its checkpoint count');
  const cps: GzipCheckpoint[] = [];
  // Version 1 blobs leave out checkpoint 0: right after a 10-byte gzip header, empty window.
  if (stored === count - 1) cps.push({ bit: 80, out: 0, window: new Uint8Array(0) });
  for (let k = 0; k < stored; k++) {
    const p = 12 + k * PACKED_CHECKPOINT;
    const inBytes = Number(v.getBigInt64(p, true));
    const out = Number(v.getBigInt64(p + 8, true));
    const bits = b[p + 16];
    if (bits > 7 || inBytes < 1 || inBytes > blobSize || out < 0 || out > tarSize)
      bad('zTOC', `checkpoint ${cps.length} out of range`);
    const bit = inBytes * 8 - bits;
    const prev = cps[cps.length - 1];
    if (prev && (bit <= prev.bit || out <= prev.out))
      bad('zTOC', `checkpoint ${cps.length} is not after the previous one`);
    if (!prev && out !== 0) bad('zTOC', 'first checkpoint is not at offset 0');
    // The window is the last 32 KiB of output, zero-filled at the front early in the stream.
    const w = b.subarray(p + 17, p + 17 + WINDOW_SIZE);
    cps.push({ bit, out, window: w.slice(WINDOW_SIZE - Math.min(WINDOW_SIZE, out)) });
  }
  return { checkpoints: cps, spanSize };
}

function fileEntry(t: FbTable, tarSize: number): TarEntry {
  const name = t.string(0);
  const type =
    TYPES[t.string(1)] ?? bad('zTOC', `entry ${JSON.stringify(name)}: unknown type ${JSON.stringify(t.string(1))}`);
  const path = normalizeTarPath(name) ?? bad('zTOC', `entry ${JSON.stringify(name)}: unsafe name`);
  if (path === '' && type !== 'dir') bad('zTOC', 'a non-directory names the root');
  const dataOffset = t.int64(2);
  const size = type === 'file' ? t.int64(3) : 0;
  if (dataOffset < BLOCK || size < 0 || dataOffset + size > tarSize)
    bad('zTOC', `entry ${JSON.stringify(name)}: data outside the archive`);
  const mt = t.string(10);
  const time =
    mt === '' ? { sec: 0, nsec: 0 } : (rfc3339(mt) ?? bad('zTOC', `entry ${JSON.stringify(name)}: bad mod_time`));
  const e: TarEntry = {
    path,
    type,
    mode: t.int64(5) & 0o7777,
    uid: t.uint32(6),
    gid: t.uint32(7),
    mtimeSec: time.sec,
    mtimeNsec: time.nsec,
    size,
    dataOffset,
    storedSize: size,
    headerOffset: dataOffset - BLOCK,
  };
  const link = t.string(4);
  if (type === 'symlink') e.linkName = link || bad('zTOC', `entry ${JSON.stringify(name)}: symlink without target`);
  if (type === 'hardlink')
    e.linkName = normalizeTarPath(link) || bad('zTOC', `entry ${JSON.stringify(name)}: bad hardlink target`);
  if (type === 'chardev' || type === 'blockdev') {
    e.devMajor = t.int64(11);
    e.devMinor = t.int64(12);
    if (e.devMajor < 0 || e.devMinor < 0 || e.devMajor > 0xffffffff || e.devMinor > 0xffffffff)
      bad('zTOC', `entry ${JSON.stringify(name)}: bad device number`);
  }
  // `xattrs` holds all of the entry's PAX records (Go's hdr.PAXRecords); keep the xattr ones.
  const nx = t.vectorLength(13);
  for (let k = 0; k < nx; k++) {
    const x = t.tableAt(13, k);
    const key = x.string(0);
    const value = x.bytes(1) ?? new Uint8Array(0);
    let xname: string | undefined;
    if (key.startsWith('SCHILY.xattr.')) xname = key.slice(13);
    if (xname !== undefined) (e.xattrs ??= new Map()).set(xname, value.slice());
  }
  return e;
}

/** RFC 3339 with optional fraction, as Go's `time.MarshalText` writes it. */
function rfc3339(s: string): { sec: number; nsec: number } | undefined {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$/.exec(s);
  if (!m) return undefined;
  const ms = Date.parse(m[1] + m[3]);
  if (Number.isNaN(ms)) return undefined;
  return paxTime(`${Math.floor(ms / 1000)}.${(m[2] ?? '0').padEnd(9, '0')}`);
}

/**
 * Files whose tar headers are checked when a zTOC is opened: the first and the last. More would
 * fetch more spans before the first read (each file is checked anyway when it is opened, and
 * each span against its digest), which is what a zTOC is there to avoid.
 */
export const DEFAULT_ZTOC_SAMPLES = 2;

/** Options of {@link verifyZtocAgainstLayer}. */
export interface ZtocVerifyOptions extends ReadOptions {
  /** Regular files whose tar headers are checked (spread over the layer; default {@link DEFAULT_ZTOC_SAMPLES}). */
  samples?: number;
}

/**
 * Checks a zTOC against the layer it claims to index: the blob size, then for sampled files
 * (first, last and spread between) that decoding from the zTOC's checkpoints yields a valid tar
 * header (checksum, size, and name where it fits) right before the claimed data offset.
 * Throws `ERR_OCIFS_CORRUPT_INDEX` naming the first mismatch.
 */
export async function verifyZtocAgainstLayer(
  ztoc: Ztoc,
  blob: ByteSource,
  options: ZtocVerifyOptions = {},
): Promise<ByteSource> {
  const idx = ztoc.index;
  if (idx.blobSize !== blob.size)
    bad('zTOC', `describes a ${idx.blobSize}-byte layer, the layer has ${blob.size} bytes`);
  const source = ztoc.algorithm === 'uncompressed' ? blob : new GzipIndexedSource(blob, idx);
  const files = idx.tar.entries.filter((e) => e.type === 'file');
  const want = Math.max(1, options.samples ?? DEFAULT_ZTOC_SAMPLES);
  const picks = new Set<TarEntry>();
  if (files.length) {
    picks.add(files[0]);
    picks.add(files[files.length - 1]);
    for (let k = 1; k < want - 1 && k < files.length; k++) picks.add(files[Math.floor((k * files.length) / want)]);
  }
  for (const e of picks) await checkHeaderBefore(source, e, options);
  return source;
}

/** Throws unless a tar header for `e` (checksum, regular file, size, name) ends where its data starts. */
async function checkHeaderBefore(source: ByteSource, e: TarEntry, options: ReadOptions): Promise<void> {
  const h = await source.read(e.dataOffset - BLOCK, BLOCK, options).catch((err: unknown) => {
    throw new CorruptIndexError(
      'zTOC',
      `span holding ${JSON.stringify(e.path)} does not decode: ${(err as Error).message}`,
      { cause: err },
    );
  });
  const size = readNumber(h, F.size[0], F.size[1]);
  const raw = readString(h, F.name[0], F.name[1]);
  const name = normalizeTarPath(raw);
  const prefix = readString(h, F.prefix[0], F.prefix[1]);
  const full = normalizeTarPath(prefix ? `${prefix}/${raw}` : raw);
  // A full name field holds the first bytes of a longer name (a GNU long-name record or a pax
  // path before the header): "./" + a 98-byte path is already over 100 bytes.
  const truncated =
    raw.length === F.name[1] &&
    [e.path, `./${e.path}`, `/${e.path}`].some((p) => p.length > raw.length && p.startsWith(raw));
  const typeflag = h[F.typeflag[0]];
  const ok =
    checksumOk(h) &&
    (typeflag === 0x30 || typeflag === 0 || typeflag === 0x37) &&
    // A pax `size` record may stand in for the header's (members over 8 GiB).
    (size === BigInt(e.size) || e.size > 0o77777777777) &&
    (e.path.length >= 100 || truncated || name === e.path || full === e.path);
  if (!ok)
    bad(
      'zTOC',
      `no tar header for ${JSON.stringify(e.path)} before offset ${e.dataOffset}: the zTOC does not match the layer`,
    );
}

/**
 * A {@link TarFileSystem} over a zTOC that checks, the first time each file is opened, that
 * the layer really has that file's tar header right before the data the zTOC points to — so a
 * zTOC that is right about the sampled files but wrong about others still serves no wrong
 * bytes. The header is nearly always in the span the data starts in, so this costs no fetch.
 */
export class SociFileSystem extends TarFileSystem {
  private readonly verified = new Set<number>();

  constructor(
    index: GzipIndex['tar'],
    private readonly layerSource: ByteSource,
  ) {
    super(index, layerSource);
  }

  override async openFile(ino: number, options: ReadOptions = {}): Promise<ByteSource> {
    const src = await super.openFile(ino, options);
    if (!this.verified.has(ino)) {
      const e = this.entry(ino);
      if (e && e.size > 0) await checkHeaderBefore(this.layerSource, e, options);
      this.verified.add(ino);
    }
    return src;
  }
}

/** Opens a tar+gzip (or plain tar) layer through a verified zTOC: no pass over the layer, no header scan. */
export async function openSociLayer(
  blob: ByteSource,
  ztocBytes: Uint8Array,
  options: ZtocVerifyOptions = {},
): Promise<{ fs: SociFileSystem; source: ByteSource; ztoc: Ztoc }> {
  const ztoc = loadZtoc(ztocBytes);
  const source = await verifyZtocAgainstLayer(ztoc, blob, options);
  return { fs: new SociFileSystem(ztoc.index.tar, source), source, ztoc };
}
