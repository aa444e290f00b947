/**
 * The extractor's writer thread (see `host-writer.ts`): it receives batches of operations and
 * performs them in order with synchronous calls — on this thread only, never on the event loop
 * — replacing a libuv thread-pool round trip per syscall by one message per batch.
 *
 * Paths longer than the kernel takes in one call (PATH_MAX, 4096 bytes — an image may nest
 * deeper: GNU tar extracts such trees with openat relative to the parent) are handed over as
 * `/proc/PID/fd/N/rest`: directories along the path are opened in pieces that fit, each
 * relative to the one before (`O_DIRECTORY|O_NOFOLLOW`), and the kernel resolves the rest from
 * the deepest, exactly as `openat(N, rest)` would. Node has no `*at` calls; `chdir` is
 * process-wide (every thread would move); the descriptor path needs only /proc, which the
 * `copy` operations use already. A few such directories stay open (least recently used closed).
 *
 * Safety rules kept here: files are opened `O_CREAT|O_EXCL|O_NOFOLLOW`; symlinks, links and
 * nodes are created, never written through; with `overwrite` an existing non-directory is
 * unlinked first and an existing directory is only reused as a directory, never replaced; once
 * an operation fails, no later one runs (they may depend on it).
 *
 * Messages: {@link ToHostWriter} in, {@link FromHostWriter} out (the batch's buffer handed back
 * for reuse); the reply to `closeAll` adds `busyMs`/`idleMs`, the thread's event-loop time
 * working and waiting for batches.
 *
 * @packageDocumentation
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import { constants as osConstants } from 'node:os';
import { performance } from 'node:perf_hooks';
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import type { EncodedSpan } from '../io/byte-source.js';
import type {
  FromHostWriter,
  HostErrorKind,
  HostWriterData,
  ToHostWriter,
  WireMeta,
  WireOp,
} from './host-writer-protocol.js';

const C = fs.constants;
const data0 = workerData as HostWriterData;
const DEST = data0.dest;
const UNSUPPORTED = new Set(data0.unsupported);
const ERRNO = new Map(Object.entries(osConstants.errno).map(([k, v]) => [v, k]));

/** A thrown value's `message`, else the value itself, as a string. */
function messageOf(err: unknown): string {
  const message: unknown = (err as { message?: unknown } | null | undefined)?.message;
  return String(message ?? err);
}

/**
 * Loads a native module by the absolute path the parent resolved (relative to itself: this
 * module's own URL may be a `data:` URL, see `io/worker-file.ts`).
 */
function loadNative(path: string): unknown {
  return createRequire(path)(path);
}

interface Xattr {
  setAttributeSync(path: string, name: string, value: Buffer): void;
}
let xattr: Xattr | null = null;
let xattrError: string | null = null;
if (!data0.xattrModule) xattrError = '@napi-rs/xattr is not installed';
else {
  try {
    xattr = loadNative(data0.xattrModule) as Xattr;
  } catch (e) {
    xattrError = messageOf(e);
  }
}
let lz4: ((b: Buffer) => Buffer) | null = null;
if (data0.lz4Module) {
  try {
    lz4 = (loadNative(data0.lz4Module) as { uncompressSync: (b: Buffer) => Buffer }).uncompressSync;
  } catch {
    // `lz4-block` spans are refused (the parent offers them only when the module loads there).
  }
}

class OpError extends Error {
  readonly errno: string | undefined;
  constructor(
    public path: string,
    readonly operation: string,
    err: unknown,
    readonly kind: HostErrorKind = 'io',
  ) {
    super(messageOf(err));
    this.errno = errnoOf(err);
  }
}

// Host paths longer than this (bytes) go through directory descriptors (see the module comment).
const PATH_LIMIT = 4000;
const MAX_DIR_FDS = 32;
const dirFds = new Map<string, number>();

function dirFd(prefix: string, openPath: string): number {
  let fd = dirFds.get(prefix);
  if (fd !== undefined) {
    dirFds.delete(prefix);
    dirFds.set(prefix, fd);
    return fd;
  }
  // (libuv opens every file close-on-exec.)
  const flags = C.O_RDONLY | C.O_DIRECTORY | C.O_NOFOLLOW;
  fd = attempt(`${DEST}/${prefix}`, 'open directory', () => fs.openSync(openPath, flags));
  dirFds.set(prefix, fd);
  return fd;
}

/**
 * Closes the least recently used directory descriptors; between operations only, never while one
 * resolves its paths.
 */
