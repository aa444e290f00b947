/**
 * The source of the extractor's writer thread (see `host-writer.ts`), run with
 * `new Worker(source, { eval: true })` so the same text works from TypeScript sources and from
 * the built package. Plain CommonJS; it receives batches of operations and performs them in
 * order with synchronous calls — on this thread only, never on the event loop — replacing a
 * libuv thread-pool round trip per syscall by one message per batch.
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
 * Messages in: `{ id, ops: JSON of Op[] (xattr values in base64), data?: ArrayBuffer, length }` (file bytes packed in `data`,
 * `ops` refer to offsets; `copy` ops name spans of the parent's open files instead), or
 * `{ id, closeAll: true }` (also closes the source files it opened; its reply adds `busyMs`/`idleMs`,
 * the thread's event-loop time working and waiting for batches). Out: `{ id, bytes, files,
 * warnings, error?, data }` (the buffer handed back for reuse).
 *
 * @packageDocumentation
 */

/** The writer thread's program (CommonJS, evaluated in a Worker). */
export const HOST_WRITER_WORKER_SOURCE = String.raw`
'use strict';
const { parentPort, workerData } = require('node:worker_threads');
const fs = require('node:fs');
const { execFileSync } = require('node:child_process');
const C = fs.constants;
let xattr = null;
let xattrError = null;
try { xattr = require(workerData.xattrModule); } catch (e) { xattrError = String(e && e.message || e); }
const UNSUPPORTED = new Set(workerData.unsupported);
const ERRNO = new Map(Object.entries(require('node:os').constants.errno).map(([k, v]) => [v, k]));
const fds = new Map();
const DEST = workerData.dest;

// Host paths longer than this (bytes) go through directory descriptors (see the module comment).
const PATH_LIMIT = 4000;
const MAX_DIR_FDS = 32;
const dirFds = new Map();
function dirFd(prefix, openPath) {
  let fd = dirFds.get(prefix);
  if (fd !== undefined) { dirFds.delete(prefix); dirFds.set(prefix, fd); return fd; }
  fd = attempt(DEST + '/' + prefix, 'open directory', () => fs.openSync(openPath, C.O_RDONLY | C.O_DIRECTORY | C.O_NOFOLLOW | C.O_CLOEXEC));
  dirFds.set(prefix, fd);
  return fd;
}
// Closes the least recently used directory descriptors; called between operations only, never
// while one is resolving its paths.
function trimDirFds() {
  while (dirFds.size > MAX_DIR_FDS) {
    const [prefix, fd] = dirFds.entries().next().value;
    dirFds.delete(prefix);
    try { fs.closeSync(fd); } catch {}
  }
}
function hostPath(rel) {
  const full = rel === '' ? DEST : DEST + '/' + rel;
  if (Buffer.byteLength(full) < PATH_LIMIT) return full;
  const parts = rel.split('/');
  let dir = DEST;
  let prefix = '';
  let i = 0;
  for (;;) {
    const rest = parts.slice(i).join('/');
    if (Buffer.byteLength(dir) + 1 + Buffer.byteLength(rest) < PATH_LIMIT) return dir + '/' + rest;
    let j = i;
    let len = Buffer.byteLength(dir);
    while (j < parts.length - 1 && len + 1 + Buffer.byteLength(parts[j]) < PATH_LIMIT) { len += 1 + Buffer.byteLength(parts[j]); j++; }
    if (j === i) throw new OpError(full, 'resolve', new Error('a path component longer than ' + PATH_LIMIT + ' bytes'));
    const piece = parts.slice(i, j).join('/');
    prefix = prefix === '' ? piece : prefix + '/' + piece;
    dir = '/proc/' + process.pid + '/fd/' + dirFd(prefix, dir + '/' + piece);
    i = j;
  }
}

class OpError extends Error {
  constructor(path, operation, err, kind) {
    super(String(err && err.message || err));
    this.path = path; this.operation = operation; this.kind = kind || 'io';
    this.errno = errnoOf(err);
  }
}
function errnoOf(err) {
  if (err && typeof err.code === 'string' && /^E[A-Z0-9]+$/.test(err.code)) return err.code;
  const m = /\(os error (\d+)\)/.exec(String(err && err.message || ''));
  return m ? ERRNO.get(Number(m[1])) : undefined;
}
function attempt(path, operation, f) {
  try { return f(); } catch (err) { if (err instanceof OpError) throw err; throw new OpError(path, operation, err); }
}
function existsOr(path, operation, f) {
  try { return f(); } catch (err) {
    if (err && err.code === 'EEXIST') throw new OpError(path, operation, err, 'twice');
    throw new OpError(path, operation, err);
  }
}
function lstatOrNull(path) {
  try { return fs.lstatSync(path); } catch (err) { if (err && err.code === 'ENOENT') return null; throw new OpError(path, 'lstat', err); }
}
function makeRoom(op) {
  if (!op.overwrite) return;
  const st = lstatOrNull(op.path);
  if (!st) return;
  if (st.isDirectory()) throw new OpError(op.path, 'replace', new Error('is a directory on the host but not in the image (not deleted)'), 'dir-conflict');
  attempt(op.path, 'unlink', () => fs.unlinkSync(op.path));
}
function warn(out, kind, path, message) { out.warnings.push({ kind, path, message }); }

function applyMeta(out, path, m, fd) {
  if (m.chown) {
    try { fd !== undefined ? fs.fchownSync(fd, m.uid, m.gid) : fs.lchownSync(path, m.uid, m.gid); }
    catch (err) { throw new OpError(path, workerData.isRoot ? 'chown' : 'chown (owners need root)', err); }
  }
  if (m.chmod) attempt(path, 'chmod', () => fd !== undefined ? fs.fchmodSync(fd, m.mode) : fs.chmodSync(path, m.mode));
  if (m.xattrs && m.xattrs.length) {
    if (!xattr) warn(out, 'xattr', path, 'extended attributes cannot be set on this platform (' + xattrError + ')');
    else for (const [name, value] of m.xattrs) {
      try { xattr.setAttributeSync(path, name, Buffer.from(value, 'base64')); }
      catch (err) {
        const code = errnoOf(err);
        if (!code || !UNSUPPORTED.has(code)) throw new OpError(path, 'setxattr ' + name, err);
        warn(out, 'xattr', path, 'xattr ' + name + ' not kept: ' + err.message + (workerData.isRoot ? '' : ' (trusted. and security. need root)'));
      }
    }
  }
  if (m.time !== undefined) attempt(path, 'utimes', () => fd !== undefined ? fs.futimesSync(fd, m.time, m.time) : fs.lutimesSync(path, m.time, m.time));
}

function writeAll(path, fd, bytes, pos) {
  let done = 0;
  while (done < bytes.byteLength) done += attempt(path, 'write', () => fs.writeSync(fd, bytes, done, bytes.byteLength - done, pos + done));
}

// Files that 'copy' spans come from, each opened once by this thread: '/proc/self/fd/N' makes a
// new open file of the file behind the parent's descriptor N (even one that was since renamed or
// unlinked), checked to be the same file (dev:ino) — a descriptor closed and reused meanwhile
// names another file and is refused, never read.
const sources = new Map();
let copyBuf = null;
const COPY_BUF = 1024 * 1024;

function sourceFd(path, span) {
  const key = span.fd + '/' + span.fileId;
  let fd = sources.get(key);
  if (fd !== undefined) return fd;
  fd = attempt(path, 'open source', () => fs.openSync('/proc/self/fd/' + span.fd, C.O_RDONLY | C.O_CLOEXEC));
  let id = '';
  try { const st = fs.fstatSync(fd, { bigint: true }); id = st.dev + ':' + st.ino; } catch (err) { fs.closeSync(fd); throw new OpError(path, 'stat source', err); }
  if (id !== span.fileId) {
    fs.closeSync(fd);
    throw new OpError(path, 'open source', new Error('descriptor ' + span.fd + ' no longer names the source file ' + span.fileId + ' (it names ' + id + ')'));
  }
  sources.set(key, fd);
  return fd;
}

// Raw bytes of one encoded span, read whole (4 spare bytes in front for the decoder's size prefix).
let rawBuf = null;
let lz4 = null;
if (workerData.lz4Module) { try { lz4 = require(workerData.lz4Module).uncompressSync; } catch {} }

function readFull(path, src, buf, off, n, at, fileId) {
  let done = 0;
  while (done < n) {
    const got = attempt(path, 'read source', () => fs.readSync(src, buf, off + done, n - done, at + done));
    if (got === 0) throw new OpError(path, 'read source', new Error('source file ' + fileId + ' ended at ' + (at + done) + ', expected ' + (at + n)));
    done += got;
  }
}

// An LZ4 block after its 0-padding, decoded with lz4-napi as the reader's lz4 codec does: the
// result counts only if it is exactly decodedLength bytes.
function decodeSpan(path, fd, span, pos) {
  if (span.encoding !== 'lz4-block' || lz4 === null) throw new OpError(path, 'decode', new Error('cannot decode ' + span.encoding));
  const n = span.length;
  if (rawBuf === null || rawBuf.length < n + 4) rawBuf = Buffer.allocUnsafeSlow(Math.max(n + 4, COPY_BUF));
  readFull(path, sourceFd(path, span), rawBuf, 4, n, span.position, span.fileId);
  const limit = Math.min(n, span.zeroPadLimit || 0);
  let i = 0;
  while (i < limit && rawBuf[4 + i] === 0) i++;
  if (i === n || rawBuf[4 + i] === 0) throw new OpError(path, 'decode', new Error('lz4 block at ' + span.position + ' holds only zero padding'), 'corrupt');
  // lz4-napi takes the decoded size as a 4-byte little-endian prefix: written over the padding.
  rawBuf.writeUInt32LE(span.decodedLength, i);
  let out;
  try { out = lz4(rawBuf.subarray(i, 4 + n)); } catch (err) { throw new OpError(path, 'decode', new Error('lz4 block at ' + span.position + ' does not decode: ' + (err && err.message || err)), 'corrupt'); }
  if (out.length !== span.decodedLength) throw new OpError(path, 'decode', new Error('lz4 block at ' + span.position + ' decodes to ' + out.length + ' bytes, expected ' + span.decodedLength), 'corrupt');
  writeAll(path, fd, out, pos);
  return out.length;
}

function copySpans(path, fd, spans) {
  let pos = 0;
  for (const span of spans) {
    if (span.encoding !== undefined) { pos += decodeSpan(path, fd, span, pos); continue; }
    const src = sourceFd(path, span);
    if (copyBuf === null) copyBuf = Buffer.allocUnsafeSlow(COPY_BUF);
    let left = span.length;
    let at = span.position;
    while (left > 0) {
      const want = Math.min(left, COPY_BUF);
      const n = attempt(path, 'read source', () => fs.readSync(src, copyBuf, 0, want, at));
      if (n === 0) throw new OpError(path, 'read source', new Error('source file ' + span.fileId + ' ended at ' + at + ', expected ' + (at + left)));
      writeAll(path, fd, copyBuf.subarray(0, n), pos);
      pos += n; at += n; left -= n;
    }
  }
  return pos;
}

const FILE_FLAGS = C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW;

function run(out, op, data) {
  switch (op.op) {
    case 'mkdir': {
      try { fs.mkdirSync(op.path, 0o700); return; } catch (err) {
        if (!err || err.code !== 'EEXIST') throw new OpError(op.path, 'mkdir', err);
        if (!op.overwrite) throw new OpError(op.path, 'mkdir', err, 'twice');
      }
      const st = lstatOrNull(op.path);
      if (st && st.isDirectory()) return;
      // A file or symlink where the image has a directory: replaced, never descended through.
      if (st) attempt(op.path, 'unlink', () => fs.unlinkSync(op.path));
      attempt(op.path, 'mkdir', () => fs.mkdirSync(op.path, 0o700));
      return;
    }
    case 'file': {
      makeRoom(op);
      const fd = existsOr(op.path, 'create', () => fs.openSync(op.path, FILE_FLAGS, op.createMode));
      try {
        if (op.length > 0) writeAll(op.path, fd, data.subarray(op.offset, op.offset + op.length), 0);
        applyMeta(out, op.path, op.meta, fd);
      } finally { fs.closeSync(fd); }
      out.bytes += op.length; out.files++;
      return;
    }
    case 'copy': {
      makeRoom(op);
      const fd = existsOr(op.path, 'create', () => fs.openSync(op.path, FILE_FLAGS, op.createMode));
      let n = 0;
      try {
        n = copySpans(op.path, fd, op.spans);
        applyMeta(out, op.path, op.meta, fd);
      } finally { fs.closeSync(fd); }
      out.bytes += n; out.files++;
      return;
    }
    case 'open': {
      makeRoom(op);
      fds.set(op.handle, { fd: existsOr(op.path, 'create', () => fs.openSync(op.path, FILE_FLAGS, op.createMode)), path: op.path });
      return;
    }
    case 'write': {
      const h = fds.get(op.handle);
      writeAll(h.path, h.fd, data.subarray(op.offset, op.offset + op.length), op.pos);
      out.bytes += op.length;
      return;
    }
    case 'close': {
      const h = fds.get(op.handle);
      fds.delete(op.handle);
      try { applyMeta(out, h.path, op.meta, h.fd); } finally { fs.closeSync(h.fd); }
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
    case 'special': {
      makeRoom(op);
      const args = op.kind === 'fifo' ? ['mkfifo', ['-m', '600', '--', op.path]] : ['mknod', ['-m', '600', '--', op.path, op.kind === 'chardev' ? 'c' : 'b', String(op.major), String(op.minor)]];
      try { execFileSync(args[0], args[1], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, LC_ALL: 'C' } }); }
      catch (err) {
        const text = String(err.stderr || err.message || err).trim();
        if (/File exists/.test(text)) throw new OpError(op.path, args[0], Object.assign(new Error(text), { code: 'EEXIST' }), 'twice');
        throw new OpError(op.path, args[0], new Error(err.code === 'ENOENT' ? args[0] + ' is not installed (coreutils)' : text));
      }
      applyMeta(out, op.path, op.meta, undefined);
      return;
    }
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
const progress = workerData.progress ? new Int32Array(workerData.progress) : null;
const INDEX = workerData.index;
function aborted() { return failed || (progress !== null && Atomics.load(progress, 0) !== 0); }
function abortAll() {
  failed = true;
  if (progress === null) return;
  Atomics.store(progress, 0, 1);
  for (let i = 1; i < progress.length; i++) Atomics.notify(progress, i);
}
// An operation another thread depends on (its parent directory, a hardlink's target) is done
// when that thread has published a sequence number at least as high.
function waitFor(path, after) {
  for (const [w, seq] of after) {
    for (;;) {
      const cur = Atomics.load(progress, 1 + w);
      if (cur >= seq) break;
      if (Atomics.load(progress, 0) !== 0) throw new OpError(path, 'wait', new Error('another writer thread failed'), 'dep');
      Atomics.wait(progress, 1 + w, cur, 1000);
    }
  }
}

parentPort.on('message', (msg) => {
  const out = { id: msg.id, bytes: 0, files: 0, warnings: [] };
  if (msg.closeAll) {
    for (const h of fds.values()) { try { fs.closeSync(h.fd); } catch {} }
    fds.clear();
    for (const fd of sources.values()) { try { fs.closeSync(fd); } catch {} }
    sources.clear();
    for (const fd of dirFds.values()) { try { fs.closeSync(fd); } catch {} }
    dirFds.clear();
    const elu = require('node:perf_hooks').performance.eventLoopUtilization();
    out.busyMs = elu.active; out.idleMs = elu.idle;
    parentPort.postMessage(out);
    return;
  }
  const data = msg.data ? new Uint8Array(msg.data, 0, msg.length) : new Uint8Array(0);
  const reply = () => {
    if (msg.data) { out.data = msg.data; parentPort.postMessage(out, [msg.data]); }
    else parentPort.postMessage(out);
  };
  if (aborted()) { reply(); return; }
  try {
    for (const op of JSON.parse(msg.ops)) {
      // Paths travel relative to DEST ('' is DEST itself); a hardlink's target too, a symlink's
      // never. Errors name the path under DEST, even when the call went through a descriptor.
      const shown = op.path === undefined ? undefined : op.path === '' ? DEST : DEST + '/' + op.path;
      trimDirFds();
      try {
        if (op.path !== undefined) op.path = hostPath(op.path);
        if (op.op === 'link') op.target = hostPath(op.target);
        if (op.after !== undefined) waitFor(op.path, op.after);
        run(out, op, data);
      } catch (err) {
        if (err instanceof OpError && shown !== undefined && err.path === op.path) err.path = shown;
        throw err;
      }
      if (op.mark) { Atomics.store(progress, 1 + INDEX, op.seq); Atomics.notify(progress, 1 + INDEX); }
    }
  } catch (err) {
    abortAll();
    const e = err instanceof OpError ? err : new OpError('?', 'write', err);
    out.error = { path: e.path, operation: e.operation, kind: e.kind, errno: e.errno, message: e.message };
  }
  reply();
});
`;
