/**
 * The file-tree mode over a raw FUSE connection (see `fuse-device.ts`): requests are addressed
 * by node id, which is the filesystem's inode number (the root is node 1, as FUSE requires;
 * every other inode `ino` is node `ino + 2`), so no path is ever built or resolved. The kernel
 * is told that everything may be cached for the cache timeout: entries, attributes, negative
 * lookups, file pages (FOPEN_KEEP_CACHE), directory listings (FOPEN_CACHE_DIR) and symlinks.
 *
 * @packageDocumentation
 */
import { debuglog } from '../../io/debug-log.js';
import type { FileSystem, Inode } from '../../vfs/types.js';
import { TYPE_BITS } from '../../vfs/types.js';
import { Deadlines } from '../deadlines.js';
import { Errno, errnoOf, FuseErrno } from '../errno.js';
import type { FuseConnectionOptions, FuseHandle } from '../fuse-binding.js';
import { MountStats } from '../mount-stats.js';
import { LRUCache } from '../../io/lru.js';
import { TreeCaches, type TreeCacheOptions } from '../tree-caches.js';
import { runUnmount } from '../unmount-command.js';
import {
  attrOut,
  CREATE_IN_SIZE,
  direntSize,
  entryOut,
  FOPEN_CACHE_DIR,
  FOPEN_KEEP_CACHE,
  IN_HEADER_SIZE,
  InitFlag,
  Op,
  openOut,
  readInHeader,
  reply,
  statfsOut,
  writeDirent,
  xattrSizeOut,
  type AttrFields,
} from './fuse-abi.js';
import { openFuseDevice, type FuseDevice } from './fuse-device.js';

const debug = debuglog('ocifs:mount');

/** Pages per request this server asks for (256 × 4 KiB = 1 MiB reads). */
export const RAW_MAX_PAGES = 256;

/**
 * What a tree that is not one immutable image needs from the server (the podman layer store: a
 * namespace that grows as it is looked up, and `use` creates and `rmdir`s as signals).
 */
export interface RawTreeHooks {
  /**
   * True for inodes whose name, attributes or listing may change. Replies about them carry no
   * cache time, the server keeps neither their entries nor their listings, a failed lookup in
   * such a directory is not remembered, and (with this hook) directory opens are always
   * answered, so that the kernel caches only the listings of the other directories.
   */
  isVolatile?(ino: number): boolean;
  /**
   * An open with O_CREAT of a missing `name` in `dirIno`. Nothing can be created in a read-only
   * tree: the hook must reject with the {@link FuseErrno} to answer (resolving answers EROFS).
   */
  create?(dirIno: number, name: string, signal: AbortSignal): Promise<void>;
  /** An rmdir of `name` in `dirIno`: resolving answers success, a {@link FuseErrno} its errno. */
  rmdir?(dirIno: number, name: string, signal: AbortSignal): Promise<void>;
}

/** Options of {@link rawFuseMount} beyond the connection's: cache sizes, and hooks. */
export interface RawMountOptions extends TreeCacheOptions {
  hooks?: RawTreeHooks;
  /** Mount read-write so that creates and rmdirs reach the hooks (every other write is EROFS). */
  writable?: boolean;
}

/** Requests that would change the tree: answered EROFS unless a hook takes them. */
const WRITE_OPS = new Set<number>([
  Op.SYMLINK,
  Op.MKNOD,
  Op.MKDIR,
  Op.UNLINK,
  Op.RENAME,
  Op.LINK,
  Op.WRITE,
  Op.SETXATTR,
  Op.REMOVEXATTR,
  Op.FALLOCATE,
  Op.RENAME2,
]);

interface DirListing {
  names: Buffer[];
  inos: number[];
  modes: number[];
}

/** Read-only request handling over a {@link FileSystem}. */
class RawTreeServer {
  readonly stats: MountStats;
  /** Inodes by number (the entries), listings, symlinks, xattrs and file sources. */
  private readonly caches: TreeCaches<number, DirListing>;
  private readonly parents = new LRUCache<number, number>({ max: 65_536 });
  private readonly deadlines: Deadlines;
  private readonly hooks: RawTreeHooks;
  private readonly blockSize: number;
  private readonly nameMax: number;
  device: FuseDevice | undefined;
  /** The kernel accepts ENOSYS for OPEN/OPENDIR as "never ask again, keep caches" (7.23/7.29). */
  private noOpen = false;
  private noOpendir = false;

