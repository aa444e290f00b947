/**
 * Extracts a filesystem tree to a host directory, like `fsck.erofs --extract` or `umoci unpack`:
 * content, modes (setuid/setgid/sticky included), owners (when root), mtimes (files, symlinks,
 * and directories after their contents), xattrs, symlinks, hardlinks kept as hardlinks (the
 * first path gets the data, later ones link to it), fifos, and device nodes (when root).
 *
 * Safe against hostile images: every host path is DEST plus names the walk checked to be single
 * components (no `..`, `/`, NUL, empty); directories are created by the extractor itself and an
 * existing entry is never followed (files are opened `O_CREAT|O_EXCL|O_NOFOLLOW`, symlinks and
 * nodes are created, never written through), so nothing is written outside DEST. Cyclic or
 * corrupt directory structures end with an error from the walk; memory stays bounded (a walk
 * frame per depth, `concurrency` files in flight of `pieceSize` pieces, the list of directories
 * whose metadata is applied at the end, hardlinked inodes until their last link is made).
 *
 * DEST: created when missing; an existing DEST must be an empty directory unless `overwrite`
 * is set, which merges into it like `fsck.erofs --overwrite`: existing directories are reused,
 * an existing file, symlink or node at an image path is replaced, an existing directory where
 * the image has a non-directory is an error (a whole tree is never deleted), and host entries the
 * image does not name are left alone. DEST's own metadata is set only when extract created it.
 *
 * @packageDocumentation
 */
