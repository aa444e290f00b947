/**
 * The kernel mode: the layer blob is served through FUSE as one read-only file in a private
 * directory, and the kernel's own EROFS driver mounts that file (a file-backed mount, Linux
 * ≥ 6.12), falling back to a read-only loop device over it where a file-backed mount is
 * refused (older kernels, no perl). The kernel does
 * all filesystem work; ocifs only serves byte ranges of the blob.
 *
 * @packageDocumentation
 */
import { mkdir, mkdtemp, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { debuglog } from '../io/debug-log.js';
import type { ByteSource } from '../io/byte-source.js';
import { BlobDirectory } from './blob-directory.js';
import { InvalidOptionError } from '../errors.js';
import { KernelNotErofsError, MountFailedError, NotRootError } from './errors.js';
import { mountFileSystem, type FileSystemMountOptions } from './mount-file-system.js';
import { checkMountpoint } from './mountpoint.js';
import { connectionOptions, type Mount, type MountOptions } from './mount-options.js';
import { exec, runUnmount } from './unmount-command.js';
import { MountSyscall, MS_RDONLY, type MountResult } from './mount-syscall.js';
import { defaultStateDir } from './state-dir.js';

const debug = debuglog('ocifs:mount');

/** `EROFS_SUPER_MAGIC_V1`, little-endian at byte 1024 of every EROFS image (erofs_fs.h). */
export const EROFS_SUPER_MAGIC_V1 = 0xe0f5e1e2;
const EROFS_SUPER_OFFSET = 1024;
/** Name of the backing file inside the private FUSE directory. */
export const BACKING_FILE_NAME = 'layer.erofs';

/** Options of {@link mountKernel}. */
export interface KernelMountOptions extends MountOptions, Pick<FileSystemMountOptions, 'backend'> {
  /**
   * Directory under which the private FUSE directory of the backing file is made (mode 0700).
   * Default: `<state dir>/backing`.
   */
  backingDir?: string;
  /**
   * How the kernel reaches the backing file: `auto` (default) tries a file-backed mount and
   * falls back to a loop device; `file` and `loop` use only that one.
   */
  via?: 'auto' | 'file' | 'loop';
}

/** A kernel-mode mount, with where its backing file is. */
export interface KernelMount extends Mount {
  readonly mode: 'kernel';
  /** Path of the FUSE-served blob the kernel reads. */
  readonly backingFile: string;
  /** `file` for a file-backed mount, `loop` when the loop-device fallback was used. */
  readonly via: 'file' | 'loop';
}

/** True when `source` starts like an EROFS image (superblock magic at byte 1024). */
export async function looksLikeErofs(source: ByteSource, options: { signal?: AbortSignal } = {}): Promise<boolean> {
  if (source.size < EROFS_SUPER_OFFSET + 128) return false;
  const b = await source.read(EROFS_SUPER_OFFSET, 4, options);
  return new DataView(b.buffer, b.byteOffset, 4).getUint32(0, true) === EROFS_SUPER_MAGIC_V1;
}

/**
 * Mounts the EROFS image `source` at `mountpoint` with the kernel's EROFS driver, ocifs
 * serving its bytes. Needs root. Resolves once the mount is ready; on any failure nothing is
 * left mounted.
 */
export async function mountKernel(
  source: ByteSource,
  mountpoint: string,
  options: KernelMountOptions = {},
): Promise<KernelMount> {
  const conn = connectionOptions(options);
  if (options.via !== undefined && !['auto', 'file', 'loop'].includes(options.via))
    throw new InvalidOptionError('via', 'must be auto, file or loop');
  const mp = await checkMountpoint(mountpoint);
  if (process.getuid?.() !== 0) throw new NotRootError(mp);
  if (!(await looksLikeErofs(source))) throw new KernelNotErofsError(mp);

  const base = options.backingDir ?? join(defaultStateDir(), 'backing');
  await mkdir(base, { recursive: true, mode: 0o700 });
  const dir = await mkdtemp(join(base, 'blob-'));
  let fuse: Mount | undefined;
  try {
    // The kernel opens the backing file as root at mount time: no allow_other needed.
    const files = new BlobDirectory();
    files.add(BACKING_FILE_NAME, source);
    fuse = await mountFileSystem(files, dir, {
      ...conn,
      fsname: `${conn.fsname}#blob`,
      allowOther: false,
      ...(options.stats ? { stats: options.stats } : {}),
      ...(options.backend ? { backend: options.backend } : {}),
    });
    const file = join(dir, BACKING_FILE_NAME);
    const via = await mountErofsFile(file, mp, options.via ?? 'auto');
    debug('kernel mount of %s on %s via %s', file, mp, via);
    const fuseHandle = fuse;
    let done = false;
    return {
      mountpoint: mp,
      mode: 'kernel',
      via,
      backingFile: file,
      stats: fuseHandle.stats,
      async unmount({ lazy = true } = {}) {
        if (done) return;
        // The EROFS mount first: it holds the backing file open.
        await runUnmount(mp, { lazy, fuse: false });
        await fuseHandle.unmount({ lazy });
        await rmdir(dir).catch(() => {});
        done = true;
      },
    };
  } catch (err) {
    await fuse?.unmount({ lazy: true }).catch(() => {});
    await rmdir(dir).catch(() => {});
    throw err;
  }
}

/** The mount(2) helper of this process (started on the first file-backed mount). */
const syscalls = new MountSyscall();

/**
 * A file-backed EROFS mount (Linux ≥ 6.12): mount(2) with the file itself as the source.
 * mount(8) cannot do it — libmount puts a loop device under every regular file whose
 * filesystem type blkid knows — and Node has no mount(2) (see mount-syscall.ts).
 */
function fileBackedMount(file: string, mountpoint: string): Promise<MountResult> {
  return syscalls.mount(file, mountpoint, 'erofs', MS_RDONLY);
}

/** Starts the mount(2) helper ahead of a first {@link mountErofsFile} (a daemon about to mount layers). */
export function prepareErofsFileMounts(): void {
  syscalls.prepare();
}

/**
 * Mounts the EROFS image `file` (a file the kernel can read: a FUSE-served blob) at
 * `mountpoint`: file-backed first, then through a read-only loop device. Root only.
 */
export async function mountErofsFile(
  file: string,
  mountpoint: string,
  via: 'auto' | 'file' | 'loop',
): Promise<'file' | 'loop'> {
  let first = '';
  if (via !== 'loop') {
    const r = await fileBackedMount(file, mountpoint);
    if (r.ok) return 'file';
    debug('file-backed mount failed: %s', r.error);
    if (via === 'file') throw new MountFailedError(mountpoint, `file-backed mount: ${oneLine(r.error)}`);
    first = `file-backed: ${oneLine(r.error)}; with a loop device: `;
  }
  // mount(8) sets up the loop device read-only with autoclear, so umount frees it.
  const l = await exec('mount', ['-t', 'erofs', '-o', 'ro,loop', file, mountpoint], 120_000);
  if (l.code === 0) return 'loop';
  throw new MountFailedError(mountpoint, first + oneLine(l.stderr));
}

function oneLine(s: string): string {
  return s.replace(/\s+/g, ' ').trim() || 'mount failed';
}
