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
 * frame per depth, `concurrency` files being read in `pieceSize` pieces, at most 64 MiB of file
 * data and 16 batches of operations queued for the writer, the list of directories whose
 * metadata is applied at the end, hardlinked inodes until their last link is made).
 *
 * Throughput: the event loop walks the image and looks entries up (many at a time, so that
 * metadata reads overlap and merge) while one writer thread (`host-writer.ts`) creates the host
 * entries in order, ~4 syscalls per small file (open with its final mode, write, futimens,
 * close; chown/chmod only when needed). Content that lies in local files — an image file, a
 * complete cached blob; stored as-is or in LZ4 clusters — is copied (and decoded) by the writer
 * thread itself, never passing through the event loop; other content (remote, other codecs) is
 * read and decompressed here, `concurrency` files at a time. Two cores busy either way.
 *
 * DEST: created when missing; an existing DEST must be an empty directory unless `overwrite`
 * is set, which merges into it like `fsck.erofs --overwrite`: existing directories are reused,
 * an existing file, symlink or node at an image path is replaced, an existing directory where
 * the image has a non-directory is an error (a whole tree is never deleted), and host entries the
 * image does not name are left alone. DEST's own metadata is set only when extract created it.
 *
 * @packageDocumentation
 */
import { access, mkdir, opendir, realpath, stat } from 'node:fs/promises';
import { AbortedError, InvalidOptionError, isOcifsError, throwIfAborted } from '../errors.js';
import type { ReadOptions } from '../io/byte-source.js';
import { contentSpans, ownSignal } from './extract-content.js';
import { readPieces } from '../io/read-stream.js';
import { readUmask } from './host-ops.js';
import { splitRdev } from '../vfs/device.js';
import type { HostMeta } from './host-writer-protocol.js';
import { HostWriters, type PushOptions, type Ticket } from './host-writers.js';
import { resolveEntry } from '../vfs/path.js';
import { Semaphore, TaskPool } from './task-pool.js';
import { ContentSizeError, ExtractConflictError, ExtractIoError } from './errors.js';
import type { FileSystem, Inode } from '../vfs/types.js';
import { walk } from '../vfs/walk.js';

/** Files read from the image at the same time by default. */
export const DEFAULT_EXTRACT_CONCURRENCY = 8;
/**
 * Entries being looked up (inode, xattrs, where their content is) at the same time: many, so
 * that metadata reads overlap and merge; only `concurrency` of them read file data at a time.
 */
const LOOKUPS_IN_FLIGHT = 64;
/** The walk's metadata read-ahead by default (see `walk`'s `prefetch`): entries whose inodes are fetched together. */
const DEFAULT_EXTRACT_PREFETCH = 64;
/**
 * Writer threads by default. On 2 cores one writer and the event loop already keep both busy
 * (measured: a second writer thread cost ~10% more CPU and was not faster); on bigger
 * machines more writers can share the syscalls and decoding.
 */
export const DEFAULT_EXTRACT_WRITERS = 1;
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
  /**
   * Subtree of the image to extract (default `/`; symlinks followed inside the image). A
   * directory's contents go into DEST; anything else goes to DEST/its-name.
   */
  path?: string;
  /** Set owners from the image (default: when running as root). Requested but impossible → error. */
  preserveOwners?: boolean;
  /** Set extended attributes (default true; those the host refuses become warnings). */
  xattrs?: boolean;
  /** Merge into a non-empty DEST (default false: refuse it). */
  overwrite?: boolean;
  /**
   * Files whose data is read through the event loop concurrently (default {@link
   * DEFAULT_EXTRACT_CONCURRENCY}); one thread writes them, in order.
   */
  concurrency?: number;
  /** Threads creating the host entries (default {@link DEFAULT_EXTRACT_WRITERS}). */
  writers?: number;
  /** Bytes per read from the image (default {@link DEFAULT_EXTRACT_PIECE}). */
  pieceSize?: number;
  /**
   * Let the writer thread copy content a cache holds but has not verified yet (its blob is
   * still arriving), instead of reading it through the event loop. Only for a caller that
   * checks the blobs when done, as `ocifs extract` does with `BackgroundFill.finish` (default
   * false: only verified cache files, and image files, are copied by the writer).
   */
  unverifiedSpans?: boolean;
  /** Metadata reads kept in flight by the walk (see `walk`'s `prefetch`; default 64). */
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
  signal?: AbortSignal;
  owners: boolean;
  xattrs: boolean;
  root: boolean;
  overwrite: boolean;
  pieceSize: number;
  writer: HostWriters;
  result: ExtractResult;
  onProgress?: (p: ExtractProgress) => void;
  onWarning?: (w: ExtractWarning) => void;
  /** Hardlinked inodes already pushed: the host path, its creation's ticket once queued, links still to come. */
  links: Map<number, { path: string; queued: Promise<Ticket | undefined>; left: number }>;
  /** The process's umask, when known: files are created with their final mode when it allows. */
  umask: number | undefined;
  /** The writer thread may read file content from the sources' files itself (see `FileSpan`). */
  copySpans: boolean;
  /** ... also bytes a cache has not verified yet (see `ExtractOptions.unverifiedSpans`). */
  unverifiedSpans: boolean;
  /** Owner new entries get by themselves (so chown can be skipped), when known. */
  defaultOwner: { uid: number; gid: number } | undefined;
  nextHandle: number;
  /** Slots for reading file data through this thread (`concurrency`). */
  dataSlots: Semaphore;
}