import { constants } from 'node:fs';
import { chmod, lchown, link, lstat, lutimes, mkdir, open, opendir, readFile, realpath, stat, symlink, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { AbortedError, InvalidOptionError, isOcifsError, throwIfAborted } from '../errors.js';
import type { ReadOptions } from '../io/byte-source.js';
import { readPieces } from '../io/read-stream.js';
import { isUnsupported, loadXattr, makeSpecial, setXattr, splitRdev } from './host-ops.js';
import { resolveEntry } from './path.js';
import { TaskPool } from './task-pool.js';
import { ContentSizeError, ExtractConflictError, ExtractIoError } from './tool-errors.js';
import type { FileSystem, Inode } from './types.js';
import { walk } from './walk.js';

/** Files written at the same time by default. */
export const DEFAULT_EXTRACT_CONCURRENCY = 8;
/** Bytes read from the image per read by default. */
export const DEFAULT_EXTRACT_PIECE = 1024 * 1024;

/** Counters reported while extracting. */
export interface ExtractProgress {
  /** Entries created (all types). */
  entries: number;
  /** Regular files whose content is complete (hardlinks count once). */
  files: number;
  /** Content bytes written. */
  bytes: number;
}

/** Something the host could not keep (an xattr, an owner, a device node); extraction went on. */
export interface ExtractWarning {
  /** `xattr`, `owner`, `device`, `socket`. */
  kind: string;
  path: string;
  message: string;
}

/** Options of {@link extractTree}. */
export interface ExtractOptions extends ReadOptions {
  /** Subtree of the image to extract (default `/`; symlinks followed inside the image). A directory's contents go into DEST; anything else goes to DEST/its-name. */
  path?: string;
  /** Set owners from the image (default: when running as root). Requested but impossible → error. */
  preserveOwners?: boolean;
  /** Set extended attributes (default true; those the host refuses become warnings). */
  xattrs?: boolean;
  /** Merge into a non-empty DEST (default false: refuse it). */
  overwrite?: boolean;
  /** Files written concurrently (default {@link DEFAULT_EXTRACT_CONCURRENCY}). */
  concurrency?: number;
  /** Bytes per read from the image (default {@link DEFAULT_EXTRACT_PIECE}). */
  pieceSize?: number;
  /** Metadata reads kept in flight by the walk (see `walk`'s `prefetch`). */
  prefetch?: number;
  /** Called as work completes (often: throttle drawing). */
  onProgress?: (progress: ExtractProgress) => void;
  /** Called the first time each kind of warning happens; later ones are only counted. */
  onWarning?: (warning: ExtractWarning) => void;
}

/** What {@link extractTree} did. */
export interface ExtractResult extends ExtractProgress {
  dirs: number;
  symlinks: number;
  hardlinks: number;
  /** Fifos and device nodes. */
  specials: number;
  /** Entries not created (sockets; devices when not root). */
  skipped: number;
  /** Warnings by kind. */
  warnings: Record<string, number>;
}

interface Ctx {
  fs: FileSystem;
  dest: string;
  signal?: AbortSignal;
  owners: boolean;
  xattrs: boolean;
  root: boolean;
  overwrite: boolean;
  pieceSize: number;
  result: ExtractResult;
  onProgress?: (p: ExtractProgress) => void;
  onWarning?: (w: ExtractWarning) => void;
  /** Hardlinked inodes already created: the host path and how many more links to expect. */
  links: Map<number, { path: string; ready: Promise<void>; left: number }>;
  /** The process's umask, when known: files are created with their final mode when it allows. */
  umask: number | undefined;
  /** Owner new entries get by themselves (so chown can be skipped), when known. */
  defaultOwner: { uid: number; gid: number } | undefined;
}

const isRoot = () => process.getuid?.() === 0;

/**
 * Extracts `fs` (or its subtree `options.path`) into the host directory `dest`.
 * Errors: the walk's (`ERR_OCIFS_UNSAFE_NAME`, `ERR_OCIFS_CORRUPT_DIRECTORY_CYCLE` …), the
 * reader's, `ERR_OCIFS_EXTRACT_CONFLICT` (DEST not empty, a name twice), `ERR_OCIFS_EXTRACT_IO`.
 * A failed extraction leaves what it wrote so far.
 */
export async function extractTree(fs: FileSystem, dest: string, options: ExtractOptions = {}): Promise<ExtractResult> {
  const concurrency = options.concurrency ?? DEFAULT_EXTRACT_CONCURRENCY;
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 256) throw new InvalidOptionError('concurrency', 'must be an integer from 1 to 256');
  const pieceSize = options.pieceSize ?? DEFAULT_EXTRACT_PIECE;
  if (!Number.isInteger(pieceSize) || pieceSize < 4096 || pieceSize > 64 * 1024 * 1024) throw new InvalidOptionError('pieceSize', 'must be an integer from 4096 to 64 MiB');
  const signal = options.signal;
  const start = await resolveEntry(fs, options.path ?? '/', { signal });
  const { path: destAbs, created } = await prepareDest(dest, options.overwrite ?? false);
  const ctx: Ctx = {
    fs,
    dest: destAbs,
    signal,
    owners: options.preserveOwners ?? isRoot(),
    xattrs: options.xattrs ?? true,
    root: isRoot(),
    overwrite: options.overwrite ?? false,
    pieceSize,
    result: { entries: 0, files: 0, bytes: 0, dirs: 0, symlinks: 0, hardlinks: 0, specials: 0, skipped: 0, warnings: {} },
    onProgress: options.onProgress,
    onWarning: options.onWarning,
    links: new Map(),
    umask: await readUmask(),
    defaultOwner: await defaultOwner(destAbs),
  };
  const pool = new TaskPool(concurrency);
  // Directories get their mode, owner, xattrs and mtime after everything inside them exists:
  // a read-only mode would stop the writes, and creating entries would change the mtime.
  const dirs: { host: string; inode: Inode }[] = [];
  try {
    if (start.inode.type !== 'dir') {
      const name = start.path.slice(start.path.lastIndexOf('/') + 1);
      await createEntry(ctx, pool, join(destAbs, name), start.inode);
    } else {
      for await (const e of walk(fs, start.path, { signal, exits: true, prefetch: options.prefetch })) {
        if (pool.hasFailed) break;
        if (e.depth === 0) {
          if (e.exit && created) dirs.push({ host: destAbs, inode: e.inode });
          continue;
        }
        const host = `${destAbs}/${e.relPath}`;
        if (e.exit) dirs.push({ host, inode: e.inode });
        else await createEntry(ctx, pool, host, e.inode);
      }
    }
    await pool.drain();
    const finish = new TaskPool(concurrency);
    for (const d of dirs) {
      if (finish.hasFailed) break;
      await finish.add(() => applyMetadata(ctx, d.host, d.inode, undefined));
    }
    await finish.drain();
  } catch (err) {
    await pool.settle();
    if (signal?.aborted && !isOcifsError(err, 'ERR_OCIFS_ABORTED')) throw new AbortedError({ cause: err });
    throw err;
  }
  ctx.onProgress?.(progressOf(ctx.result));
  return ctx.result;
}

