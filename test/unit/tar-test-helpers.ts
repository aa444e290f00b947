// Helpers shared by the tar/gzip/estargz tests.
import { join } from 'node:path';
import type { ByteSource, ReadOptions } from '../../src/io/byte-source.js';

/** A byte source that counts what is read through it. */
export class CountingSource implements ByteSource {
  bytes = 0;
  reads = 0;
  constructor(private readonly inner: ByteSource) {}
  get size(): number {
    return this.inner.size;
  }
  read(offset: number, length: number, options?: ReadOptions): Promise<Uint8Array> {
    this.reads++;
    this.bytes += Math.min(length, this.size - offset);
    return this.inner.read(offset, length, options);
  }
}

/** Builds one ustar header block by hand (for hostile archives GNU tar would not write). */
export function header(
  name: string,
  opts: { size?: number; type?: string; link?: string; mode?: number } = {},
): Uint8Array {
  const b = Buffer.alloc(512);
  b.write(name, 0, 100, 'utf8');
  b.write((opts.mode ?? 0o644).toString(8).padStart(7, '0') + '\0', 100);
  b.write('0000000\0', 108);
  b.write('0000000\0', 116);
  b.write((opts.size ?? 0).toString(8).padStart(11, '0') + '\0', 124);
  b.write('14000000000\0', 136);
  b.write(opts.type ?? '0', 156);
  if (opts.link) b.write(opts.link, 157, 100, 'utf8');
  b.write('ustar\0' + '00', 257, 'latin1');
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (const x of b) sum += x;
  b.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
  return b;
}

/** Options of {@link buildEstargz}. */
export interface EstargzBuildOptions {
  /** Split file contents into chunks of this size (default 64 KiB). */
  chunkSize?: number;
  /** Replace the chunkDigest of the n-th chunk with a wrong one (to test verification). */
  corruptDigestOfChunk?: number;
  /**
   * Like stargz-snapshotter's `--estargz-min-chunk-size`: files smaller than this share gzip
   * members (with the tar headers between them) and are found by `innerOffset`.
   */
  minChunkSize?: number;
}

/**
 * Builds an eStargz blob from a tar by the spec (docs/estargz.md in stargz-snapshotter): every
 * file content chunk starts a new gzip member, a `.no.prefetch.landmark` file, the TOC as the last
 * tar member in its own gzip member, and the 51-byte footer. Returns the blob and the TOC digest.
 */