const isRoot = () => process.getuid?.() === 0;

/**
 * Extracts `fs` (or its subtree `options.path`) into the host directory `dest`.
 * Errors: the walk's (`ERR_OCIFS_UNSAFE_NAME`, `ERR_OCIFS_CORRUPT_DIRECTORY_CYCLE` …), the
 * reader's, `ERR_OCIFS_EXTRACT_CONFLICT` (DEST not empty, a name twice), `ERR_OCIFS_EXTRACT_IO`.
 * A failed extraction leaves what it wrote so far.
 */
export async function extractTree(fs: FileSystem, dest: string, options: ExtractOptions = {}): Promise<ExtractResult> {
  const own = ownSignal(options.signal);
  try {
    return await extractWith(fs, dest, options, own.signal);
  } finally {
    own.dispose();
  }
}

async function extractWith(
  fs: FileSystem,
  dest: string,
  options: ExtractOptions,
  signal: AbortSignal | undefined,
): Promise<ExtractResult> {
  const concurrency = options.concurrency ?? DEFAULT_EXTRACT_CONCURRENCY;
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 256)
    throw new InvalidOptionError('concurrency', 'must be an integer from 1 to 256');
  const pieceSize = options.pieceSize ?? DEFAULT_EXTRACT_PIECE;
  if (!Number.isInteger(pieceSize) || pieceSize < 4096 || pieceSize > 64 * 1024 * 1024)
    throw new InvalidOptionError('pieceSize', 'must be an integer from 4096 to 64 MiB');
  const writers = options.writers ?? DEFAULT_EXTRACT_WRITERS;
  if (!Number.isInteger(writers) || writers < 1 || writers > 16)
    throw new InvalidOptionError('writers', 'must be an integer from 1 to 16');
  const start = await resolveEntry(fs, options.path ?? '/', { signal });
  const { path: destAbs, created } = await prepareDest(dest, options.overwrite ?? false);
  const result: ExtractResult = {
    entries: 0,
    files: 0,
    bytes: 0,
    dirs: 0,
    symlinks: 0,
    hardlinks: 0,
    specials: 0,
    skipped: 0,
    warnings: {},
  };
  const umask = await readUmask();
  // The writer thread reopens the sources' descriptors through /proc/self/fd (Linux, /proc mounted).
  const copySpans =
    process.platform === 'linux' &&
    (await access('/proc/self/fd').then(
      () => true,
      () => false,
    ));
  const owner = await defaultOwner(destAbs);
  // Nothing may throw between starting the writer thread and the try below (it must be closed).
  const ctx: Ctx = {
    fs,
    signal,
    owners: options.preserveOwners ?? isRoot(),
    xattrs: options.xattrs ?? true,
    root: isRoot(),
    overwrite: options.overwrite ?? false,
    pieceSize,
    writer: await HostWriters.start({
      threads: writers,
      dest: destAbs,
      isRoot: isRoot(),
      maxBatchBytes: Math.max(4 * 1024 * 1024, pieceSize),
      onDone: (bytes, files) => {
        result.bytes += bytes;
        result.files += files;
        options.onProgress?.(progressOf(result));
      },
      onWarning: (kind, path, message) => warn(ctx, kind, path, message),
    }),
    result,
    onProgress: options.onProgress,
    onWarning: options.onWarning,
    links: new Map(),
    umask,
    defaultOwner: owner,
    copySpans,
    unverifiedSpans: options.unverifiedSpans ?? false,
    nextHandle: 1,
    dataSlots: new Semaphore(concurrency),
  };
  const reads = new TaskPool(Math.max(concurrency, LOOKUPS_IN_FLIGHT));
  // Directories get their mode, owner, xattrs and mtime after everything inside them exists:
  // a read-only mode would stop the writes, and creating entries would change the mtime.
  // Host paths are relative to DEST from here on ('' is DEST); the writer joins them.
  const dirs: { host: string; inode: Inode }[] = [];
  try {
    if (start.inode.type !== 'dir') {
      await createEntry(ctx, reads, start.path.slice(start.path.lastIndexOf('/') + 1), start.inode);
    } else {
      for await (const e of walk(fs, start.path, {
        signal,
        exits: true,
        prefetch: options.prefetch ?? DEFAULT_EXTRACT_PREFETCH,
      })) {
        if (reads.hasFailed || ctx.writer.failed) break;
        if (e.depth === 0) {
          if (e.exit && created) dirs.push({ host: '', inode: e.inode });
          continue;
        }
        if (e.exit) dirs.push({ host: e.relPath, inode: e.inode });
        else await createEntry(ctx, reads, e.relPath, e.inode);
      }
    }
    await reads.drain();
    // Every entry must exist before any directory gets its final mode and mtime.
    await ctx.writer.flush();
    for (const d of dirs) {
      throwIfAborted(signal);
      ctx.writer.push({ op: 'meta', path: d.host, meta: await metaOf(ctx, d.inode, false) });
    }
    await ctx.writer.flush();
  } catch (err) {
    await reads.settle();
    await ctx.writer.close();
    // The writer's own failure explains a read that stopped because of it.
    const cause = ctx.writer.failed ? ctx.writer.failure : err;
    if (signal?.aborted && !isOcifsError(cause, 'ERR_OCIFS_ABORTED')) throw new AbortedError({ cause });
    throw cause;
  }
  await ctx.writer.close();
  options.onProgress?.(progressOf(result));
  return result;
}