function trimDirFds(): void {
  for (const [prefix, fd] of dirFds) {
    if (dirFds.size <= MAX_DIR_FDS) break;
    dirFds.delete(prefix);
    closeQuietly(fd);
  }
}

/** The host path of `rel` (relative to DEST): itself when short enough, else through directory descriptors. */
function hostPath(rel: string): string {
  const full = rel === '' ? DEST : `${DEST}/${rel}`;
  if (Buffer.byteLength(full) < PATH_LIMIT) return full;
  const parts = rel.split('/');
  let dir = DEST;
  let prefix = '';
  let i = 0;
  for (;;) {
    const rest = parts.slice(i).join('/');
    if (Buffer.byteLength(dir) + 1 + Buffer.byteLength(rest) < PATH_LIMIT) return `${dir}/${rest}`;
    let j = i;
    let len = Buffer.byteLength(dir);
    while (j < parts.length - 1 && len + 1 + Buffer.byteLength(parts[j]) < PATH_LIMIT) {
      len += 1 + Buffer.byteLength(parts[j]);
      j++;
    }
    if (j === i) throw new OpError(full, 'resolve', new Error(`a path component longer than ${PATH_LIMIT} bytes`));
    const piece = parts.slice(i, j).join('/');
    prefix = prefix === '' ? piece : `${prefix}/${piece}`;
    dir = `/proc/${process.pid}/fd/${dirFd(prefix, `${dir}/${piece}`)}`;
    i = j;
  }
}

function closeQuietly(fd: number): void {
  try {
    fs.closeSync(fd);
  } catch {
    // Closing what is left: nothing to report.
  }
}

function errnoOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown })?.code;
  if (typeof code === 'string' && /^E[A-Z0-9]+$/.test(code)) return code;
  const m = /\(os error (\d+)\)/.exec(messageOf(err));
  return m ? ERRNO.get(Number(m[1])) : undefined;
}

function codeOf(err: unknown): unknown {
  return (err as { code?: unknown })?.code;
}

function attempt<T>(path: string, operation: string, f: () => T): T {
  try {
    return f();
  } catch (err) {
    if (err instanceof OpError) throw err;
    throw new OpError(path, operation, err);
  }
}

function existsOr<T>(path: string, operation: string, f: () => T): T {
  try {
    return f();
  } catch (err) {
    if (codeOf(err) === 'EEXIST') throw new OpError(path, operation, err, 'twice');
    throw new OpError(path, operation, err);
  }
}

function lstatOrNull(path: string): fs.Stats | null {
  try {
    return fs.lstatSync(path);
  } catch (err) {
    if (codeOf(err) === 'ENOENT') return null;
    throw new OpError(path, 'lstat', err);
  }
}

function makeRoom(op: { path: string; overwrite: boolean }): void {
  if (!op.overwrite) return;
  const st = lstatOrNull(op.path);
  if (!st) return;
  if (st.isDirectory()) {
    const why = new Error('is a directory on the host but not in the image (not deleted)');
    throw new OpError(op.path, 'replace', why, 'dir-conflict');
  }
  attempt(op.path, 'unlink', () => fs.unlinkSync(op.path));
}

function warn(out: FromHostWriter, kind: string, path: string, message: string): void {
  out.warnings.push({ kind, path, message });
}

function setXattrs(out: FromHostWriter, path: string, xattrs: [string, string][]): void {
  if (!xattr) {
    warn(out, 'xattr', path, `extended attributes cannot be set on this platform (${xattrError})`);
    return;
  }
  for (const [name, value] of xattrs) {
    try {
      xattr.setAttributeSync(path, name, Buffer.from(value, 'base64'));
    } catch (err) {
      const code = errnoOf(err);
      if (!code || !UNSUPPORTED.has(code)) throw new OpError(path, `setxattr ${name}`, err);
      const hint = data0.isRoot ? '' : ' (trusted. and security. need root)';
      warn(out, 'xattr', path, `xattr ${name} not kept: ${(err as Error).message}${hint}`);
    }
  }
}