export async function buildEstargz(
  tar: Uint8Array,
  options: EstargzBuildOptions = {},
): Promise<{ blob: Buffer; tocDigest: string; toc: any }> {
  const { scanTar } = await import('../../src/tar/tar-scan.js');
  const { MemorySource } = await import('../../src/io/memory-source.js');
  const { gzipSync } = await import('node:zlib');
  const { createHash } = await import('node:crypto');
  const sha = (b: Uint8Array) => 'sha256:' + createHash('sha256').update(b).digest('hex');
  const chunkSize = options.chunkSize ?? 64 * 1024;
  const landmarkBody = Buffer.from([0xf]);
  const landmark = Buffer.concat([header('.no.prefetch.landmark', { size: 1 }), landmarkBody, Buffer.alloc(511)]);
  const tarAll = Buffer.concat([landmark, Buffer.from(tar)]);
  const index = await scanTar(new MemorySource(tarAll));
  const out: Buffer[] = [];
  let pos = 0;
  let current: Uint8Array[] = [];
  const flush = () => {
    if (current.length === 0) return;
    const gz = gzipSync(Buffer.concat(current));
    out.push(gz);
    pos += gz.length;
    current = [];
  };
  const entries: any[] = [];
  let chunkNo = 0;
  const typeName: Record<string, string> = {
    file: 'reg',
    dir: 'dir',
    symlink: 'symlink',
    hardlink: 'hardlink',
    chardev: 'char',
    blockdev: 'block',
    fifo: 'fifo',
  };
  for (const e of index.entries) {
    if (e.sparse) throw new Error('sparse files are not supported by this builder');
    current.push(tarAll.subarray(e.headerOffset, e.dataOffset));
    const base: any = {
      name: e.type === 'dir' ? (e.path === '' ? './' : `${e.path}/`) : e.path,
      type: typeName[e.type],
      modtime: new Date(e.mtimeSec * 1000).toISOString().replace('.000Z', 'Z'),
      mode: e.mode,
      uid: e.uid,
      gid: e.gid,
    };
    if (e.linkName !== undefined) base.linkName = e.linkName;
    if (e.devMajor !== undefined) Object.assign(base, { devMajor: e.devMajor, devMinor: e.devMinor });
    if (e.xattrs)
      base.xattrs = Object.fromEntries([...e.xattrs].map(([k, v]) => [k, Buffer.from(v).toString('base64')]));
    if (e.type === 'file' && e.size > 0) {
      const content = tarAll.subarray(e.dataOffset, e.dataOffset + e.size);
      base.size = e.size;
      base.digest = sha(content);
      const shared = options.minChunkSize !== undefined && e.size < options.minChunkSize && e.size <= chunkSize;
      for (let co = 0; co < e.size; co += chunkSize) {
        if (!shared) flush();
        const part = content.subarray(co, Math.min(e.size, co + chunkSize));
        const last = co + chunkSize >= e.size;
        const ent = co === 0 ? base : { name: e.path, type: 'chunk' };
        Object.assign(ent, { offset: pos, chunkOffset: co, chunkSize: last ? 0 : part.length, chunkDigest: sha(part) });
        if (shared) ent.innerOffset = current.reduce((n, c) => n + c.length, 0);
        if (chunkNo++ === options.corruptDigestOfChunk) ent.chunkDigest = sha(Buffer.from('wrong'));
        entries.push(ent);
        current.push(part);
        if (!shared || current.reduce((n, c) => n + c.length, 0) >= options.minChunkSize!) flush();
      }
      current.push(Buffer.alloc((512 - (e.size % 512)) % 512));
    } else {
      entries.push(base);
    }
  }
  flush();
  const tocOffset = pos;
  const toc = { version: 1, entries };
  const json = Buffer.from(JSON.stringify(toc, null, '\t'));
  const tocTar = Buffer.concat([
    header('stargz.index.json', { size: json.length }),
    json,
    Buffer.alloc((512 - (json.length % 512)) % 512),
    Buffer.alloc(1024),
  ]);
  out.push(gzipSync(tocTar));
  const footer = Buffer.alloc(51);
  Buffer.from([0x1f, 0x8b, 8, 4, 0, 0, 0, 0, 0, 0xff, 26, 0, 0x53, 0x47, 22, 0]).copy(footer, 0);
  footer.write(tocOffset.toString(16).padStart(16, '0') + 'STARGZ', 16, 'latin1');
  Buffer.from([1, 0, 0, 0xff, 0xff]).copy(footer, 38);
  out.push(footer);
  return { blob: Buffer.concat(out), tocDigest: sha(json), toc };
}

/** A FlatBuffers value for {@link buildFlatbuffer}. */
export type Fb =
  | { t: 'i64' | 'i32' | 'u32' | 'i8'; v: number }
  | { t: 'str'; v: string | Uint8Array }
  | { t: 'bytes'; v: Uint8Array }
  | { t: 'table'; v: (Fb | undefined)[] }
  | { t: 'tables'; v: (Fb | undefined)[][] }
  | { t: 'strs'; v: string[] };

/**
 * Writes a FlatBuffers buffer with the given root table (fields in schema order). A plain
 * forward layout — vtable, table, then the objects it references — which any conforming
 * reader accepts. Used to build zTOCs, since the soci CLI is not packaged for Debian.
 */
