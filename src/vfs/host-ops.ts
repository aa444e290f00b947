/**
 * The host operations Node has no API for, used by the extractor:
 *
 * - extended attributes: `@napi-rs/xattr` (a prebuilt N-API binary, no install script), whose
 *   calls are `lsetxattr`/`llistxattr` — they never follow a symlink. ~5 µs per attribute,
 *   against ~1.5 ms for a `setfattr` child process per file.
 * - fifos and device nodes: coreutils' `mkfifo` and `mknod` as child processes (Node has no
 *   mknod). Images hold few of them (a base image's /dev is empty), so a process per node is
 *   fine; the path is absolute and passed after `--`, and mknod(2) never follows a final symlink.
 *
 * @packageDocumentation
 */
import { execFile } from 'node:child_process';
import { constants } from 'node:os';
import { debuglog } from 'node:util';
import { OcifsError } from '../errors.js';

const debug = debuglog('ocifs:extract');

interface XattrModule {
  setAttribute(path: string, name: string, value: Buffer | string): Promise<void>;
  listAttributes(path: string): Promise<string[]>;
}

let xattrModule: Promise<XattrModule | undefined> | undefined;

/** The xattr binding, or undefined when it cannot load on this platform. */
export function loadXattr(): Promise<XattrModule | undefined> {
  xattrModule ??= import('@napi-rs/xattr').then(
    (m) => m as XattrModule,
    (err) => {
      debug('xattr binding unavailable: %s', err);
      return undefined;
    },
  );
  return xattrModule;
}

const ERRNO_NAMES = new Map<number, string>(Object.entries(constants.errno).map(([k, v]) => [v, k]));

/** errno codes that mean "this host or filesystem cannot keep this attribute", not a failure of ours. */
const UNSUPPORTED = new Set(['ENOTSUP', 'EOPNOTSUPP', 'EPERM', 'EACCES', 'EINVAL', 'E2BIG', 'ENOSPC']);

/** The errno code of an error thrown by fs or the xattr binding (which puts it in the message). */
export function errnoOf(err: unknown): string | undefined {
  const e = err as { code?: unknown; message?: unknown };
  if (typeof e?.code === 'string' && /^E[A-Z0-9]+$/.test(e.code)) return e.code;
  if (typeof e?.message !== 'string') return undefined;
  // The Rust binding reports "Operation not supported (os error 95)".
  const os = /\(os error (\d+)\)/.exec(e.message);
  if (os) return ERRNO_NAMES.get(Number(os[1]));
  return /\b(E[A-Z0-9]{2,})\b/.exec(e.message)?.[1];
}

/** True when a failed attribute or ownership change is the host's limit (to warn about, not fail). */
export function isUnsupported(err: unknown): boolean {
  const code = errnoOf(err);
  return code !== undefined && UNSUPPORTED.has(code);
}

/** Sets one extended attribute on `path` itself (never through a symlink). */
export async function setXattr(mod: XattrModule, path: string, name: string, value: Uint8Array): Promise<void> {
  await mod.setAttribute(path, name, Buffer.from(value.buffer, value.byteOffset, value.byteLength));
}

/** A special file could not be made by the helper tool. */
export class SpecialFileError extends OcifsError {
  constructor(path: string, detail: string, options: { cause?: unknown; errno?: string } = {}) {
    super('ERR_OCIFS_EXTRACT_SPECIAL', `${path}: cannot create special file: ${detail}`, {
      cause: options.cause,
      data: { path, errno: options.errno },
    });
  }
}

/** Creates a fifo or a device node at `path` (mode bits are set later by chmod). */
export async function makeSpecial(path: string, type: 'fifo' | 'chardev' | 'blockdev', major: number, minor: number, signal?: AbortSignal): Promise<void> {
  const [cmd, args] =
    type === 'fifo' ? ['mkfifo', ['-m', '600', '--', path]] : ['mknod', ['-m', '600', '--', path, type === 'chardev' ? 'c' : 'b', String(major), String(minor)]];
  await new Promise<void>((resolve, reject) => {
    execFile(cmd, args, { signal, env: { ...process.env, LC_ALL: 'C' } }, (err, _stdout, stderr) => {
      if (!err) return resolve();
      const text = String(stderr).trim() || String(err.message);
      const errno = /Operation not permitted/.test(text) ? 'EPERM' : /File exists/.test(text) ? 'EEXIST' : (err as { code?: string }).code === 'ENOENT' ? 'ENOENT_TOOL' : undefined;
      reject(new SpecialFileError(path, errno === 'ENOENT_TOOL' ? `${cmd} is not installed (coreutils)` : text, { cause: err, errno }));
    });
  });
}

/** `major`/`minor` of a Linux `st_rdev` (glibc's encoding). */
export function splitRdev(rdev: number): [number, number] {
  const d = BigInt(rdev);
  const major = ((d >> 8n) & 0xfffn) | ((d >> 32n) & 0xfffff000n);
  const minor = (d & 0xffn) | ((d >> 12n) & 0xffffff00n);
  return [Number(major), Number(minor)];
}