function applyMeta(out: FromHostWriter, path: string, m: WireMeta, fd: number | undefined): void {
  if (m.chown) {
    try {
      if (fd !== undefined) fs.fchownSync(fd, m.uid, m.gid);
      else fs.lchownSync(path, m.uid, m.gid);
    } catch (err) {
      throw new OpError(path, data0.isRoot ? 'chown' : 'chown (owners need root)', err);
    }
  }
  if (m.chmod)
    attempt(path, 'chmod', () => (fd !== undefined ? fs.fchmodSync(fd, m.mode) : fs.chmodSync(path, m.mode)));
  if (m.xattrs && m.xattrs.length > 0) setXattrs(out, path, m.xattrs);
  const time = m.time;
  if (time !== undefined) {
    attempt(path, 'utimes', () =>
      fd !== undefined ? fs.futimesSync(fd, time, time) : fs.lutimesSync(path, time, time),
    );
  }
}

function writeAll(path: string, fd: number, bytes: Uint8Array, pos: number): void {
  let done = 0;
  while (done < bytes.byteLength) {
    done += attempt(path, 'write', () => fs.writeSync(fd, bytes, done, bytes.byteLength - done, pos + done));
  }
}

// Files that 'copy' spans come from, each opened once by this thread: '/proc/self/fd/N' makes a
// new open file of the file behind the parent's descriptor N (even one that was since renamed or
// unlinked), checked to be the same file (dev:ino) — a descriptor closed and reused meanwhile
// names another file and is refused, never read.
const sources = new Map<string, number>();
let copyBuf: Buffer | null = null;
const COPY_BUF = 1024 * 1024;

function sourceFd(path: string, span: EncodedSpan): number {
  const key = `${span.fd}/${span.fileId}`;
  const open = sources.get(key);
  if (open !== undefined) return open;
  // (libuv opens every file close-on-exec.)
  const fd = attempt(path, 'open source', () => fs.openSync(`/proc/self/fd/${span.fd}`, C.O_RDONLY));
  let id = '';
  try {
    const st = fs.fstatSync(fd, { bigint: true });
    id = `${st.dev}:${st.ino}`;
  } catch (err) {
    fs.closeSync(fd);
    throw new OpError(path, 'stat source', err);
  }
  if (id !== span.fileId) {
    fs.closeSync(fd);
    const why = `descriptor ${span.fd} no longer names the source file ${span.fileId} (it names ${id})`;
    throw new OpError(path, 'open source', new Error(why));
  }
  sources.set(key, fd);
  return fd;
}

// Raw bytes of one encoded span, read whole (4 spare bytes in front for the decoder's size prefix).
let rawBuf: Buffer | null = null;

function readFull(path: string, src: number, buf: Buffer, off: number, n: number, at: number, fileId: string): void {
  let done = 0;
  while (done < n) {
    const got = attempt(path, 'read source', () => fs.readSync(src, buf, off + done, n - done, at + done));
    if (got === 0) {
      throw new OpError(
        path,
        'read source',
        new Error(`source file ${fileId} ended at ${at + done}, expected ${at + n}`),
      );
    }
    done += got;
  }
}

// An LZ4 block after its 0-padding, decoded with lz4-napi as the reader's lz4 codec does: the
// result counts only if it is exactly decodedLength bytes.
function decodeSpan(path: string, fd: number, span: EncodedSpan, pos: number): number {
  if (span.encoding !== 'lz4-block' || lz4 === null)
    throw new OpError(path, 'decode', new Error(`cannot decode ${span.encoding}`));
  const n = span.length;
  if (rawBuf === null || rawBuf.length < n + 4) rawBuf = Buffer.allocUnsafeSlow(Math.max(n + 4, COPY_BUF));
  const raw = rawBuf;
  readFull(path, sourceFd(path, span), raw, 4, n, span.position, span.fileId);
  const limit = Math.min(n, span.zeroPadLimit ?? 0);
  let i = 0;
  while (i < limit && raw[4 + i] === 0) i++;
  const corrupt = (why: string) =>
    new OpError(path, 'decode', new Error(`lz4 block at ${span.position} ${why}`), 'corrupt');
  if (i === n || raw[4 + i] === 0) throw corrupt('holds only zero padding');
  // lz4-napi takes the decoded size as a 4-byte little-endian prefix: written over the padding.
  const decodedLength = span.decodedLength ?? 0;
  raw.writeUInt32LE(decodedLength, i);
  let out: Buffer;
  try {
    out = lz4(raw.subarray(i, 4 + n));
  } catch (err) {
    throw corrupt(`does not decode: ${(err as Error)?.message ?? String(err)}`);
  }
  if (out.length !== decodedLength) throw corrupt(`decodes to ${out.length} bytes, expected ${decodedLength}`);
  writeAll(path, fd, out, pos);
  return out.length;
}