export function buildFlatbuffer(root: (Fb | undefined)[]): Uint8Array {
  let buf = Buffer.alloc(1 << 16);
  let end = 0;
  const alloc = (n: number, align = 4) => {
    end = Math.ceil(end / align) * align;
    while (end + n > buf.length) buf = Buffer.concat([buf, Buffer.alloc(buf.length)]);
    const p = end;
    end += n;
    return p;
  };
  const patch = (slot: number, target: number) => buf.writeUInt32LE(target - slot, slot);
  const writeBytes = (b: Uint8Array, nul: boolean) => {
    const p = alloc(4 + b.length + (nul ? 1 : 0));
    buf.writeUInt32LE(b.length, p);
    buf.set(b, p + 4);
    return p;
  };
  const writeValue = (f: Fb): number => {
    switch (f.t) {
      case 'str':
        return writeBytes(typeof f.v === 'string' ? Buffer.from(f.v) : f.v, true);
      case 'bytes':
        return writeBytes(f.v, false);
      case 'table':
        return writeTable(f.v);
      case 'strs':
      case 'tables': {
        const n = f.v.length;
        const p = alloc(4 + 4 * n);
        buf.writeUInt32LE(n, p);
        for (let k = 0; k < n; k++) {
          const target = f.t === 'strs' ? writeBytes(Buffer.from(f.v[k]), true) : writeTable(f.v[k]);
          patch(p + 4 + 4 * k, target);
        }
        return p;
      }
      default:
        throw new Error('scalar is not an object');
    }
  };
  const writeTable = (fields: (Fb | undefined)[]): number => {
    const vt = alloc(4 + 2 * fields.length, 2);
    const sizes = fields.map((f) => (f === undefined ? 0 : f.t === 'i64' ? 8 : f.t === 'i8' ? 1 : 4));
    let tableSize = 4;
    const offs = sizes.map((s) => {
      if (!s) return 0;
      tableSize = Math.ceil(tableSize / s) * s;
      const o = tableSize;
      tableSize += s;
      return o;
    });
    const t = alloc(tableSize, 8);
    buf.writeUInt16LE(4 + 2 * fields.length, vt);
    buf.writeUInt16LE(tableSize, vt + 2);
    offs.forEach((o, i) => buf.writeUInt16LE(o, vt + 4 + 2 * i));
    buf.writeInt32LE(t - vt, t);
    const refs: [number, Fb][] = [];
    fields.forEach((f, i) => {
      if (!f) return;
      const p = t + offs[i];
      if (f.t === 'i64') buf.writeBigInt64LE(BigInt(f.v), p);
      else if (f.t === 'i32') buf.writeInt32LE(f.v, p);
      else if (f.t === 'u32') buf.writeUInt32LE(f.v, p);
      else if (f.t === 'i8') buf.writeInt8(f.v, p);
      else refs.push([p, f]);
    });
    for (const [slot, f] of refs) patch(slot, writeValue(f));
    return t;
  };
  alloc(4);
  const r = writeTable(root);
  buf.writeUInt32LE(r, 0);
  return new Uint8Array(buf.subarray(0, end));
}

/** Options of {@link buildZtoc}. */
export interface ZtocBuildOptions {
  /** Shift every file's claimed data offset (a lying zTOC). */
  shiftOffsets?: number;
  /** Claim this compressed size instead of the real one. */
  compressedSize?: number;
  /** Break the span digest of this span. */
  badSpanDigest?: number;
  /** Write a version-1 zinfo (without checkpoint 0). */
  zinfoV1?: boolean;
}

/**
 * Builds a zTOC by `ztoc.fbs` (soci-snapshotter) for a gzip blob from our own checkpoint index:
 * zinfo in `gzip_zinfo.c`'s packed layout, file metadata as soci's TOC builder records it.
 */
