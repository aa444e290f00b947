/**
 * The EROFS reader: a {@link FileSystem} over any {@link ByteSource} holding an EROFS image.
 *
 * Only the bytes an operation needs are read: opening reads the superblock block; a lookup
 * reads the directory blocks its binary search visits and the inode; reading a file reads its
 * blocks (its physical clusters when compressed). Metadata goes through a bounded page cache,
 * decoded clusters through a bounded LRU, parsed inodes through a bounded inode cache.
 *
 * @packageDocumentation
 */
import { InvalidOptionError, NotARegularFileError, throwIfAborted } from '../errors.js';
import type { ByteSource, ReadOptions } from '../io/byte-source.js';
import { IsADirectoryError, NotADirectoryError, NotASymlinkError } from '../vfs/errors.js';
import type { DirEntry, FileSystem, FileType, FsStats, Inode } from '../vfs/types.js';
import { nidToIno, readMeta, type ErofsContext } from './context.js';
import { lookupDirEntry, readDirEntries } from './dir.js';
import { CorruptErofsError } from './errors.js';
import { ErofsFileData } from './file-data.js';
import {
  EROFS_FEATURE_COMPAT_PLAIN_XATTR_PFX,
  EROFS_FEATURE_INCOMPAT_METABOX,
  EROFS_FT_BLKDEV,
  EROFS_FT_CHRDEV,
  EROFS_FT_DIR,
  EROFS_FT_FIFO,
  EROFS_FT_REG_FILE,
  EROFS_FT_SOCK,
  EROFS_FT_SYMLINK,
  EROFS_NAME_LEN,
} from './format.js';
import { inodeDetails, readInode, type ErofsInode, type ErofsInodeDetails } from './inode.js';
import { byteLru, LRUCache } from '../io/lru.js';
import { PageCache } from './page-cache.js';
import { erofsInfo, type ErofsInfo } from './summary.js';
import { readSuperblock, type ErofsSuperblock } from './superblock.js';
import { readLongPrefixes, readXattrs, type LongPrefixes } from './xattr.js';

/**
 * Default {@link ErofsOptions.metaCacheBytes}: 32 MiB of metadata pages (a whole-tree walk of a 500
 * MiB image re-reads far less than with 8).
 */
export const DEFAULT_EROFS_META_CACHE_BYTES = 32 * 1024 * 1024;
/** Default {@link ErofsOptions.clusterCacheBytes}: 32 MiB of decoded clusters. */
export const DEFAULT_EROFS_CLUSTER_CACHE_BYTES = 32 * 1024 * 1024;
/** Default {@link ErofsOptions.inodeCacheSize}: parsed inodes kept. */
export const DEFAULT_EROFS_INODE_CACHE_SIZE = 16384;
/** Default {@link ErofsOptions.maxSymlinkSize}: PATH_MAX - 1, the longest target Linux can store. */
export const DEFAULT_EROFS_MAX_SYMLINK_SIZE = 4095;

/** Options of {@link openErofs}. */
export interface ErofsOptions extends ReadOptions {
  /** Bytes of metadata pages (inodes, directories, indexes) kept in memory. */
  metaCacheBytes?: number;
  /** Bytes of decoded physical clusters kept, so sequential reads decode each cluster once. */
  clusterCacheBytes?: number;
  /** Number of parsed inodes kept. */
  inodeCacheSize?: number;
  /** Check the superblock crc32c when the image has one (default true). */
  verifyChecksum?: boolean;
  /** Extra devices (blobs) of a multi-device image, in device-table order (device id 1 first). */
  devices?: ByteSource[];
  /** Longest symlink target accepted; longer ones are reported as corrupt. */
  maxSymlinkSize?: number;
}

const FT_TYPES: Record<number, FileType> = {
  [EROFS_FT_REG_FILE]: 'file',
  [EROFS_FT_DIR]: 'dir',
  [EROFS_FT_CHRDEV]: 'chardev',
  [EROFS_FT_BLKDEV]: 'blockdev',
  [EROFS_FT_FIFO]: 'fifo',
  [EROFS_FT_SOCK]: 'socket',
  [EROFS_FT_SYMLINK]: 'symlink',
};