  constructor(
    private readonly fs: FileSystem,
    private readonly conn: FuseConnectionOptions,
    stats: MountStats | undefined,
    options: RawMountOptions,
  ) {
    this.caches = new TreeCaches(fs, options);
    this.hooks = options.hooks ?? {};
    this.stats = stats ?? new MountStats();
    this.deadlines = new Deadlines(conn.operationTimeoutMs);
    const s = fs.statfs();
    this.blockSize = s.blockSize;
    this.nameMax = s.nameMax;
  }

  private inoOf(nodeid: bigint): number {
    return nodeid === 1n ? this.fs.rootIno : Number(nodeid) - 2;
  }

  private nodeOf(ino: number): number {
    return ino === this.fs.rootIno ? 1 : ino + 2;
  }

  private volatile(ino: number): boolean {
    return this.hooks.isVolatile?.(ino) ?? false;
  }

  /** Seconds the kernel may keep what a reply says of `ino`. */
  private validFor(ino: number): number {
    return this.volatile(ino) ? 0 : this.conn.cacheTimeout;
  }

  private async inode(ino: number, signal: AbortSignal): Promise<Inode> {
    let i = this.caches.entries.get(ino);
    if (!i) {
      i = await this.fs.getattr(ino, { signal });
      if (!this.volatile(ino)) this.caches.entries.set(ino, i);
    }
    return i;
  }

  private nameAt(body: Buffer, offset: number): string {
    const end = body.indexOf(0, offset);
    return body.toString('utf8', offset, end < 0 ? body.length : end);
  }

  private attr(i: Inode): AttrFields {
    return {
      ino: i.ino,
      size: i.size,
      blocks: Math.ceil(i.size / 512),
      mtimeSec: i.mtimeSec,
      mtimeNsec: i.mtimeNsec,
      mode: i.mode,
      nlink: i.nlink,
      uid: i.uid,
      gid: i.gid,
      rdev: i.rdev,
      blksize: this.blockSize,
    };
  }

  /** Handles one request; the reply (if the opcode has one) is sent when it is ready. */
  handle(req: Buffer): void {
    const h = readInHeader(req);
    const body = req.subarray(IN_HEADER_SIZE, h.len);
    if (h.opcode === Op.FORGET || h.opcode === Op.BATCH_FORGET || h.opcode === Op.INTERRUPT) return;
    if (h.opcode === Op.INIT) return this.send(reply(h.unique, 0, this.init(body)));
    this.deadlines
      .run((signal) => this.dispatch(h.opcode, h.nodeid, body, signal))
      .then(
        (out) => this.send(reply(h.unique, 0, out)),
        (err: unknown) => {
          const errno = errnoOf(err);
          if (errno !== Errno.ENOENT && errno !== Errno.ENODATA)
            debug('op %d failed: %s', h.opcode, (err as Error)?.message ?? err);
          this.send(reply(h.unique, -errno));
        },
      );
  }

  private send(b: Buffer): void {
    this.device?.send(b);
  }

  private init(body: Buffer): Buffer {
    const kernelMinor = body.readUInt32LE(4);
    const kernelFlags = body.readUInt32LE(12);
    const want =
      InitFlag.ASYNC_READ |
      InitFlag.PARALLEL_DIROPS |
      InitFlag.MAX_PAGES |
      InitFlag.CACHE_SYMLINKS |
      InitFlag.NO_OPEN_SUPPORT |
      InitFlag.NO_OPENDIR_SUPPORT;
    this.noOpen = (kernelFlags & InitFlag.NO_OPEN_SUPPORT) !== 0;
    this.noOpendir = (kernelFlags & InitFlag.NO_OPENDIR_SUPPORT) !== 0;
    const out = Buffer.alloc(64);
    out.writeUInt32LE(7, 0);
    out.writeUInt32LE(Math.min(kernelMinor, 31), 4);
    out.writeUInt32LE(this.conn.maxReadahead, 8);
    out.writeUInt32LE((kernelFlags & want) >>> 0, 12);
    out.writeUInt16LE(64, 16); // max_background
    out.writeUInt16LE(48, 18); // congestion_threshold
    out.writeUInt32LE(128 * 1024, 20); // max_write (nothing is ever written)
    out.writeUInt32LE(1, 24); // time_gran: nanoseconds
    out.writeUInt16LE(RAW_MAX_PAGES, 28);
    return out;
  }