export async function buildZtoc(blob: Uint8Array, options: ZtocBuildOptions = {}): Promise<Uint8Array> {
  const { buildGzipIndex } = await import('../../src/tar/gzip-indexer.js');
  const { MemorySource } = await import('../../src/io/memory-source.js');
  const { createHash } = await import('node:crypto');
  const index = await buildGzipIndex(new MemorySource(blob), { span: 256 * 1024 });
  const { checkpointWindow } = await import('../../src/tar/gzip-index.js');
  const cps = options.zinfoV1 ? index.checkpoints.slice(1) : index.checkpoints;
  const zinfo = Buffer.alloc(12 + cps.length * (17 + 32768));
  zinfo.writeInt32LE(index.checkpoints.length, 0);
  zinfo.writeBigInt64LE(BigInt(256 * 1024), 4);
  cps.forEach((c, k) => {
    const p = 12 + k * (17 + 32768);
    const inBytes = Math.ceil(c.bit / 8);
    zinfo.writeBigInt64LE(BigInt(inBytes), p);
    zinfo.writeBigInt64LE(BigInt(c.out), p + 8);
    zinfo[p + 16] = inBytes * 8 - c.bit;
    const window = checkpointWindow(c);
    zinfo.set(window, p + 17 + 32768 - window.length);
  });
  const spanDigests = index.checkpoints.map((c, k) => {
    const end = k + 1 < index.checkpoints.length ? Math.ceil(index.checkpoints[k + 1].bit / 8) : blob.length;
    const d =
      'sha256:' +
      createHash('sha256')
        .update(blob.subarray(Math.floor(c.bit / 8), end))
        .digest('hex');
    return k === options.badSpanDigest ? 'sha256:' + 'f'.repeat(64) : d;
  });
  const typeName: Record<string, string> = {
    file: 'reg',
    dir: 'dir',
    symlink: 'symlink',
    hardlink: 'hardlink',
    chardev: 'char',
    blockdev: 'block',
    fifo: 'fifo',
  };
  const meta = index.tar.entries.map((e) => {
    const xattrs = [...(e.xattrs ?? [])].map(
      ([k, v]) =>
        [
          { t: 'str', v: `SCHILY.xattr.${k}` },
          { t: 'str', v },
        ] as (Fb | undefined)[],
    );
    const frac = e.mtimeNsec ? '.' + String(e.mtimeNsec).padStart(9, '0').replace(/0+$/, '') : '';
    return [
      { t: 'str', v: e.path === '' ? './' : e.type === 'dir' ? `${e.path}/` : e.path },
      { t: 'str', v: typeName[e.type] },
      { t: 'i64', v: e.dataOffset + (e.type === 'file' ? (options.shiftOffsets ?? 0) : 0) },
      { t: 'i64', v: e.size },
      e.linkName === undefined ? undefined : { t: 'str', v: e.linkName },
      { t: 'i64', v: e.mode },
      { t: 'u32', v: e.uid },
      { t: 'u32', v: e.gid },
      { t: 'str', v: '' },
      { t: 'str', v: '' },
      { t: 'str', v: new Date(e.mtimeSec * 1000).toISOString().replace('.000Z', `${frac}Z`) },
      { t: 'i64', v: e.devMajor ?? 0 },
      { t: 'i64', v: e.devMinor ?? 0 },
      xattrs.length ? { t: 'tables', v: xattrs } : undefined,
    ] as (Fb | undefined)[];
  });
  return buildFlatbuffer([
    { t: 'str', v: '0.9' },
    { t: 'str', v: 'ocifs test builder' },
    { t: 'i64', v: options.compressedSize ?? blob.length },
    { t: 'i64', v: index.tarSize },
    { t: 'table', v: [{ t: 'tables', v: meta }] },
    {
      t: 'table',
      v: [
        { t: 'i8', v: 1 },
        { t: 'i32', v: index.checkpoints.length - 1 },
        { t: 'strs', v: spanDigests },
        { t: 'bytes', v: zinfo },
      ],
    },
  ]);
}

/**
 * Builds a zstd:chunked blob from a tar as containers/storage lays it out: tar headers and
 * each file chunk in their own zstd frames (compressed by the zstd CLI in one call, one frame
 * per input file), the manifest zstd-compressed in a skippable frame, and the 64-byte footer.
 * Runs of 64 KiB of zeros become `chunkType: zeros` chunks with no bytes in the blob.
 */
/** Options of {@link buildZstdChunked}. */
export interface ZstdChunkedBuildOptions {
  chunkSize?: number;
  /**
   * The footer form: 64 bytes (containers/storage ≥ 1.50, default), 56 (1.48–1.49: magic
   * `GnUlInUx` after the manifest type, 16 zero bytes) or 40 (≤ 1.47 and stargz-snapshotter).
   */
  footer?: 64 | 56 | 40;
  /** Files stored as one chunk get no `chunkDigest`, only their `digest`, as containers/storage writes them. */
  fileDigestOnly?: boolean;
  /** Writes a wrong `digest` for this path (with `fileDigestOnly`, the only digest it has). */
  wrongDigestFor?: string;
}