/** Entries and content bytes (hardlinks once) below `path`: the totals of a progress bar (metadata reads only). */
export async function measureTree(fs: FileSystem, path = '/', options: ReadOptions & { prefetch?: number } = {}): Promise<{ entries: number; bytes: number }> {
  let entries = 0;
  let bytes = 0;
  // Hardlinked content is written once, so it is counted once.
  const linked = new Set<number>();
  for await (const e of walk(fs, path, { signal: options.signal, includeStart: false, prefetch: options.prefetch })) {
    entries++;
    if (e.inode.type !== 'file') continue;
    if (e.inode.nlink > 1) {
      if (linked.has(e.inode.ino)) continue;
      linked.add(e.inode.ino);
    }
    bytes += e.inode.size;
  }
  return { entries, bytes };
}

async function prepareDest(dest: string, overwrite: boolean): Promise<{ path: string; created: boolean }> {
  let created = false;
  try {
    const st = await stat(dest);
    if (!st.isDirectory()) throw new ExtractConflictError(dest, 'exists and is not a directory');
    if (!overwrite) {
      const dir = await opendir(dest);
      try {
        if ((await dir.read()) !== null) throw new ExtractConflictError(dest, 'is not empty (extract into an empty or new directory, or merge with overwrite)');
      } finally {
        await dir.close().catch(() => {});
      }
    }
  } catch (err) {
    if ((err as { code?: string }).code !== 'ENOENT') throw isOcifsError(err) ? err : new ExtractIoError(dest, 'stat', err);
    await mkdir(dest, { recursive: true }).catch((e) => {
      throw new ExtractIoError(dest, 'mkdir', e);
    });
    created = true;
  }
  // The user's DEST may itself be reached through symlinks (theirs to choose); below it, none is followed.
  return { path: await realpath(dest), created };
}

