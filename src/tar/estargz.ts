/**
 * eStargz layers (stargz-snapshotter's `docs/estargz.md`): a tar+gzip layer whose files'
 * contents start new gzip members, with a TOC (`stargz.index.json`, the last tar member) and a
 * 51-byte footer member whose gzip Extra field holds the TOC offset (`%016xSTARGZ`; legacy
 * stargz: 47 bytes without the SI1/SI2/LEN subfield header). Opening one reads the footer and
 * the TOC only — no pass over the layer — and each read fetches only the chunks it touches,
 * each checked against its `chunkDigest`.
 *
 * @packageDocumentation
 */
import { gunzip } from 'node:zlib';
import { promisify } from 'node:util';
import { DigestMismatchError } from '../errors.js';
import { digestOf } from '../ref/digest.js';
import type { ByteSource, ReadOptions } from '../io/byte-source.js';
import { MemorySource } from '../io/memory-source.js';
import { CorruptTocError } from './errors.js';
import { TarFileSystem } from './tar-fs.js';
import { scanTar } from './tar-scan.js';
import { tocToIndex, type TocIndex } from './toc-index.js';
import { gzipChunkCodec } from './chunk-codec.js';
import { TocSource, type TocSourceOptions } from './toc-source.js';

const gunzipAsync = promisify(gunzip);

/** Size of the eStargz footer. */
export const ESTARGZ_FOOTER_SIZE = 51;
/** Size of the legacy (CRFS) stargz footer. */
export const LEGACY_STARGZ_FOOTER_SIZE = 47;
/** The layer annotation holding the digest of the TOC JSON. */
export const TOC_DIGEST_ANNOTATION = 'containerd.io/snapshot/stargz/toc.digest';
/** Name of the TOC member. */
export const TOC_NAME = 'stargz.index.json';
/** Largest TOC accepted (decompressed). */
export const MAX_TOC_SIZE = 256 * 1024 * 1024;

/** Where the TOC is, from the footer. */
export interface EstargzFooter {
  tocOffset: number;
  footerSize: number;
}

function hexOffset(b: Uint8Array, at: number): number | undefined {
  const text = Buffer.from(b.subarray(at, at + 22)).toString('latin1');
  if (!/^[0-9a-f]{16}STARGZ$/.test(text)) return undefined;
  const v = Number.parseInt(text.slice(0, 16), 16);
  return Number.isSafeInteger(v) ? v : undefined;
}

/** Parses a footer from the last bytes of a blob (at least 51), or undefined when it is none. */
export function parseEstargzFooter(tail: Uint8Array): EstargzFooter | undefined {
  const gzipExtra = (b: Uint8Array, xlen: number) =>
    b[0] === 0x1f && b[1] === 0x8b && b[2] === 8 && b[3] & 4 && b[10] === xlen && b[11] === 0;
  if (tail.length >= ESTARGZ_FOOTER_SIZE) {
    const f = tail.subarray(tail.length - ESTARGZ_FOOTER_SIZE);
    if (gzipExtra(f, 26) && f[12] === 0x53 && f[13] === 0x47 && f[14] === 22 && f[15] === 0) {
      const tocOffset = hexOffset(f, 16);
      if (tocOffset !== undefined) return { tocOffset, footerSize: ESTARGZ_FOOTER_SIZE };
    }
  }
  if (tail.length >= LEGACY_STARGZ_FOOTER_SIZE) {
    const f = tail.subarray(tail.length - LEGACY_STARGZ_FOOTER_SIZE);
    if (gzipExtra(f, 22)) {
      const tocOffset = hexOffset(f, 12);
      if (tocOffset !== undefined) return { tocOffset, footerSize: LEGACY_STARGZ_FOOTER_SIZE };
    }
  }
  return undefined;
}

/** Reads the end of a gzip blob and returns its footer when it is an eStargz / stargz layer. */
export async function detectEstargz(blob: ByteSource, options: ReadOptions = {}): Promise<EstargzFooter | undefined> {
  if (blob.size < ESTARGZ_FOOTER_SIZE) return undefined;
  const tail = await blob.read(blob.size - ESTARGZ_FOOTER_SIZE, ESTARGZ_FOOTER_SIZE, options);
  const f = parseEstargzFooter(tail);
  return f && f.tocOffset < blob.size - f.footerSize ? f : undefined;
}

/** Options of {@link openEstargzLayer}. */
export interface EstargzOptions extends ReadOptions, TocSourceOptions {
  /** The layer descriptor's annotations: `containerd.io/snapshot/stargz/toc.digest` is checked. */
  annotations?: Record<string, string>;
  /** The footer, when {@link detectEstargz} already read it. */
  footer?: EstargzFooter;
}

/** An opened TOC layer. */
export interface TocLayer {
  fs: TarFileSystem;
  source: TocSource;
  toc: TocIndex;
  /** The TOC JSON's digest (`sha256:…`). */
  tocDigest: string;
}

/** Reads and checks the TOC JSON of an eStargz blob. */
export async function readEstargzToc(
  blob: ByteSource,
  footer: EstargzFooter,
  options: EstargzOptions = {},
): Promise<{ json: Uint8Array; digest: string }> {
  const end = blob.size - footer.footerSize;
  const compressed = await blob.read(footer.tocOffset, end - footer.tocOffset, options);
  let tar: Uint8Array;
  try {
    tar = await gunzipAsync(compressed, { maxOutputLength: MAX_TOC_SIZE });
  } catch (err) {
    throw new CorruptTocError(`TOC member at ${footer.tocOffset} does not decompress: ${(err as Error).message}`, {
      cause: err,
    });
  }
  const index = await scanTar(new MemorySource(tar));
  const e = index.entries.find((x) => x.path === TOC_NAME && x.type === 'file');
  if (!e) throw new CorruptTocError(`no ${TOC_NAME} at offset ${footer.tocOffset}`);
  const json = tar.subarray(e.dataOffset, e.dataOffset + e.size);
  const digest = digestOf(json);
  const want = options.annotations?.[TOC_DIGEST_ANNOTATION];
  if (want !== undefined && want !== digest) throw new DigestMismatchError(want, digest, 'eStargz TOC');
  return { json, digest };
}

/** Parses TOC JSON (`{ version: 1, entries: [...] }`). */
export function parseTocJson(json: Uint8Array): unknown[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(json).toString('utf8'));
  } catch (err) {
    throw new CorruptTocError('TOC is not JSON', { cause: err });
  }
  const doc =
    typeof parsed === 'object' && parsed !== null ? (parsed as { version?: unknown; entries?: unknown }) : undefined;
  if (doc?.version !== 1 || !Array.isArray(doc.entries)) throw new CorruptTocError('TOC is not version 1 with entries');
  return doc.entries as unknown[];
}

/** Opens an eStargz layer from its footer and TOC. */
export async function openEstargzLayer(blob: ByteSource, options: EstargzOptions = {}): Promise<TocLayer> {
  const footer = options.footer ?? (await detectEstargz(blob, options));
  if (!footer) throw new CorruptTocError('not an eStargz layer (no footer)');
  const { json, digest } = await readEstargzToc(blob, footer, options);
  const toc = tocToIndex(parseTocJson(json), footer.tocOffset);
  const source = new TocSource(blob, toc.chunks, toc.index.tarSize, gzipChunkCodec, options);
  return { fs: new TarFileSystem(toc.index, source), source, toc, tocDigest: digest };
}