function copySpans(path: string, fd: number, spans: EncodedSpan[]): number {
  let pos = 0;
  for (const span of spans) {
    if (span.encoding !== undefined) {
      pos += decodeSpan(path, fd, span, pos);
      continue;
    }
    const src = sourceFd(path, span);
    copyBuf ??= Buffer.allocUnsafeSlow(COPY_BUF);
    const buf = copyBuf;
    let left = span.length;
    let at = span.position;
    while (left > 0) {
      const want = Math.min(left, COPY_BUF);
      const n = attempt(path, 'read source', () => fs.readSync(src, buf, 0, want, at));
      if (n === 0)
        throw new OpError(
          path,
          'read source',
          new Error(`source file ${span.fileId} ended at ${at}, expected ${at + left}`),
        );
      writeAll(path, fd, buf.subarray(0, n), pos);
      pos += n;
      at += n;
      left -= n;
    }
  }
  return pos;
}

const FILE_FLAGS = C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW;
/** Files opened by `open` and written by `write` until their `close`. */
const fds = new Map<number, { fd: number; path: string }>();

function openFile(op: { path: string; createMode: number; overwrite: boolean }): number {
  makeRoom(op);
  return existsOr(op.path, 'create', () => fs.openSync(op.path, FILE_FLAGS, op.createMode));
}

function mkdir(op: { path: string; overwrite: boolean }): void {
  try {
    fs.mkdirSync(op.path, 0o700);
    return;
  } catch (err) {
    if (codeOf(err) !== 'EEXIST') throw new OpError(op.path, 'mkdir', err);
    if (!op.overwrite) throw new OpError(op.path, 'mkdir', err, 'twice');
  }
  const st = lstatOrNull(op.path);
  if (st?.isDirectory()) return;
  // A file or symlink where the image has a directory: replaced, never descended through.
  if (st) attempt(op.path, 'unlink', () => fs.unlinkSync(op.path));
  attempt(op.path, 'mkdir', () => fs.mkdirSync(op.path, 0o700));
}

function special(op: Extract<WireOp, { op: 'special' }>): void {
  makeRoom(op);
  const [cmd, args] =
    op.kind === 'fifo'
      ? ['mkfifo', ['-m', '600', '--', op.path]]
      : ['mknod', ['-m', '600', '--', op.path, op.kind === 'chardev' ? 'c' : 'b', String(op.major), String(op.minor)]];
  try {
    execFileSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, LC_ALL: 'C' } });
  } catch (err) {
    const e = err as { stderr?: Buffer; message?: string; code?: unknown };
    const text = String(e.stderr || e.message || err).trim();
    if (/File exists/.test(text))
      throw new OpError(op.path, cmd, Object.assign(new Error(text), { code: 'EEXIST' }), 'twice');
    throw new OpError(op.path, cmd, new Error(e.code === 'ENOENT' ? `${cmd} is not installed (coreutils)` : text));
  }
}

function run(out: FromHostWriter, op: WireOp, data: Uint8Array): void {
  switch (op.op) {
    case 'mkdir':
      mkdir(op);
      return;
    case 'file': {
      const fd = openFile(op);
      try {
        if (op.length > 0) writeAll(op.path, fd, data.subarray(op.offset, op.offset + op.length), 0);
        applyMeta(out, op.path, op.meta, fd);
      } finally {
        fs.closeSync(fd);
      }
      out.bytes += op.length;
      out.files++;
      return;
    }
    case 'copy': {
      const fd = openFile(op);
      let n = 0;
      try {
        n = copySpans(op.path, fd, op.spans);
        applyMeta(out, op.path, op.meta, fd);
      } finally {
        fs.closeSync(fd);
      }
      out.bytes += n;
      out.files++;
      return;
    }
    case 'open':
      fds.set(op.handle, { fd: openFile(op), path: op.path });
      return;
    case 'write': {
      const h = fds.get(op.handle)!;
      writeAll(h.path, h.fd, data.subarray(op.offset, op.offset + op.length), op.pos);
      out.bytes += op.length;
      return;
    }
    case 'close': {
      const h = fds.get(op.handle)!;
      fds.delete(op.handle);
      try {
        applyMeta(out, h.path, op.meta, h.fd);
      } finally {
        fs.closeSync(h.fd);
      }
      out.files++;
      return;
    }
    case 'symlink':
      makeRoom(op);
      existsOr(op.path, 'symlink', () => fs.symlinkSync(op.target, op.path));
      applyMeta(out, op.path, op.meta, undefined);
      return;
    case 'link':
      makeRoom(op);
      existsOr(op.path, 'link', () => fs.linkSync(op.target, op.path));
      return;
    case 'special':
      special(op);
      applyMeta(out, op.path, op.meta, undefined);
      return;
    case 'meta':
      applyMeta(out, op.path, op.meta, undefined);
      return;
  }
}