  private async dispatch(op: number, nodeid: bigint, body: Buffer, signal: AbortSignal): Promise<Buffer | undefined> {
    const ino = this.inoOf(nodeid);
    if (WRITE_OPS.has(op) || op === Op.SETATTR) throw new FuseErrno(Errno.EROFS);
    switch (op) {
      case Op.LOOKUP: {
        const name = body.toString('utf8', 0, Math.max(0, body.indexOf(0)));
        if (Buffer.byteLength(name) > this.nameMax) throw new FuseErrno(Errno.ENAMETOOLONG);
        const dir = await this.inode(ino, signal);
        if (dir.type !== 'dir') throw new FuseErrno(Errno.ENOTDIR);
        const found = await this.fs.lookup(ino, name, { signal });
        // Node 0 with a timeout: the kernel caches the negative entry.
        if (!found) return entryOut(0, this.validFor(ino), undefined);
        if (!this.volatile(found.ino)) this.caches.entries.set(found.ino, found);
        if (found.type === 'dir') this.parents.set(found.ino, ino);
        return entryOut(this.nodeOf(found.ino), this.validFor(found.ino), this.attr(found));
      }
      case Op.GETATTR:
        return attrOut(this.validFor(ino), this.attr(await this.inode(ino, signal)));
      case Op.READLINK: {
        const i = await this.inode(ino, signal);
        if (i.type !== 'symlink') throw new FuseErrno(Errno.EINVAL);
        return Buffer.from(await this.caches.readlink(ino, { signal }), 'utf8');
      }
      case Op.OPEN: {
        // The kernel refuses writes on the read-only mount before asking; with no-open support
        // every later open is answered by the kernel itself, page cache kept.
        if (this.noOpen) throw new FuseErrno(Errno.ENOSYS);
        const flags = body.readUInt32LE(0);
        if ((flags & 3) !== 0 || flags & 0o1000 /* O_TRUNC */) throw new FuseErrno(Errno.EROFS);
        const i = await this.inode(ino, signal);
        if (i.type === 'dir') throw new FuseErrno(Errno.EISDIR);
        return openOut(FOPEN_KEEP_CACHE);
      }
      case Op.READ:
        return this.read(ino, Number(body.readBigUInt64LE(8)), body.readUInt32LE(16), signal);
      case Op.OPENDIR: {
        // Without OPENDIR the kernel would cache every listing, the changing ones too.
        if (this.noOpendir && !this.hooks.isVolatile) throw new FuseErrno(Errno.ENOSYS);
        const i = await this.inode(ino, signal);
        if (i.type !== 'dir') throw new FuseErrno(Errno.ENOTDIR);
        return openOut(this.volatile(ino) ? 0 : FOPEN_KEEP_CACHE | FOPEN_CACHE_DIR);
      }
      case Op.READDIR:
        return this.readdir(ino, Number(body.readBigUInt64LE(8)), body.readUInt32LE(16), signal);
      case Op.RELEASE:
      case Op.RELEASEDIR:
      case Op.DESTROY:
        return undefined;
      case Op.FLUSH:
        // ENOSYS once, and the kernel stops sending a FLUSH on every close(2).
        throw new FuseErrno(Errno.ENOSYS);
      case Op.GETXATTR: {
        if (this.conn.noXattrs) throw new FuseErrno(Errno.ENOSYS);
        const size = body.readUInt32LE(0);
        const name = body.toString('utf8', 8, body.indexOf(0, 8));
        const value = (await this.caches.listxattr(ino, { signal })).get(name);
        if (value === undefined) throw new FuseErrno(Errno.ENODATA);
        if (size === 0) return xattrSizeOut(value.length);
        if (value.length > size) throw new FuseErrno(Errno.ERANGE);
        return Buffer.from(value);
      }
      case Op.LISTXATTR: {
        if (this.conn.noXattrs) throw new FuseErrno(Errno.ENOSYS);
        const size = body.readUInt32LE(0);
        const list = Buffer.from(
          [...(await this.caches.listxattr(ino, { signal })).keys()].map((n) => n + '\0').join(''),
          'utf8',
        );
        if (size === 0) return xattrSizeOut(list.length);
        if (list.length > size) throw new FuseErrno(Errno.ERANGE);
        return list;
      }
      case Op.STATFS: {
        const s = this.fs.statfs();
        return statfsOut({ blocks: s.blocks, files: s.files, bsize: s.blockSize, namelen: s.nameMax });
      }
      case Op.ACCESS: {
        await this.inode(ino, signal);
        if (body.readUInt32LE(0) & 2) throw new FuseErrno(Errno.EROFS);
        return undefined;
      }
      case Op.CREATE:
        if (!this.hooks.create) throw new FuseErrno(Errno.EROFS);
        await this.hooks.create(ino, this.nameAt(body, CREATE_IN_SIZE), signal);
        throw new FuseErrno(Errno.EROFS);
      case Op.RMDIR:
        if (!this.hooks.rmdir) throw new FuseErrno(Errno.EROFS);
        await this.hooks.rmdir(ino, this.nameAt(body, 0), signal);
        return undefined;
      default:
        throw new FuseErrno(Errno.ENOSYS);
    }
  }

