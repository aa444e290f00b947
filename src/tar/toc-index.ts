/**
 * Turns a stargz-style TOC (eStargz `stargz.index.json`, zstd:chunked's manifest) into a
 * {@link TarIndex} over a *virtual* tar stream — each file's content laid out back to back —
 * plus the chunk table that maps that virtual stream to compressed ranges of the blob. So
 * {@link TarFileSystem} serves TOC layers unchanged (hardlinks, implicit directories, tar
 * replacement rules) while reads fetch and decompress only the chunks they touch.
 *
 * @packageDocumentation
 */
import { isDigest } from '../ref/digest.js';
import { CorruptTocError } from './errors.js';
import { normalizeTarPath } from './tar-path.js';
import type { TarEntry, TarEntryType } from './tar-entry.js';
import type { TarIndex } from './tar-index.js';

/** A TOC entry as eStargz and zstd:chunked write it (JSON; only the fields used here). */
export interface TocEntryJson {
  name?: unknown;
  type?: unknown;
  size?: unknown;
  modtime?: unknown;
  linkName?: unknown;
  mode?: unknown;
  uid?: unknown;
  gid?: unknown;
  devMajor?: unknown;
  devMinor?: unknown;
  xattrs?: unknown;
  digest?: unknown;
  offset?: unknown;
  endOffset?: unknown;
  chunkOffset?: unknown;
  chunkSize?: unknown;
  chunkDigest?: unknown;
  /**
   * eStargz (stargz-snapshotter ≥ 0.13 with a minimum chunk size): where the chunk starts in the
   * stream decoded from `offset` (several small files share one gzip member).
   */
  innerOffset?: unknown;
  /** zstd:chunked: `zeros` for a run of zero bytes stored nowhere in the blob. */
  chunkType?: unknown;
}

/** One chunk of file content: `length` bytes at `virtualOffset`, compressed at `[blobStart, blobEnd)`. */
export interface TocChunk {
  virtualOffset: number;
  length: number;
  blobStart: number;
  /** End of the compressed range holding the chunk (the next chunk's start, or the TOC's). */
  blobEnd: number;
  /** Where the chunk starts in the bytes decoded from `blobStart` (eStargz `innerOffset`; 0 if absent). */
  innerOffset?: number;
  /** `sha256:…` of the uncompressed chunk, when the TOC gives one. */
  digest?: string;
  /** The chunk is all zeros and has no bytes in the blob (zstd:chunked `chunkType: zeros`). */
  zeros?: boolean;
}

/** What {@link tocToIndex} returns. */
export interface TocIndex {
  index: TarIndex;
  /** Chunks sorted by virtual offset, covering every file's content without gaps. */
  chunks: TocChunk[];
}

/** Files eStargz adds to mark prefetch areas; stargz-snapshotter hides them, so do we. */
export const LANDMARK_FILES = new Set(['.prefetch.landmark', '.no.prefetch.landmark', 'stargz.index.json']);

const TYPES: Record<string, TarEntryType | 'chunk'> = {
  dir: 'dir',
  reg: 'file',
  symlink: 'symlink',
  hardlink: 'hardlink',
  char: 'chardev',
  block: 'blockdev',
  fifo: 'fifo',
  chunk: 'chunk',
};

const uint = (v: unknown, what: string, name: string, dflt?: number): number => {
  if (v === undefined && dflt !== undefined) return dflt;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0)
    throw new CorruptTocError(`entry ${JSON.stringify(name)}: bad ${what} ${JSON.stringify(v)}`);
  return v;
};

function mtimeOf(v: unknown, name: string): { sec: number; nsec: number } {
  if (v === undefined || v === '') return { sec: 0, nsec: 0 };
  if (typeof v !== 'string') throw new CorruptTocError(`entry ${JSON.stringify(name)}: bad modtime`);
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/.exec(v);
  const ms = Date.parse(m ? `${m[1]}${m[3]}` : v);
  if (!m || Number.isNaN(ms))
    throw new CorruptTocError(`entry ${JSON.stringify(name)}: bad modtime ${JSON.stringify(v)}`);
  return { sec: Math.floor(ms / 1000), nsec: Number((m[2] ?? '').slice(0, 9).padEnd(9, '0')) };
}

