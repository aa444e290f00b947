/**
 * Options shared by both mount modes, their defaults, and the {@link Mount} handle.
 *
 * @packageDocumentation
 */
import { InvalidOptionError } from '../errors.js';
import type { FuseConnectionOptions } from './fuse-binding.js';
import type { MountStats } from './mount-stats.js';

/**
 * Seconds the kernel may cache names, attributes and negative lookups. The image is immutable,
 * so a day is safe; the kernel still evicts under memory pressure.
 */
export const DEFAULT_CACHE_TIMEOUT = 86_400;
/** Largest FUSE read request; libfuse 2 cannot negotiate more than 128 KiB pages per request. */
export const DEFAULT_MAX_READ = 128 * 1024;
/** Kernel readahead window: several 128 KiB requests in flight for sequential readers. */
export const DEFAULT_MAX_READAHEAD = 1024 * 1024;
/** A FUSE request not answered in this time fails with EIO instead of blocking its reader. */
export const DEFAULT_OPERATION_TIMEOUT_MS = 120_000;

/** Options of {@link mountFileSystem} and {@link mountKernel}. */
export interface MountOptions {
  /** Allow users other than the one who mounted (FUSE `allow_other`). Default false. */
  allowOther?: boolean;
  /** Name shown as the source in /proc/mounts (e.g. the image reference). Default `ocifs`. */
  fsname?: string;
  /** Seconds the kernel caches names and attributes. Default {@link DEFAULT_CACHE_TIMEOUT}. */
  cacheTimeout?: number;
  /**
   * Largest read request in bytes, libfuse backend (the raw backend asks for 1 MiB). Default {@link
   * DEFAULT_MAX_READ}.
   */
  maxRead?: number;
  /** Readahead window in bytes. Default {@link DEFAULT_MAX_READAHEAD}. */
  maxReadahead?: number;
  /** Milliseconds after which an unanswered request fails with EIO. Default {@link DEFAULT_OPERATION_TIMEOUT_MS}. */
  operationTimeoutMs?: number;
  /** libfuse debug output on stderr. Default false. */
  debug?: boolean;
  /**
   * Honour setuid/setgid bits of the image's files (no `nosuid`). Default false: a mount a
   * user browses should not hand out the image's privileges. A container runtime that stacks
   * the mount under overlayfs as a layer wants them, as an unpacked layer has them.
   */
  suid?: boolean;
  /** Honour device files (no `nodev`). Default false; see {@link suid}. */
  dev?: boolean;
  /**
   * The tree has no extended attributes at all: the raw backend then answers the first
   * getxattr/listxattr with ENOSYS, and the kernel never asks again. The kernel does not cache
   * xattrs, and overlayfs asks for its own on every lower directory it looks through, so for a
   * layer under overlayfs this saves a round trip per directory lookup (a warm `python3`
   * start took 2–4x longer with them). Wrong when the tree has any: they would vanish.
   */
  noXattrs?: boolean;
  /** Counters to update (a new one when absent). */
  stats?: MountStats;
}

/** A mounted image. */
export interface Mount {
  /** Canonical absolute path of the mountpoint. */
  readonly mountpoint: string;
  /** `tree`: FUSE file tree; `kernel`: the kernel's EROFS driver over a FUSE-served blob. */
  readonly mode: 'tree' | 'kernel';
  /** What the mount has served so far. */
  readonly stats: MountStats;
  /** Unmounts; with `lazy` (default true) a busy mount is detached instead of failing. Idempotent. */
  unmount(options?: { lazy?: boolean }): Promise<void>;
}

function positiveInt(name: string, value: number | undefined, fallback: number, max = Number.MAX_SAFE_INTEGER): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 1 || value > max)
    throw new InvalidOptionError(name, `must be an integer from 1 to ${max}`);
  return value;
}

/** Validates options and fills defaults, refusing bad values by name. */
export function connectionOptions(o: MountOptions): FuseConnectionOptions {
  if (o.fsname !== undefined && (typeof o.fsname !== 'string' || o.fsname.length === 0)) {
    throw new InvalidOptionError('fsname', 'must be a non-empty string');
  }
  return {
    fsname: o.fsname ?? 'ocifs',
    allowOther: o.allowOther ?? false,
    cacheTimeout: positiveInt('cacheTimeout', o.cacheTimeout, DEFAULT_CACHE_TIMEOUT, 365 * 86_400),
    maxRead: positiveInt('maxRead', o.maxRead, DEFAULT_MAX_READ, 1 << 20),
    maxReadahead: positiveInt('maxReadahead', o.maxReadahead, DEFAULT_MAX_READAHEAD, 64 << 20),
    operationTimeoutMs: positiveInt('operationTimeoutMs', o.operationTimeoutMs, DEFAULT_OPERATION_TIMEOUT_MS),
    debug: o.debug ?? false,
    ...(o.suid ? { suid: true } : {}),
    ...(o.dev ? { dev: true } : {}),
    ...(o.noXattrs ? { noXattrs: true } : {}),
  };
}