/** Entries and content bytes (hardlinks once) below `path`: the totals of a progress bar (metadata reads only). */
export async function measureTree(
  fs: FileSystem,
  path = '/',
  options: ReadOptions & { prefetch?: number } = {},
): Promise<{ entries: number; bytes: number }> {
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
        if ((await dir.read()) !== null)
          throw new ExtractConflictError(
            dest,
            'is not empty (extract into an empty or new directory, or merge with overwrite)',
          );
      } finally {
        await dir.close().catch(() => {});
      }
    }
  } catch (err) {
    if ((err as { code?: string }).code !== 'ENOENT')
      throw isOcifsError(err) ? err : new ExtractIoError(dest, 'stat', err);
    await mkdir(dest, { recursive: true }).catch((e: unknown) => {
      throw new ExtractIoError(dest, 'mkdir', e);
    });
    created = true;
  }
  // The user's DEST may itself be reached through symlinks (theirs to choose); below it, none is followed.
  return { path: await realpath(dest), created };
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

/** A time for Node's utimes (seconds as a double, kept to µs by libuv) that never rounds into the next second. */
function hostTime(sec: number, nsec: number): number {
  let t = sec + Math.floor(nsec / 1000) / 1e6;
  while (Math.floor(t) > sec) t -= 2 ** -20;
  return t;
}

/**
 * What to apply to an entry: owner (skipped when a new entry already has it), mode (skipped
 * when the file was created with it; always after chown, which clears setuid/setgid), xattrs
 * (after chown, which clears security.capability), and the mtime last.
 */
async function metaOf(ctx: Ctx, inode: Inode, modeSet: boolean): Promise<HostMeta> {
  const chown =
    ctx.owners && !(ctx.defaultOwner && ctx.defaultOwner.uid === inode.uid && ctx.defaultOwner.gid === inode.gid);
  const xs = ctx.xattrs ? await ctx.fs.listxattr(inode.ino, { signal: ctx.signal }) : undefined;
  return {
    chown,
    uid: inode.uid,
    gid: inode.gid,
    // Linux has no mode of its own for a symlink (lchmod is not supported).
    chmod: inode.type !== 'symlink' && (chown || !modeSet),
    mode: inode.mode & 0o7777,
    xattrs: xs && xs.size > 0 ? [...xs] : undefined,
    time: hostTime(inode.mtimeSec, inode.mtimeNsec),
  };
}