/**
 * Converts TOC entries to an index. `dataEnd` is where file data ends in the blob (the TOC's
 * offset), bounding the last chunk.
 */
export function tocToIndex(entries: unknown, dataEnd: number): TocIndex {
  if (!Array.isArray(entries)) throw new CorruptTocError('entries is not an array');
  const out: TarEntry[] = [];
  const chunks: TocChunk[] = [];
  let virtual = 0;
  /** The regular file whose chunks are being collected, and how much of it is covered. */
  let cur: { entry: TarEntry; covered: number } | undefined;
  const close = () => {
    if (cur && cur.covered !== cur.entry.size) {
      throw new CorruptTocError(
        `entry ${JSON.stringify(cur.entry.path)}: chunks cover ${cur.covered} of ${cur.entry.size} bytes`,
      );
    }
    cur = undefined;
  };
  for (const raw of entries as TocEntryJson[]) {
    if (typeof raw !== 'object' || raw === null) throw new CorruptTocError('entry is not an object');
    const name = typeof raw.name === 'string' ? raw.name : '';
    const type = TYPES[String(raw.type)];
    if (type === undefined)
      throw new CorruptTocError(`entry ${JSON.stringify(name)}: unknown type ${JSON.stringify(raw.type)}`);
    if (type !== 'chunk') close();
    const path = normalizeTarPath(name);
    if (path === undefined) throw new CorruptTocError(`entry ${JSON.stringify(name)}: unsafe name`);
    if (type === 'chunk' || type === 'file') {
      const size = type === 'file' ? uint(raw.size, 'size', name, 0) : 0;
      if (type === 'file') {
        if (path === '') throw new CorruptTocError('a regular file names the root');
        const e = baseEntry(raw, path, 'file', name);
        e.size = e.storedSize = size;
        e.dataOffset = virtual;
        virtual += size;
        if (!LANDMARK_FILES.has(path)) out.push(e);
        cur = { entry: e, covered: 0 };
        if (size === 0) continue;
      } else if (!cur || path !== cur.entry.path) {
        throw new CorruptTocError(`chunk ${JSON.stringify(name)} does not follow its file`);
      }
      const f = cur;
      const chunkOffset = uint(raw.chunkOffset, 'chunkOffset', name, 0);
      let chunkSize = uint(raw.chunkSize, 'chunkSize', name, 0);
      if (chunkOffset !== f.covered)
        throw new CorruptTocError(`entry ${JSON.stringify(name)}: chunk at ${chunkOffset}, expected ${f.covered}`);
      if (chunkSize === 0) chunkSize = f.entry.size - chunkOffset;
      if (chunkSize <= 0 || chunkOffset + chunkSize > f.entry.size)
        throw new CorruptTocError(`entry ${JSON.stringify(name)}: bad chunkSize`);
      const digest = chunkDigestOf(raw, type === 'file' && chunkOffset === 0 && chunkSize === f.entry.size, name);
      if (raw.chunkType === 'zeros') {
        chunks.push({
          virtualOffset: f.entry.dataOffset + chunkOffset,
          length: chunkSize,
          blobStart: 0,
          blobEnd: 0,
          digest,
          zeros: true,
        });
        f.covered += chunkSize;
        continue;
      }
      if (raw.chunkType !== undefined && raw.chunkType !== '')
        throw new CorruptTocError(`entry ${JSON.stringify(name)}: unknown chunkType ${JSON.stringify(raw.chunkType)}`);
      const blobStart = uint(raw.offset, 'offset', name);
      const end = raw.endOffset === undefined ? undefined : uint(raw.endOffset, 'endOffset', name);
      if (blobStart >= dataEnd || (end !== undefined && (end <= blobStart || end > dataEnd))) {
        throw new CorruptTocError(`entry ${JSON.stringify(name)}: offset outside the layer's data`);
      }
      const innerOffset = uint(raw.innerOffset, 'innerOffset', name, 0);
      chunks.push({
        virtualOffset: f.entry.dataOffset + chunkOffset,
        length: chunkSize,
        blobStart,
        blobEnd: end ?? -1,
        digest,
        ...(innerOffset ? { innerOffset } : {}),
      });
      f.covered += chunkSize;
      continue;
    }
    const e = baseEntry(raw, path, type, name);
    if (path === '' && type !== 'dir') throw new CorruptTocError('a non-directory names the root');
    out.push(e);
  }
  close();
  // Without endOffset (eStargz), a chunk's compressed data ends where the next one starts.
  const starts = [...new Set(chunks.filter((c) => !c.zeros).map((c) => c.blobStart))].sort((a, b) => a - b);
  for (const c of chunks) {
    if (c.zeros || c.blobEnd >= 0) continue;
    let lo = 0;
    let hi = starts.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (starts[mid] <= c.blobStart) lo = mid + 1;
      else hi = mid;
    }
    c.blobEnd = lo < starts.length ? starts[lo] : dataEnd;
  }
  return { index: { tarSize: virtual, entries: out }, chunks };
}

