// Helpers shared by the tar/gzip/estargz tests.
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
export function header(name: string, opts: { size?: number; type?: string; link?: string; mode?: number } = {}): Uint8Array {
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
}

/**
 * Builds an eStargz blob from a tar by the spec (docs/estargz.md in stargz-snapshotter): every
 * file content chunk starts a new gzip member, a `.no.prefetch.landmark` file, the TOC as the last
 * tar member in its own gzip member, and the 51-byte footer. Returns the blob and the TOC digest.
 */
export async function buildEstargz(tar: Uint8Array, options: EstargzBuildOptions = {}): Promise<{ blob: Buffer; tocDigest: string; toc: any }> {
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
  const typeName: Record<string, string> = { file: 'reg', dir: 'dir', symlink: 'symlink', hardlink: 'hardlink', chardev: 'char', blockdev: 'block', fifo: 'fifo' };
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
    if (e.xattrs) base.xattrs = Object.fromEntries([...e.xattrs].map(([k, v]) => [k, Buffer.from(v).toString('base64')]));
    if (e.type === 'file' && e.size > 0) {
      const content = tarAll.subarray(e.dataOffset, e.dataOffset + e.size);
      base.size = e.size;
      base.digest = sha(content);
      for (let co = 0; co < e.size; co += chunkSize) {
        flush();
        const part = content.subarray(co, Math.min(e.size, co + chunkSize));
        const last = co + chunkSize >= e.size;
        const ent = co === 0 ? base : { name: e.path, type: 'chunk' };
        Object.assign(ent, { offset: pos, chunkOffset: co, chunkSize: last ? 0 : part.length, chunkDigest: sha(part) });
        if (chunkNo++ === options.corruptDigestOfChunk) ent.chunkDigest = sha(Buffer.from('wrong'));
        entries.push(ent);
        current.push(part);
        flush();
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
  const tocTar = Buffer.concat([header('stargz.index.json', { size: json.length }), json, Buffer.alloc((512 - (json.length % 512)) % 512), Buffer.alloc(1024)]);
  out.push(gzipSync(tocTar));
  const footer = Buffer.alloc(51);
  Buffer.from([0x1f, 0x8b, 8, 4, 0, 0, 0, 0, 0, 0xff, 26, 0, 0x53, 0x47, 22, 0]).copy(footer, 0);
  footer.write(tocOffset.toString(16).padStart(16, '0') + 'STARGZ', 16, 'latin1');
  Buffer.from([1, 0, 0, 0xff, 0xff]).copy(footer, 38);
  out.push(footer);
  return { blob: Buffer.concat(out), tocDigest: sha(json), toc };
}
