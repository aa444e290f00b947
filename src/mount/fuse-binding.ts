/**
 * The libfuse backend, for users who are not root (`raw/` serves root without libfuse): the one
 * file that touches the FUSE binding (`fuse-native`, libfuse 2.9 through a prebuilt N-API
 * module, mounting through the setuid `fusermount`). Everything above it sees promise-based,
 * path-addressed operations and {@link FuseStat} objects; errors become errno here.
 *
 * What fuse-native does, checked in its source: libfuse's multi-threaded loop (`fuse_loop_mt`,
 * up to 10 worker threads) receives kernel requests; each worker hands its request to the Node
 * event loop (`uv_async_send`) and blocks until the JavaScript callback answers. So up to 10
 * requests are in flight at once and our handlers run concurrently as promises — a slow fetch
 * for one reader does not stall the others. The binding passes stat times in milliseconds and
 * inode numbers as 32 bits; both limits are noted on {@link FuseStat}.
 *
 * @packageDocumentation
 */
import { createRequire } from 'node:module';
import { access, constants as fsConstants, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { debuglog } from '../io/debug-log.js';
import { Errno, errnoOf, FuseErrno } from './errno.js';
import { FuseUnavailableError, MountFailedError } from './errors.js';
import { runUnmount } from './unmount-command.js';
import { allowOtherRefusal } from './fuse-conf.js';
import { Deadlines } from './deadlines.js';

const debug = debuglog('ocifs:mount');

/** Metadata of one entry as FUSE reports it. */
export interface FuseStat {
  /** Full `st_mode` (type and permission bits). */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  nlink: number;
  /** Inode number; the binding carries 32 bits (numbers above are reduced modulo 2^32). */
  ino: number;
  rdev: number;
  /** Modification time in milliseconds since the epoch (the binding's resolution). */
  mtimeMs: number;
  /** 512-byte blocks. */
  blocks: number;
  blksize: number;
}

/** Filesystem-wide numbers for statfs. */
export interface FuseStatfs {
  bsize: number;
  frsize: number;
  blocks: number;
  files: number;
  namemax: number;
}

/** One entry of a directory listing: its name and the inode number and type bits of its stat. */
export interface FuseDirEntry {
  name: string;
  ino: number;
  /** Type bits (`S_IFDIR` ...); permission bits are not needed by readdir. */
  mode: number;
}

/** Options every operation receives. */
export interface FuseOpOptions {
  /** Aborted when the operation exceeds its time limit; the request then fails with EIO. */
  signal: AbortSignal;
}

/**
 * Path-addressed, read-only operations. A rejection becomes an errno through `errnoOf`
 * (ENOENT for a missing name, EIO for anything unexpected).
 */
export interface FuseOperations {
  getattr(path: string, o: FuseOpOptions): Promise<FuseStat>;
  readdir(path: string, o: FuseOpOptions): Promise<FuseDirEntry[]>;
  readlink(path: string, o: FuseOpOptions): Promise<string>;
  /**
   * Fills `buf` with up to `length` bytes of the file at `path` from `position`; returns how
   * many (0 at the end). There is no open/release: libfuse answers those itself (write opens
   * never arrive on a read-only mount), which saves two round trips into JavaScript per file
   * opened — the largest cost of `tar` or `find | xargs cat` over many small files.
   */
  read(path: string, buf: Buffer, length: number, position: number, o: FuseOpOptions): Promise<number>;
  /** The value of one extended attribute, or `undefined` when the entry has none of that name. */
  getxattr(path: string, name: string, o: FuseOpOptions): Promise<Uint8Array | undefined>;
  listxattr(path: string, o: FuseOpOptions): Promise<string[]>;
  statfs(path: string, o: FuseOpOptions): Promise<FuseStatfs>;
  access(path: string, mode: number, o: FuseOpOptions): Promise<void>;
}

/** Mount options of the FUSE connection itself. */
export interface FuseConnectionOptions {
  /** `fsname` shown in /proc/mounts (commas and spaces are replaced). */
  fsname: string;
  /** Let other users than the one who mounted access the mount (`allow_other`). */
  allowOther: boolean;
  /** Seconds the kernel may cache names and attributes (the image is immutable). */
  cacheTimeout: number;
  /** Largest read request, bytes. */
  maxRead: number;
  /** Kernel readahead window, bytes. */
  maxReadahead: number;
  /** A request not answered after this many milliseconds fails with EIO. */
  operationTimeoutMs: number;
  /** libfuse's debug output on stderr. */
  debug: boolean;
  /** Honour setuid/setgid bits (mount without `nosuid`). Default false. */
  suid?: boolean;
  /** Honour device files (mount without `nodev`). Default false. */
  dev?: boolean;
  /** The tree has no extended attributes at all (see {@link MountOptions.noXattrs}). */
  noXattrs?: boolean;
}

/** A live FUSE connection. */
export interface FuseHandle {
  readonly mountpoint: string;
  /** Unmounts (lazily when `lazy` and the mount is busy) and releases the binding. */
  unmount(options?: { lazy?: boolean }): Promise<void>;
}

interface NativeFuse {
  mount(cb: (err: Error | null) => void): void;
  close(cb: (err: Error | null) => void): void;
}
type NativeFuseClass = new (mnt: string, ops: object, opts: object) => NativeFuse;

/** fuse-native's reply callback: an errno (0 for success) and the operation's results. */
type NativeReply = (errno: number, ...results: unknown[]) => void;

let FuseClass: NativeFuseClass | undefined;

/**
 * Loads fuse-native once. Its static `unmount` (which runs `fusermount -uz` from a shell) is
 * replaced by a no-op because {@link FuseHandle.unmount} unmounts itself, non-lazily first; the
 * binding's `close` then only releases its event-loop handle.
 */
function loadBinding(): NativeFuseClass {
  if (FuseClass) return FuseClass;
  let Base: NativeFuseClass & { unmount(mnt: string, cb: (err: Error | null) => void): void };
  try {
    Base = createRequire(import.meta.url)('fuse-native') as typeof Base;
  } catch (err) {
    throw new FuseUnavailableError(bindingProblem(err as Error), { cause: err });
  }
  Base.unmount = (_mnt, cb) => cb(null);
  FuseClass = Base;
  return FuseClass;
}

/** Why the binding does not load, in one line that names the Debian package to install. */
function bindingProblem(err: Error): string {
  const first = err.message.split('\n')[0].trim();
  if (first.includes('libfuse.so.2'))
    return `libfuse.so.2 does not load (${first}): install Debian's libfuse2 package (apt-get install libfuse2)`;
  // node-gyp-build's message when the package has no prebuilt binary for this machine.
  if (first.startsWith('No native build was found'))
    return `fuse-native has no prebuilt binary for ${process.platform}-${process.arch} (as root, ocifs mounts without it)`;
  return `the fuse-native binding does not load: ${first}`;
}

/**
 * The setuid `fusermount` through which libfuse 2 mounts for a user other than root (it runs
 * `/bin/fusermount`, else the one on PATH; Debian's fuse3 package installs it).
 */
async function findFusermount(): Promise<string | undefined> {
  for (const dir of ['/bin', ...(process.env.PATH ?? '').split(':').filter(Boolean)]) {
    const p = join(dir, 'fusermount');
    try {
      await access(p, fsConstants.X_OK);
      if ((await stat(p)).isFile()) return p;
    } catch {
      // not there: look on
    }
  }
  return undefined;
}

/** The backend `auto` picks: raw FUSE as root, libfuse otherwise. */
export function defaultBackend(): 'raw' | 'libfuse' {
  return process.getuid?.() === 0 ? 'raw' : 'libfuse';
}

/**
 * Throws {@link FuseUnavailableError} when `/dev/fuse` cannot be opened or, for the libfuse
 * `backend` (`auto`: as {@link defaultBackend}), when the binding does not load or a user other
 * than root has no `fusermount`. The messages name the Debian package that is missing.
 */
export async function checkFuseAvailable(backend: 'auto' | 'raw' | 'libfuse' = 'auto'): Promise<void> {
  try {
    await access('/dev/fuse', fsConstants.R_OK | fsConstants.W_OK);
  } catch (err) {
    throw new FuseUnavailableError('/dev/fuse is missing or not accessible', { cause: err });
  }
  if ((backend === 'auto' ? defaultBackend() : backend) === 'raw') return;
  loadBinding();
  if (process.getuid?.() !== 0 && (await findFusermount()) === undefined) {
    throw new FuseUnavailableError(
      "fusermount is not installed (libfuse mounts through it for users other than root): install Debian's fuse3 package (apt-get install fuse3)",
    );
  }
}

/** `-o` option string for libfuse 2.9. */
function optionString(o: FuseConnectionOptions): string {
  const fsname = o.fsname.replace(/[,\\\s]/g, '_').slice(0, 200);
  const t = o.cacheTimeout;
  const opts = [
    'ro',
    // Our inode numbers in st_ino and d_ino: hardlinks share one, as tar and cp -a expect.
    'use_ino',
    'readdir_ino',
    // Permission bits are enforced by the kernel, as on a local copy.
    'default_permissions',
    // The image never changes: cached names, attributes and pages stay valid.
    `entry_timeout=${t}`,
    `attr_timeout=${t}`,
    `negative_timeout=${t}`,
    'kernel_cache',
    `max_read=${o.maxRead}`,
    `max_readahead=${o.maxReadahead}`,
    `fsname=${fsname}`,
    'subtype=ocifs',
  ];
  if (o.allowOther) opts.push('allow_other');
  if (o.suid) opts.push('suid');
  if (o.dev) opts.push('dev');
  if (o.debug) opts.push('debug');
  return '-o' + opts.join(',');
}

/** A stat array as fuse-native's `getStatArray` accepts it. */
function toNativeStat(s: FuseStat): object {
  return {
    mode: s.mode,
    uid: s.uid,
    gid: s.gid,
    size: s.size,
    nlink: s.nlink,
    ino: s.ino % 0x1_0000_0000,
    rdev: s.rdev,
    blksize: s.blksize,
    blocks: s.blocks,
    mtime: s.mtimeMs,
    atime: s.mtimeMs,
    ctime: s.mtimeMs,
  };
}

/**
 * Mounts `ops` at `mountpoint` and resolves once the kernel has initialised the connection.
 * The caller has checked the mountpoint (exists, a directory, not busy).
 */
export async function fuseMount(
  mountpoint: string,
  ops: FuseOperations,
  options: FuseConnectionOptions,
): Promise<FuseHandle> {
  await checkFuseAvailable('libfuse');
  if (options.allowOther) {
    const refused = await allowOtherRefusal();
    if (refused !== undefined) throw new MountFailedError(mountpoint, refused);
  }
  const Base = loadBinding();
  const opts = optionString(options);
  // A subclass so that the option string is exactly ours (fuse-native builds a limited one)
  // and getxattr/listxattr honour the caller's buffer size (ERANGE) as the xattr calls require.
  class OcifsFuse extends Base {
    _fuseOptions(): string {
      return opts;
    }
    _op_getxattr(signal: (res: number, buf: ArrayBuffer) => void, path: string, name: string, valueBuf: Buffer): void {
      run('getxattr', (o) => ops.getxattr(path, name, o)).then(
        (value) => {
          if (value === undefined) return signal(-Errno.ENODATA, valueBuf.buffer as ArrayBuffer);
          if (valueBuf.length === 0) return signal(value.length, valueBuf.buffer as ArrayBuffer);
          if (value.length > valueBuf.length) return signal(-Errno.ERANGE, valueBuf.buffer as ArrayBuffer);
          valueBuf.set(value);
          signal(value.length, valueBuf.buffer as ArrayBuffer);
        },
        (err: unknown) => signal(-errnoOf(err), valueBuf.buffer as ArrayBuffer),
      );
    }
    _op_listxattr(signal: (res: number, buf: ArrayBuffer) => void, path: string, listBuf: Buffer): void {
      run('listxattr', (o) => ops.listxattr(path, o)).then(
        (names) => {
          const bytes = Buffer.from(names.map((n) => n + '\0').join(''), 'utf8');
          if (listBuf.length === 0) return signal(bytes.length, listBuf.buffer as ArrayBuffer);
          if (bytes.length > listBuf.length) return signal(-Errno.ERANGE, listBuf.buffer as ArrayBuffer);
          listBuf.set(bytes);
          signal(bytes.length, listBuf.buffer as ArrayBuffer);
        },
        (err: unknown) => signal(-errnoOf(err), listBuf.buffer as ArrayBuffer),
      );
    }
  }

  const deadlines = new Deadlines(options.operationTimeoutMs);
  /** Runs one operation with a time limit; never throws synchronously. */
  function run<T>(name: string, fn: (o: FuseOpOptions) => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const p = deadlines.start(reject);
      let started: Promise<T>;
      try {
        started = fn({ signal: p.controller.signal });
      } catch (err) {
        started = Promise.reject(err);
      }
      started.then(
        (v) => {
          deadlines.end(p);
          resolve(v);
        },
        (err: unknown) => {
          deadlines.end(p);
          debug('%s failed: %s', name, (err as Error)?.message ?? err);
          reject(err);
        },
      );
    });
  }
  /** Adapts a promise-returning operation to fuse-native's callback `cb(errno, ...results)`. */
  function cb<A extends unknown[], R>(
    name: string,
    fn: (o: FuseOpOptions, ...args: A) => Promise<R>,
    reply: (cb: NativeReply, r: R) => void,
  ) {
    return (...args: [...A, NativeReply]) => {
      const done = args.pop() as NativeReply;
      run(name, (o) => fn(o, ...(args as unknown as A))).then(
        (r) => reply(done, r),
        (err: unknown) => done(-errnoOf(err)),
      );
    };
  }

  const nativeOps = {
    getattr: cb(
      'getattr',
      (o, path: string) => ops.getattr(path, o),
      (done, st) => done(0, toNativeStat(st)),
    ),
    fgetattr: cb(
      'fgetattr',
      (o, path: string) => ops.getattr(path, o),
      (done, st) => done(0, toNativeStat(st)),
    ),
    readdir: cb(
      'readdir',
      (o, path: string) => ops.readdir(path, o),
      (done, entries) =>
        done(
          0,
          entries.map((e) => e.name),
          entries.map((e) => ({ mode: e.mode, ino: e.ino % 0x1_0000_0000, mtime: 0, atime: 0, ctime: 0 })),
        ),
    ),
    readlink: cb(
      'readlink',
      (o, path: string) => ops.readlink(path, o),
      (done, target) => done(0, target),
    ),
    read: cb(
      'read',
      (o, path: string, _fh: number, buf: Buffer, len: number, pos: number) => ops.read(path, buf, len, pos, o),
      (done, n) => done(n),
    ),
    statfs: cb(
      'statfs',
      (o, path: string) => ops.statfs(path, o),
      (done, s) => done(0, { ...s, bfree: 0, bavail: 0, ffree: 0, favail: 0, fsid: 0, flag: 1 /* ST_RDONLY */ }),
    ),
    access: cb(
      'access',
      (o, path: string, mode: number) => ops.access(path, mode, o),
      (done) => done(0),
    ),
    // Present so that fuse-native routes these to our subclass methods above.
    getxattr: () => {},
    listxattr: () => {},
  };

  const fuse = new OcifsFuse(mountpoint, nativeOps, { timeout: false });
  await new Promise<void>((resolve, reject) => {
    fuse.mount((err) => {
      if (err) reject(new MountFailedError(mountpoint, err.message, { cause: err }));
      else resolve();
    });
  });
  debug('mounted %s with %s', mountpoint, opts);

  let closed = false;
  return {
    mountpoint,
    async unmount({ lazy = true } = {}) {
      if (closed) return;
      await runUnmount(mountpoint, { lazy, fuse: true });
      closed = true;
      await new Promise<void>((resolve) => fuse.close(() => resolve()));
    },
  };
}

export { FuseErrno };