/**
 * The digest a chunk is checked against: its `chunkDigest`, else — for a file stored as one
 * chunk, as containers/storage writes files without split points (no `chunkDigest` then) —
 * the file's own `digest`.
 */
function chunkDigestOf(raw: TocEntryJson, wholeFile: boolean, name: string): string | undefined {
  const pick = (v: unknown, what: string): string | undefined => {
    if (v === undefined || v === '') return undefined;
    if (typeof v !== 'string' || !isDigest(v, 'sha256'))
      throw new CorruptTocError(`entry ${JSON.stringify(name)}: bad ${what}`);
    return v;
  };
  return pick(raw.chunkDigest, 'chunkDigest') ?? (wholeFile ? pick(raw.digest, 'digest') : undefined);
}

function baseEntry(raw: TocEntryJson, path: string, type: TarEntryType, name: string): TarEntry {
  const t = mtimeOf(raw.modtime, name);
  const e: TarEntry = {
    path,
    type,
    mode: uint(raw.mode, 'mode', name, 0) & 0o7777,
    uid: uint(raw.uid, 'uid', name, 0),
    gid: uint(raw.gid, 'gid', name, 0),
    mtimeSec: t.sec,
    mtimeNsec: t.nsec,
    size: 0,
    dataOffset: 0,
    storedSize: 0,
    headerOffset: 0,
  };
  if (type === 'symlink' || type === 'hardlink') {
    if (typeof raw.linkName !== 'string' || raw.linkName === '')
      throw new CorruptTocError(`entry ${JSON.stringify(name)}: missing linkName`);
    if (type === 'hardlink') {
      const target = normalizeTarPath(raw.linkName);
      if (!target) throw new CorruptTocError(`entry ${JSON.stringify(name)}: unsafe hardlink target`);
      e.linkName = target;
    } else e.linkName = raw.linkName;
  }
  if (type === 'chardev' || type === 'blockdev') {
    e.devMajor = uint(raw.devMajor, 'devMajor', name, 0);
    e.devMinor = uint(raw.devMinor, 'devMinor', name, 0);
  }
  if (raw.xattrs !== undefined && raw.xattrs !== null) {
    if (typeof raw.xattrs !== 'object') throw new CorruptTocError(`entry ${JSON.stringify(name)}: bad xattrs`);
    const xs = new Map<string, Uint8Array>();
    // Go encodes []byte values as base64 strings.
    for (const [k, v] of Object.entries(raw.xattrs as Record<string, unknown>)) {
      if (typeof v !== 'string') throw new CorruptTocError(`entry ${JSON.stringify(name)}: bad xattr ${k}`);
      xs.set(k, new Uint8Array(Buffer.from(v, 'base64')));
    }
    if (xs.size) e.xattrs = xs;
  }
  return e;
}
