/**
 * Host facts the extractor needs that Node has no API for.
 *
 * Extended attributes are set with `@napi-rs/xattr` (a prebuilt N-API binary, no install
 * script; its calls are `lsetxattr`/`llistxattr`, which never follow a symlink): ~5 µs per
 * attribute, against ~1.5 ms for a `setfattr` child process per file. Fifos and device nodes
 * are made with coreutils' `mkfifo`/`mknod` (Node has no mknod): images hold few of them (a
 * base image's /dev is empty), so a child process per node is fine. Both run on the writer
 * thread (`host-writer-worker.ts`).
 *
 * @packageDocumentation
 */

/** errno codes that mean "this host or filesystem cannot keep this attribute": a warning, not a failure. */
export const UNSUPPORTED_ERRNOS: ReadonlySet<string> = new Set([
  'ENOTSUP',
  'EOPNOTSUPP',
  'EPERM',
  'EACCES',
  'EINVAL',
  'E2BIG',
  'ENOSPC',
  'ERANGE',
]);

/** The umask from /proc/self/status (`process.umask()` without an argument is deprecated). */
export async function readUmask(): Promise<number | undefined> {
  const { readFile } = await import('node:fs/promises');
  try {
    const m = /^Umask:\s*([0-7]+)$/m.exec(await readFile('/proc/self/status', 'utf8'));
    return m ? parseInt(m[1], 8) : undefined;
  } catch {
    return undefined;
  }
}