async function createEntry(ctx: Ctx, reads: TaskPool, path: string, inode: Inode): Promise<void> {
  throwIfAborted(ctx.signal);
  // The walk runs at most a few batches ahead of the writer: its queue stays small (operations
  // with no file bytes, such as copies from a local image, would otherwise queue the whole
  // tree), and the entries counted here are close to those done.
  if (ctx.writer.full) await ctx.writer.room();
  ctx.result.entries++;
  const overwrite = ctx.overwrite;
  if (inode.type === 'dir') {
    ctx.writer.push({ op: 'mkdir', path, overwrite });
    ctx.result.dirs++;
    return;
  }
  if (inode.nlink > 1) {
    const first = ctx.links.get(inode.ino);
    if (first) {
      if (--first.left <= 0) ctx.links.delete(inode.ino);
      ctx.result.hardlinks++;
      await reads.add(async () => {
        const after = await first.queued;
        ctx.writer.push({ op: 'link', path, target: first.path, overwrite }, after ? { after } : {});
      });
      return;
    }
  }
  let queued: { resolve: (t?: Ticket) => void; reject: (e: unknown) => void } | undefined;
  if (inode.nlink > 1) {
    const p = new Promise<Ticket | undefined>((resolve, reject) => (queued = { resolve, reject }));
    p.catch(() => {});
    ctx.links.set(inode.ino, { path, queued: p, left: inode.nlink - 1 });
  }
  await reads.add(async () => {
    try {
      await createNonDir(ctx, path, inode, (t) => queued?.resolve(t));
    } catch (err) {
      queued?.reject(err);
      throw err;
    } finally {
      queued?.resolve();
    }
  });
}

/** Queues a non-directory; `queued` gets its creation's ticket once it is queued (hardlinks may follow). */
async function createNonDir(ctx: Ctx, path: string, inode: Inode, queued: (t: Ticket) => void): Promise<void> {
  const overwrite = ctx.overwrite;
  switch (inode.type) {
    case 'file':
      return queueFile(ctx, path, inode, queued);
    case 'symlink': {
      const target = await ctx.fs.readlink(inode.ino, { signal: ctx.signal });
      queued(
        ctx.writer.push(
          { op: 'symlink', path, target, meta: await metaOf(ctx, inode, false), overwrite },
          linked(inode),
        ),
      );
      ctx.result.symlinks++;
      return;
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
      queued(
        ctx.writer.push(
          { op: 'special', path, kind: inode.type, major, minor, meta: await metaOf(ctx, inode, false), overwrite },
          linked(inode),
        ),
      );
      ctx.result.specials++;
      return;
    }
    case 'socket':
      // A socket is only meaningful while a process listens on it; tar and umoci skip them too.
      ctx.result.skipped++;
      warn(ctx, 'socket', path, 'sockets are not extracted');
      return;
  }
}

/** Push options of an entry's creation: hardlinks to it wait for it (on whichever writer thread). */
function linked(inode: Inode): PushOptions {
  return inode.nlink > 1 ? { mark: true } : {};
}

async function queueFile(ctx: Ctx, path: string, inode: Inode, queued: (t: Ticket) => void): Promise<void> {
  const signal = ctx.signal;
  const source = await ctx.fs.openFile(inode.ino, { signal });
  if (source.size !== inode.size) throw new ContentSizeError(path, inode.size, source.size);
  // Created with its permission bits when the umask keeps them, saving a chmod per file.
  const perm = inode.mode & 0o777;
  const createMode = ctx.umask !== undefined && (perm & ctx.umask) === 0 ? perm : 0o600;
  const meta = await metaOf(ctx, inode, createMode === (inode.mode & 0o7777));
  const overwrite = ctx.overwrite;
  // Content in local files (an image file, a complete cached blob), stored as-is or in LZ4
  // clusters: the writer thread copies (and decodes) it from there, so the bytes never pass
  // through this thread.
  const spans =
    ctx.copySpans && source.size > 0
      ? await contentSpans(source, ctx.writer.encodings, ctx.signal, ctx.unverifiedSpans)
      : undefined;
  if (spans !== undefined) {
    queued(ctx.writer.push({ op: 'copy', path, createMode, meta, overwrite, spans }, linked(inode)));
    return;
  }
  if (source.size === 0) {
    queued(ctx.writer.push({ op: 'file', path, createMode, meta, overwrite, bytes: new Uint8Array(0) }, linked(inode)));
    return;
  }
  await ctx.dataSlots.acquire();
  try {
    if (source.size <= ctx.pieceSize) {
      const bytes = await source.read(0, source.size, { signal, scan: true });
      await ctx.writer.room();
      queued(ctx.writer.push({ op: 'file', path, createMode, meta, overwrite, bytes }, linked(inode)));
      return;
    }
    const handle = ctx.nextHandle++;
    queued(ctx.writer.push({ op: 'open', handle, path, createMode, overwrite }, linked(inode)));
    let pos = 0;
    for await (const piece of readPieces(source, { pieceSize: ctx.pieceSize, readAhead: 2, signal, scan: true })) {
      await ctx.writer.room();
      ctx.writer.push({ op: 'write', handle, pos, bytes: piece });
      pos += piece.byteLength;
    }
    ctx.writer.push({ op: 'close', handle, meta });
  } finally {
    ctx.dataSlots.release();
  }
}