const utf8Encoder = new TextEncoder();

function positiveInt(name: string, v: number | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  if (!Number.isSafeInteger(v) || v < 0) throw new InvalidOptionError(name, `must be a non-negative integer, got ${v}`);
  return v;
}

/** True when `source` holds an EROFS image (superblock magic 0xE0F5E1E2 at offset 1024). */
export { isErofs } from './superblock.js';

/**
 * Opens the EROFS image in `source`: reads and checks the superblock (and its checksum), the
 * root inode and, when present, the metabox inode.
 */
export async function openErofs(source: ByteSource, options: ErofsOptions = {}): Promise<ErofsFileSystem> {
  const metaCacheBytes = positiveInt('metaCacheBytes', options.metaCacheBytes, DEFAULT_EROFS_META_CACHE_BYTES);
  const clusterCacheBytes = positiveInt(
    'clusterCacheBytes',
    options.clusterCacheBytes,
    DEFAULT_EROFS_CLUSTER_CACHE_BYTES,
  );
  const inodeCacheSize = positiveInt('inodeCacheSize', options.inodeCacheSize, DEFAULT_EROFS_INODE_CACHE_SIZE);
  const maxSymlinkSize = positiveInt('maxSymlinkSize', options.maxSymlinkSize, DEFAULT_EROFS_MAX_SYMLINK_SIZE);
  const { sb, head } = await readSuperblock(source, { signal: options.signal, verifyChecksum: options.verifyChecksum });
  if (options.devices && options.devices.length > sb.extraDevices) {
    throw new InvalidOptionError(
      'devices',
      `the image has ${sb.extraDevices} extra devices, ${options.devices.length} were given`,
    );
  }
  const fs = new ErofsFileSystem(source, sb, head, {
    metaCacheBytes,
    clusterCacheBytes,
    inodeCacheSize,
    maxSymlinkSize,
    devices: options.devices ?? [],
  });
  await fs.init(options);
  return fs;
}

/** An open EROFS image. Create with {@link openErofs}. */
export class ErofsFileSystem implements FileSystem {
  /** Inode number of the root directory (its nid). */
  readonly rootIno: number;
  /** The parsed superblock. */
  readonly superblock: ErofsSuperblock;
  private readonly ctx: ErofsContext;
  private readonly inodes: LRUCache<number, Promise<ErofsInode>>;
  private readonly dirData: LRUCache<number, ErofsFileData>;
  private packedData?: Promise<ErofsFileData>;
  private prefixes?: Promise<LongPrefixes>;
  private readonly metaCacheBytes: number;

  /** @internal use {@link openErofs} */
  constructor(
    source: ByteSource,
    sb: ErofsSuperblock,
    head: Uint8Array,
    o: {
      metaCacheBytes: number;
      clusterCacheBytes: number;
      inodeCacheSize: number;
      maxSymlinkSize: number;
      devices: ByteSource[];
    },
  ) {
    this.superblock = sb;
    const pageSize = Math.min(sb.blockSize, 4096);
    const meta = new PageCache(source, pageSize, o.metaCacheBytes, 'image', sb.blockSize);
    meta.seed(0, head);
    this.ctx = {
      sb,
      source,
      devices: o.devices,
      meta,
      clusters: byteLru(o.clusterCacheBytes),
      limits: { maxSymlinkSize: o.maxSymlinkSize },
      packed: (forNid, options) => this.packed(forNid, options),
      wholeSpans: new Map(),
    };
    this.inodes = new LRUCache({ max: o.inodeCacheSize });
    this.dirData = new LRUCache({ max: 256 });
    this.rootIno = nidToIno(this.ctx, sb.rootNid, { nid: sb.rootNid });
    this.metaCacheBytes = o.metaCacheBytes;
  }