// After a failed operation nothing more is done: batches already on their way may hold
// operations that relied on it (a file inside a directory whose mkdir failed because a symlink
// of the same name was there: O_NOFOLLOW guards only the last component of a path). With
// several writer threads the flag is shared: progress[0] != 0 stops them all.
let failed = false;
const progress = data0.progress ? new Int32Array(data0.progress) : null;
const INDEX = data0.index;

function aborted(): boolean {
  return failed || (progress !== null && Atomics.load(progress, 0) !== 0);
}

function abortAll(): void {
  failed = true;
  if (progress === null) return;
  Atomics.store(progress, 0, 1);
  for (let i = 1; i < progress.length; i++) Atomics.notify(progress, i);
}

// An operation another thread depends on (its parent directory, a hardlink's target) is done
// when that thread has published a sequence number at least as high.
function waitFor(path: string, after: [number, number][]): void {
  if (progress === null) return;
  for (const [w, seq] of after) {
    for (;;) {
      const cur = Atomics.load(progress, 1 + w);
      if (cur >= seq) break;
      if (Atomics.load(progress, 0) !== 0)
        throw new OpError(path, 'wait', new Error('another writer thread failed'), 'dep');
      Atomics.wait(progress, 1 + w, cur, 1000);
    }
  }
}

function closeAll(out: FromHostWriter): void {
  for (const h of fds.values()) closeQuietly(h.fd);
  fds.clear();
  for (const fd of sources.values()) closeQuietly(fd);
  sources.clear();
  for (const fd of dirFds.values()) closeQuietly(fd);
  dirFds.clear();
  const elu = performance.eventLoopUtilization();
  out.busyMs = elu.active;
  out.idleMs = elu.idle;
}

/**
 * Runs one operation. Paths travel relative to DEST (`''` is DEST itself); a hardlink's target
 * too, a symlink's never. Errors name the path under DEST, even when the call went through a
 * directory descriptor.
 */
function runOne(out: FromHostWriter, op: WireOp, data: Uint8Array): void {
  const shown = 'path' in op ? (op.path === '' ? DEST : `${DEST}/${op.path}`) : undefined;
  trimDirFds();
  try {
    if ('path' in op) op.path = hostPath(op.path);
    if (op.op === 'link') op.target = hostPath(op.target);
    if (op.after !== undefined) waitFor('path' in op ? op.path : '?', op.after);
    run(out, op, data);
  } catch (err) {
    if (err instanceof OpError && shown !== undefined && 'path' in op && err.path === op.path) err.path = shown;
    throw err;
  }
}

function onBatch(port: MessagePort, msg: Extract<ToHostWriter, { ops: string }>): void {
  const out: FromHostWriter = { id: msg.id, bytes: 0, files: 0, warnings: [] };
  const data = msg.data ? new Uint8Array(msg.data, 0, msg.length) : new Uint8Array(0);
  const reply = () => {
    if (msg.data) {
      out.data = msg.data;
      port.postMessage(out, [msg.data]);
    } else port.postMessage(out);
  };
  if (aborted()) return reply();
  try {
    for (const op of JSON.parse(msg.ops) as WireOp[]) {
      runOne(out, op, data);
      if (op.mark && progress !== null && op.seq !== undefined) {
        Atomics.store(progress, 1 + INDEX, op.seq);
        Atomics.notify(progress, 1 + INDEX);
      }
    }
  } catch (err) {
    abortAll();
    const e = err instanceof OpError ? err : new OpError('?', 'write', err);
    out.error = { path: e.path, operation: e.operation, kind: e.kind, errno: e.errno, message: e.message };
  }
  reply();
}

const port = parentPort;
port?.on('message', (msg: ToHostWriter) => {
  if ('closeAll' in msg) {
    const out: FromHostWriter = { id: msg.id, bytes: 0, files: 0, warnings: [] };
    closeAll(out);
    port.postMessage(out);
  } else onBatch(port, msg);
});