/** The umask from /proc/self/status (`process.umask()` without an argument is deprecated). */
async function readUmask(): Promise<number | undefined> {
  try {
    const text = await readFile('/proc/self/status', 'utf8');
    const m = /^Umask:\s*([0-7]+)$/m.exec(text);
    return m ? parseInt(m[1], 8) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The owner a new entry gets without chown: the process's ids, unless DEST is setgid (then
 * the group is inherited; the directories extract makes are not setgid until the end).
 */
async function defaultOwner(dest: string): Promise<{ uid: number; gid: number } | undefined> {
  const uid = process.geteuid?.();
  const gid = process.getegid?.();
  if (uid === undefined || gid === undefined) return undefined;
  const st = await stat(dest);
  return st.mode & 0o2000 ? undefined : { uid, gid };
}

function progressOf(r: ExtractResult): ExtractProgress {
  return { entries: r.entries, files: r.files, bytes: r.bytes };
}

function warn(ctx: Ctx, kind: string, path: string, message: string): void {
  const n = (ctx.result.warnings[kind] ?? 0) + 1;
  ctx.result.warnings[kind] = n;
  if (n === 1) ctx.onWarning?.({ kind, path, message });
}

/** Runs a host operation, naming the path and operation when it fails. */
async function host<T>(path: string, operation: string, f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (err) {
    if (isOcifsError(err)) throw err;
    throw new ExtractIoError(path, operation, err);
  }
}

/**
 * Makes room for a new entry at `path`: nothing to do in a fresh DEST; with overwrite, an
 * existing non-directory is unlinked (never followed) and an existing directory is refused.
 */
async function makeRoom(ctx: Ctx, path: string): Promise<void> {
  if (!ctx.overwrite) return;
  let st;
  try {
    st = await lstat(path);
  } catch (err) {
    if ((err as { code?: string }).code === 'ENOENT') return;
    throw new ExtractIoError(path, 'lstat', err);
  }
  if (st.isDirectory()) throw new ExtractConflictError(path, 'is a directory on the host but not in the image (not deleted)');
  await host(path, 'unlink', () => unlink(path));
}

/** Translates "already exists" in a fresh DEST into the corrupt-image conflict it is. */
function existsError(path: string, err: unknown): never {
  if ((err as { code?: string }).code === 'EEXIST') throw new ExtractConflictError(path, 'already exists (the image names it twice)', { cause: err });
  throw isOcifsError(err) ? err : new ExtractIoError(path, 'create', err);
}

async function createEntry(ctx: Ctx, pool: TaskPool, path: string, inode: Inode): Promise<void> {
  throwIfAborted(ctx.signal);
  ctx.result.entries++;
  if (inode.type === 'dir') {
    await makeDir(ctx, path);
    ctx.result.dirs++;
    return;
  }
  if (inode.nlink > 1) {
    const first = ctx.links.get(inode.ino);
    if (first) {
      if (--first.left <= 0) ctx.links.delete(inode.ino);
      ctx.result.hardlinks++;
      await pool.add(async () => {
        await first.ready;
        await makeRoom(ctx, path);
        await link(first.path, path).catch((err) => existsError(path, err));
      });
      return;
    }
  }
  let ready: { resolve: () => void; reject: (e: unknown) => void } | undefined;
  if (inode.nlink > 1) {
    const p = new Promise<void>((resolve, reject) => (ready = { resolve, reject }));
    p.catch(() => {});
    ctx.links.set(inode.ino, { path, ready: p, left: inode.nlink - 1 });
  }
  await pool.add(async () => {
    try {
      await createNonDir(ctx, path, inode, () => ready?.resolve());
    } catch (err) {
      ready?.reject(err);
      throw err;
    } finally {
      ready?.resolve();
    }
  });
}

async function makeDir(ctx: Ctx, path: string): Promise<void> {
  try {
    await mkdir(path, 0o700);
  } catch (err) {
    if ((err as { code?: string }).code !== 'EEXIST') throw new ExtractIoError(path, 'mkdir', err);
    if (!ctx.overwrite) existsError(path, err);
    const st = await host(path, 'lstat', () => lstat(path));
    if (st.isDirectory()) return;
    // A file or symlink where the image has a directory: replace it, never descend through it.
    await host(path, 'unlink', () => unlink(path));
    await host(path, 'mkdir', () => mkdir(path, 0o700));
  }
}

/** Creates a non-directory; `created` is called as soon as the path exists (hardlinks may follow). */
async function createNonDir(ctx: Ctx, path: string, inode: Inode, created: () => void): Promise<void> {
  await makeRoom(ctx, path);
  switch (inode.type) {
    case 'file':
      return writeFile(ctx, path, inode, created);
    case 'symlink': {
      const target = await ctx.fs.readlink(inode.ino, { signal: ctx.signal });
      await symlink(target, path).catch((err) => existsError(path, err));
      created();
      ctx.result.symlinks++;
      return applyMetadata(ctx, path, inode, undefined);
    }
    case 'fifo':
    case 'chardev':
    case 'blockdev': {
      if (inode.type !== 'fifo' && !ctx.root) {
        ctx.result.skipped++;
        warn(ctx, 'device', path, 'device nodes are only created when running as root; skipped');
        return;
      }
      const [major, minor] = splitRdev(inode.rdev);
      await makeSpecial(path, inode.type, major, minor, ctx.signal).catch((err) => {
        if (err?.data?.errno === 'EEXIST') existsError(path, Object.assign(err, { code: 'EEXIST' }));
        throw err;
      });
      created();
      ctx.result.specials++;
      return applyMetadata(ctx, path, inode, undefined);
    }
    case 'socket':
      // A socket is only meaningful while a process listens on it; tar and umoci skip them too.
      ctx.result.skipped++;
      warn(ctx, 'socket', path, 'sockets are not extracted');
      return;
  }
}

async function writeFile(ctx: Ctx, path: string, inode: Inode, created: () => void): Promise<void> {
  const source = await ctx.fs.openFile(inode.ino, { signal: ctx.signal });
  if (source.size !== inode.size) throw new ContentSizeError(path, inode.size, source.size);
  const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
  // Created with its permission bits when the umask keeps them, saving a chmod per file.
  const createMode = ctx.umask !== undefined && (inode.mode & 0o777 & ctx.umask) === 0 ? inode.mode & 0o777 : 0o600;
  const fh = await open(path, flags, createMode).catch((err) => existsError(path, err));
  created();
  try {
    const write = async (piece: Uint8Array, pos: number) => {
      let done = 0;
      while (done < piece.byteLength) {
        const { bytesWritten } = await host(path, 'write', () => fh.write(piece, done, piece.byteLength - done, pos + done));
        done += bytesWritten;
      }
      ctx.result.bytes += piece.byteLength;
      ctx.onProgress?.(progressOf(ctx.result));
    };
    if (source.size > 0 && source.size <= ctx.pieceSize) {
      await write(await source.read(0, source.size, { signal: ctx.signal }), 0);
    } else if (source.size > 0) {
      let pos = 0;
      for await (const piece of readPieces(source, { pieceSize: ctx.pieceSize, readAhead: 2, signal: ctx.signal })) {
        await write(piece, pos);
        pos += piece.byteLength;
      }
    }
    await applyMetadata(ctx, path, inode, fh, createMode === (inode.mode & 0o7777));
  } finally {
    await fh.close();
  }
  ctx.result.files++;
  ctx.onProgress?.(progressOf(ctx.result));
}

/** A time for Node's utimes (seconds as a double, kept to µs by libuv) that never rounds into the next second. */
function hostTime(sec: number, nsec: number): number {
  let t = sec + Math.floor(nsec / 1000) / 1e6;
  while (Math.floor(t) > sec) t -= 2 ** -20;
  return t;
}

/**
 * Owner, then mode (chown clears setuid/setgid), then xattrs (chown clears security.capability),
 * then times last (nothing after may touch the inode). Through `fh` when the file is open.
 */
async function applyMetadata(ctx: Ctx, path: string, inode: Inode, fh: FileHandle | undefined, modeSet = false): Promise<void> {
  const isLink = inode.type === 'symlink';
  const owned = ctx.defaultOwner !== undefined && ctx.defaultOwner.uid === inode.uid && ctx.defaultOwner.gid === inode.gid;
  if (ctx.owners && !owned) {
    modeSet = false; // chown clears setuid/setgid: the mode goes on after it
    await (fh ? fh.chown(inode.uid, inode.gid) : lchown(path, inode.uid, inode.gid)).catch((err) => {
      if (!ctx.root && isUnsupported(err)) throw new ExtractIoError(path, 'chown (owners need root)', err);
      throw new ExtractIoError(path, 'chown', err);
    });
  }
  // Linux has no mode of its own for a symlink (lchmod is not supported).
  if (!isLink && !modeSet) await host(path, 'chmod', () => (fh ? fh.chmod(inode.mode & 0o7777) : chmod(path, inode.mode & 0o7777)));
  if (ctx.xattrs) await applyXattrs(ctx, path, inode);
  const t = hostTime(inode.mtimeSec, inode.mtimeNsec);
  await host(path, 'utimes', () => (fh ? fh.utimes(t, t) : lutimes(path, t, t)));
}

async function applyXattrs(ctx: Ctx, path: string, inode: Inode): Promise<void> {
  const xs = await ctx.fs.listxattr(inode.ino, { signal: ctx.signal });
  if (xs.size === 0) return;
  const mod = await loadXattr();
  if (!mod) {
    warn(ctx, 'xattr', path, 'extended attributes cannot be set on this platform (the @napi-rs/xattr binary did not load)');
    return;
  }
  for (const [name, value] of xs) {
    try {
      await setXattr(mod, path, name, value);
    } catch (err) {
      if (!isUnsupported(err)) throw new ExtractIoError(path, `setxattr ${name}`, err);
      warn(ctx, 'xattr', path, `xattr ${name} not kept: ${(err as Error).message}${ctx.root ? '' : ' (trusted. and security. need root)'}`);
    }
  }
}