  /** @internal Opens the metabox (if any) and checks the root. */
  async init(options: ReadOptions): Promise<void> {
    const sb = this.superblock;
    if (sb.featureIncompat & EROFS_FEATURE_INCOMPAT_METABOX) {
      const ino = nidToIno(this.ctx, sb.metaboxNid, { nid: sb.metaboxNid });
      const inode = await this.inode(ino, options);
      if (inode.type !== 'file')
        throw new CorruptErofsError('the metabox inode is not a regular file', { nid: sb.metaboxNid });
      const data = new ErofsFileData(this.ctx, inode);
      this.ctx.mbox = new PageCache(data, Math.min(sb.blockSize, 4096), this.metaCacheBytes, 'metabox', sb.blockSize);
    }
    const root = await this.inode(this.rootIno, options);
    if (root.type !== 'dir')
      throw new CorruptErofsError(`the root inode is a ${root.type}, not a directory`, { nid: sb.rootNid });
  }

  private inode(ino: number, options?: ReadOptions): Promise<ErofsInode> {
    if (!Number.isSafeInteger(ino) || ino < 0)
      return Promise.reject(new CorruptErofsError(`inode number ${ino} is invalid`));
    const hit = this.inodes.get(ino);
    if (hit !== undefined) return hit;
    const p = readInode(this.ctx, ino, options);
    this.inodes.set(ino, p);
    p.catch(() => this.inodes.delete(ino));
    return p;
  }

  private async packed(forNid: bigint, options?: ReadOptions): Promise<ByteSource> {
    const sb = this.superblock;
    if (forNid === sb.packedNid)
      throw new CorruptErofsError('the packed inode refers to a fragment of itself', { nid: forNid });
    if (sb.packedNid === 0n)
      throw new CorruptErofsError('a fragment is used but the image has no packed inode', { nid: forNid });
    if (this.packedData === undefined) {
      this.packedData = (async () => {
        const inode = await this.inode(nidToIno(this.ctx, sb.packedNid, { nid: sb.packedNid }), options);
        if (inode.type !== 'file')
          throw new CorruptErofsError('the packed inode is not a regular file', { nid: sb.packedNid });
        return new ErofsFileData(this.ctx, inode);
      })();
      this.packedData.catch(() => (this.packedData = undefined));
    }
    return this.packedData;
  }

  /** The long xattr prefix table, read on first use. */
  private longPrefixes(options?: ReadOptions): Promise<LongPrefixes> {
    if (this.prefixes === undefined) {
      const sb = this.superblock;
      this.prefixes = (async () => {
        if (sb.xattrPrefixCount === 0) return [];
        const start = sb.xattrPrefixStart * 4;
        const plain = (sb.featureCompat & EROFS_FEATURE_COMPAT_PLAIN_XATTR_PFX) !== 0;
        const nid = plain ? 0n : sb.metaboxNid || sb.packedNid;
        if (nid === 0n)
          return readLongPrefixes(
            sb.xattrPrefixCount,
            start,
            (off, len, o) => readMeta(this.ctx, false, off, len, o),
            options,
          );
        const inode = await this.inode(nidToIno(this.ctx, nid, { nid }), options);
        const data = new ErofsFileData(this.ctx, inode);
        return readLongPrefixes(
          sb.xattrPrefixCount,
          start,
          (off, len, o) => {
            if (off + len > data.size)
              throw new CorruptErofsError(`long xattr prefix at ${off} lies outside inode ${nid}`, { nid });
            return data.read(off, len, o);
          },
          options,
        );
      })();
      this.prefixes.catch(() => (this.prefixes = undefined));
    }
    return this.prefixes;
  }

  private async dirOf(ino: number, options?: ReadOptions): Promise<ErofsFileData> {
    const inode = await this.inode(ino, options);
    if (inode.type !== 'dir') throw new NotADirectoryError(`inode ${ino}`, { data: { nid: inode.nid.toString() } });
    let d = this.dirData.get(ino);
    if (d === undefined || d.inode !== inode) {
      d = new ErofsFileData(this.ctx, inode, { metaCached: true });
      this.dirData.set(ino, d);
    }
    return d;
  }