  private async read(ino: number, offset: number, size: number, signal: AbortSignal): Promise<Buffer> {
    try {
      const source = await this.caches.openFile(ino, { signal });
      if (offset >= source.size) return Buffer.alloc(0);
      const n = Math.min(size, source.size - offset);
      const bytes = await source.read(offset, n, { signal });
      if (bytes.length !== n) throw new FuseErrno(Errno.EIO, `short read: ${bytes.length} of ${n} bytes`);
      this.stats.reads++;
      this.stats.bytesServed += n;
      return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
    } catch (err) {
      this.stats.errors++;
      throw err;
    }
  }

  private async listing(ino: number, signal: AbortSignal): Promise<DirListing> {
    let l = this.caches.dirs.get(ino);
    if (l) return l;
    const parent = this.parents.get(ino) ?? ino;
    l = { names: [Buffer.from('.'), Buffer.from('..')], inos: [ino, parent], modes: [TYPE_BITS.dir, TYPE_BITS.dir] };
    for await (const e of this.fs.readdir(ino, { signal })) {
      l.names.push(Buffer.from(e.name, 'utf8'));
      l.inos.push(e.ino);
      l.modes.push(TYPE_BITS[e.type]);
      if (e.type === 'dir') this.parents.set(e.ino, ino);
    }
    if (!this.volatile(ino)) this.caches.dirs.set(ino, l);
    return l;
  }

  private async readdir(ino: number, offset: number, size: number, signal: AbortSignal): Promise<Buffer> {
    const l = await this.listing(ino, signal);
    const out = Buffer.alloc(size);
    let pos = 0;
    for (let i = offset; i < l.names.length; i++) {
      if (pos + direntSize(l.names[i].length) > size) break;
      pos = writeDirent(out, pos, l.inos[i], i + 1, l.names[i], l.modes[i]);
    }
    return out.subarray(0, pos);
  }
}

/**
 * Mounts `fs` at `mountpoint` over a raw FUSE connection (root only); resolves once the kernel
 * has sent INIT. Refuses a bad cache size before mounting.
 */
export async function rawFuseMount(
  fs: FileSystem,
  mountpoint: string,
  conn: FuseConnectionOptions,
  stats?: MountStats,
  options: RawMountOptions = {},
): Promise<FuseHandle & { stats: MountStats }> {
  const server = new RawTreeServer(fs, conn, stats, options);
  let initSeen!: () => void;
  const init = new Promise<void>((resolve) => (initSeen = resolve));
  const device = await openFuseDevice({
    mountpoint,
    fsname: conn.fsname,
    allowOther: conn.allowOther,
    ...(conn.suid ? { suid: true } : {}),
    ...(conn.dev ? { dev: true } : {}),
    ...(options.writable ? { writable: true } : {}),
    onRequest: (req) => {
      if (req.readUInt32LE(4) === Op.INIT) initSeen();
      server.handle(req);
    },
  });
  server.device = device;
  // The kernel sends INIT right after the mount; a connection that ends first failed.
  const first = await Promise.race([init.then(() => 'init'), device.ended]);
  if (first !== 'init') {
    await runUnmount(mountpoint, { lazy: true, fuse: true }).catch(() => {});
    device.close();
    throw new FuseErrno(Errno.EIO, `the FUSE connection ended before INIT: ${first}`);
  }
  let closed = false;
  return {
    mountpoint,
    stats: server.stats,
    async unmount({ lazy = true } = {}) {
      if (closed) return;
      await runUnmount(mountpoint, { lazy, fuse: true });
      closed = true;
      device.close();
    },
  };
}