export async function buildZstdChunked(
  tar: Uint8Array,
  work: string,
  options: ZstdChunkedBuildOptions = {},
): Promise<{ blob: Buffer; manifestChecksum: string; position: string }> {
  const { scanTar } = await import('../../src/tar/tar-scan.js');
  const { MemorySource } = await import('../../src/io/memory-source.js');
  const { scanZstdFrames } = await import('../../src/codec/zstd/frame.js');
  const { createHash } = await import('node:crypto');
  const { mkdir, writeFile } = await import('node:fs/promises');
  const { runOk } = await import('../helpers/run.js');
  const sha = (b: Uint8Array) => 'sha256:' + createHash('sha256').update(b).digest('hex');
  const chunkSize = options.chunkSize ?? 64 * 1024;
  const index = await scanTar(new MemorySource(tar));
  const segs: Uint8Array[] = [];
  const owners: any[] = []; // TOC entry whose offset/endOffset the segment sets
  let current: Uint8Array[] = [];
  const flush = () => {
    const b = Buffer.concat(current);
    current = [];
    if (b.length) {
      segs.push(b);
      owners.push(undefined);
    }
  };
  const entries: any[] = [];
  const typeName: Record<string, string> = {
    file: 'reg',
    dir: 'dir',
    symlink: 'symlink',
    hardlink: 'hardlink',
    chardev: 'char',
    blockdev: 'block',
    fifo: 'fifo',
  };
  for (const e of index.entries) {
    current.push(tar.subarray(e.headerOffset, e.dataOffset));
    const base: any = {
      type: typeName[e.type],
      name: e.path === '' ? './' : e.path,
      mode: e.mode,
      uid: e.uid,
      gid: e.gid,
      modtime: new Date(e.mtimeSec * 1000).toISOString(),
    };
    if (e.linkName !== undefined) base.linkName = e.linkName;
    if (e.devMajor !== undefined) Object.assign(base, { devMajor: e.devMajor, devMinor: e.devMinor });
    if (e.xattrs)
      base.xattrs = Object.fromEntries([...e.xattrs].map(([k, v]) => [k, Buffer.from(v).toString('base64')]));
    if (e.type === 'file' && e.size > 0) {
      const content = tar.subarray(e.dataOffset, e.dataOffset + e.size);
      Object.assign(base, { size: e.size, digest: sha(content) });
      flush();
      for (let co = 0; co < e.size; co += chunkSize) {
        const part = content.subarray(co, Math.min(e.size, co + chunkSize));
        const ent = co === 0 ? base : { type: 'chunk', name: e.path };
        Object.assign(ent, { chunkOffset: co, chunkSize: part.length, chunkDigest: sha(part) });
        entries.push(ent);
        if (part.length === chunkSize && part.every((x) => x === 0)) {
          // Stored nowhere: the tar stream still needs the zeros, in a frame of their own.
          ent.chunkType = 'zeros';
          segs.push(part);
          owners.push(undefined);
          continue;
        }
        segs.push(part);
        owners.push(ent);
      }
      if (options.fileDigestOnly && e.size <= chunkSize) {
        delete base.chunkSize;
        delete base.chunkDigest;
      }
      if (options.wrongDigestFor === e.path) base.digest = sha(new Uint8Array(1));
      current.push(new Uint8Array((512 - (e.size % 512)) % 512));
    } else entries.push(base);
  }
  current.push(new Uint8Array(1024));
  flush();
  const dir = join(work, `zchunked-${process.pid}-${Date.now()}`);
  await mkdir(dir, { recursive: true });
  const names: string[] = [];
  for (let i = 0; i < segs.length; i++) {
    const n = join(dir, `s${String(i).padStart(6, '0')}`);
    await writeFile(n, segs[i]);
    names.push(n);
  }
  const data = (await runOk('zstd', ['-c', '-q', '-3', '--no-check', ...names])).stdout;
  const frames = scanZstdFrames(data).filter((f) => f.type === 'frame');
  if (frames.length !== segs.length) throw new Error(`expected ${segs.length} frames, got ${frames.length}`);
  frames.forEach((f, i) => {
    if (owners[i]) Object.assign(owners[i], { offset: f.offset, endOffset: f.offset + f.compressedSize });
  });
  const json = Buffer.from(JSON.stringify({ version: 1, entries }));
  await writeFile(join(dir, 'manifest'), json);
  const manifest = (await runOk('zstd', ['-c', '-q', '-19', join(dir, 'manifest')])).stdout;
  const skippable = (b: Uint8Array) => {
    const h = Buffer.alloc(8);
    h.writeUInt32LE(0x184d2a50, 0);
    h.writeUInt32LE(b.length, 4);
    return Buffer.concat([h, b]);
  };
  const offset = data.length + 8;
  const size = options.footer ?? 64;
  const footer = Buffer.alloc(size);
  footer.writeBigUInt64LE(BigInt(offset), 0);
  footer.writeBigUInt64LE(BigInt(manifest.length), 8);
  footer.writeBigUInt64LE(BigInt(json.length), 16);
  footer.writeBigUInt64LE(1n, 24);
  if (size === 64) footer.write('GNUlInUx', 56, 'latin1');
  else footer.write('GnUlInUx', 32, 'latin1');
  const blob = Buffer.concat([data, skippable(manifest), skippable(footer)]);
  return { blob, manifestChecksum: sha(manifest), position: `${offset}:${manifest.length}:${json.length}:1` };
}