  /** Plain vfs attributes (a copy; the cache keeps its own). */
  private static attrs(i: ErofsInode): Inode {
    return {
      ino: i.ino,
      type: i.type,
      mode: i.mode,
      uid: i.uid,
      gid: i.gid,
      size: i.size,
      mtimeSec: i.mtimeSec,
      mtimeNsec: i.mtimeNsec,
      nlink: i.nlink,
      rdev: i.rdev,
    };
  }

  async getattr(ino: number, options?: ReadOptions): Promise<Inode> {
    throwIfAborted(options?.signal);
    return ErofsFileSystem.attrs(await this.inode(ino, options));
  }

  /** The vfs attributes plus EROFS details (nid, layout, inode version, xattr size, blocks) for `ocifs stat`. */
  async stat(ino: number, options?: ReadOptions): Promise<Inode & { erofs: ErofsInodeDetails }> {
    const inode = await this.inode(ino, options);
    return { ...ErofsFileSystem.attrs(inode), erofs: inodeDetails(this.ctx, inode) };
  }

  /** EROFS details of an inode for `ocifs stat` (see {@link ErofsInodeDetails}). */
  async inodeDetails(ino: number, options?: ReadOptions): Promise<Record<string, unknown>> {
    return { ...(await this.stat(ino, options)).erofs };
  }

  async lookup(dirIno: number, name: string, options?: ReadOptions): Promise<Inode | undefined> {
    throwIfAborted(options?.signal);
    const dir = await this.dirOf(dirIno, options);
    // Like readdir, lookup knows no `.` and `..`: path resolution handles those above the format.
    if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0')) return undefined;
    const bytes = utf8Encoder.encode(name);
    if (bytes.length > EROFS_NAME_LEN) return undefined;
    const e = await lookupDirEntry(dir, this.superblock.blockSize, bytes, options);
    if (e === undefined) return undefined;
    return this.getattr(nidToIno(this.ctx, e.nid, { nid: dir.inode.nid }), options);
  }

  async *readdir(dirIno: number, options?: ReadOptions): AsyncIterable<DirEntry> {
    const dir = await this.dirOf(dirIno, options);
    for await (const e of readDirEntries(dir, this.superblock.blockSize, options)) {
      throwIfAborted(options?.signal);
      const ino = nidToIno(this.ctx, e.nid, { nid: dir.inode.nid });
      const type = FT_TYPES[e.fileType] ?? (await this.inode(ino, options)).type;
      yield { name: e.name, ino, type };
    }
  }

  async readlink(ino: number, options?: ReadOptions): Promise<string> {
    const inode = await this.inode(ino, options);
    if (inode.type !== 'symlink') throw new NotASymlinkError(`inode ${ino}`);
    if (inode.size > this.ctx.limits.maxSymlinkSize) {
      throw new CorruptErofsError(
        `symlink target of ${inode.size} bytes is longer than ${this.ctx.limits.maxSymlinkSize}`,
        { nid: inode.nid },
      );
    }
    const bytes = await new ErofsFileData(this.ctx, inode).read(0, inode.size, options);
    return new TextDecoder().decode(bytes);
  }

  async openFile(ino: number, options?: ReadOptions): Promise<ByteSource> {
    const inode = await this.inode(ino, options);
    if (inode.type === 'dir') throw new IsADirectoryError(`inode ${ino}`);
    if (inode.type !== 'file') throw new NotARegularFileError(`inode ${ino}`);
    return new ErofsFileData(this.ctx, inode);
  }

  async listxattr(ino: number, options?: ReadOptions): Promise<Map<string, Uint8Array>> {
    const inode = await this.inode(ino, options);
    return readXattrs(this.ctx, inode, () => this.longPrefixes(options), options);
  }

  statfs(): FsStats {
    const sb = this.superblock;
    return {
      blockSize: sb.blockSize,
      blocks: sb.totalBlocks,
      files: sb.inos > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(sb.inos),
      nameMax: EROFS_NAME_LEN,
    };
  }

  /** The superblock summary (`dump.erofs -s`) for `ocifs info`. */
  info(): ErofsInfo {
    return erofsInfo(this.superblock);
  }

  async close(): Promise<void> {
    this.inodes.clear();
    this.dirData.clear();
    this.ctx.clusters.clear();
  }
}
