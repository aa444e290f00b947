// The manifest of a FileSystem, line for line as ../shared/fixtures/tree-manifest.py prints it
// for a real directory tree, so a reader can be compared with a real tree without extracting.
// Also: a MemoryFs loaded from a real directory, tree-manifest.py itself, and an assertion that
// shows the first differing lines instead of a 3000-line diff.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { lstat, open, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { getAttribute, listAttributes } from '@napi-rs/xattr';
import type { ByteSource, ReadOptions } from '../../src/io/byte-source.js';
import { readPieces } from '../../src/io/read-stream.js';
import { MemoryFs, type MemoryEntry } from '../../src/vfs/memory-fs.js';
import type { FileSystem, FileType, Inode } from '../../src/vfs/types.js';
import { walk } from '../../src/vfs/walk.js';
import { runOk } from './run.js';

/** Where the shared fixture scripts are (`make-tree.py`, `tree-manifest.py`). */
export const FIXTURES = new URL('../../../shared/fixtures/', import.meta.url).pathname;

/**
 * Python's `str` order (by code point). JS's `<` compares UTF-16 units, which puts astral
 * characters (surrogates, 0xD800..) before U+E000..U+FFFF; Python puts them after.
 */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x !== y) {
      if (x >= 0xd800 && y >= 0xd800) {
        x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
        y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
      }
      return x - y;
    }
  }
  return a.length - b.length;
}

/** `json.dumps(v, sort_keys=True, ensure_ascii=False)` for the values a manifest holds. */
export function pythonJson(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(pythonJson).join(', ')}]`;
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o).filter((k) => o[k] !== undefined).sort(compareCodePoints);
  return `{${keys.map((k) => `${JSON.stringify(k)}: ${pythonJson(o[k])}`).join(', ')}}`;
}

/** `os.major`/`os.minor` of a Linux `st_rdev`. */
export function majorMinor(rdev: number): [number, number] {
  const d = BigInt(rdev);
  // glibc's gnu_dev_major/minor: the high parts are cast to 32 bits.
  const major = ((d >> 8n) & 0xfffn) | ((d >> 32n) & 0xfffff000n);
  const minor = (d & 0xffn) | ((d >> 12n) & 0xffffff00n);
  return [Number(major), Number(minor)];
}

/** `int(st.st_mtime)`: Python builds the float as `sec + nsec * 1e-9`, then truncates. */
export function pythonMtime(inode: Pick<Inode, 'mtimeSec' | 'mtimeNsec'>): number {
  return Math.trunc(inode.mtimeSec + inode.mtimeNsec * 1e-9);
}

const MANIFEST_TYPES: Partial<Record<FileType, string>> = {
  file: 'file',
  dir: 'dir',
  symlink: 'symlink',
  fifo: 'fifo',
  chardev: 'chr',
  blockdev: 'blk',
  // tree-manifest.py prints no type for a socket.
};

async function sha256(source: ByteSource, options: ReadOptions): Promise<string> {
  const h = createHash('sha256');
  for await (const piece of readPieces(source, { signal: options.signal })) h.update(piece);
  return h.digest('hex');
}

/**
 * The lines `tree-manifest.py DIR` prints for the tree at `root` of `fs` (entries below it,
 * sorted by path, one JSON object each). Symlink modes are printed as the FileSystem reports
 * them (Linux shows 0o777 for every symlink on a real tree).
 */
export async function manifestOf(fs: FileSystem, root = '/', options: ReadOptions = {}): Promise<string[]> {
  const out: { path: string; line: string }[] = [];
  for await (const e of walk(fs, root, { signal: options.signal, includeStart: false })) {
    const st = e.inode;
    const m: Record<string, unknown> = {
      path: e.relPath,
      mode: '0o' + (st.mode & 0o7777).toString(8),
      uid: st.uid,
      gid: st.gid,
      mtime: pythonMtime(st),
      type: MANIFEST_TYPES[st.type],
    };
    if (st.type === 'symlink') m.target = await fs.readlink(st.ino, options);
    if (st.type === 'file') {
      m.size = st.size;
      m.sha256 = await sha256(await fs.openFile(st.ino, options), options);
    }
    if (st.type === 'chardev' || st.type === 'blockdev') m.rdev = majorMinor(st.rdev);
    if (st.type !== 'symlink') {
      const xs: Record<string, string> = {};
      for (const [k, v] of await fs.listxattr(st.ino, options)) {
        if (k.startsWith('user.') || k.startsWith('trusted.')) xs[k] = Buffer.from(v).toString('hex');
      }
      if (Object.keys(xs).length > 0) m.xattrs = xs;
    }
    out.push({ path: e.relPath, line: pythonJson(m) });
  }
  out.sort((a, b) => compareCodePoints(a.path, b.path));
  return out.map((o) => o.line);
}

/** The lines `tree-manifest.py DIR` prints (run as a child process). */
export async function treeManifest(dir: string): Promise<string[]> {
  const r = await runOk('python3', [join(FIXTURES, 'tree-manifest.py'), dir]);
  const text = r.stdout.toString('utf8');
  return text === '' ? [] : text.replace(/\n$/, '').split('\n');
}

/** Runs `make-tree.py DIR --seed N` (as the current user: run as root for owners and xattrs). */
export async function makeTree(dir: string, seed = 1): Promise<void> {
  await runOk('python3', [join(FIXTURES, 'make-tree.py'), dir, '--seed', String(seed)]);
}

/**
 * Asserts two manifests are equal; on failure the message lists the first differing lines
 * (missing, extra, changed) rather than a diff of the whole tree.
 */
export function assertSameManifest(actual: string[], expected: string[], what = 'manifest'): void {
  if (actual.length === expected.length && actual.every((l, i) => l === expected[i])) return;
  const pathOf = (l: string) => (JSON.parse(l) as { path: string }).path;
  const a = new Map(actual.map((l) => [pathOf(l), l]));
  const b = new Map(expected.map((l) => [pathOf(l), l]));
  const problems: string[] = [];
  for (const [p, l] of b) {
    if (!a.has(p)) problems.push(`missing: ${l}`);
    else if (a.get(p) !== l) problems.push(`changed:\n    got      ${a.get(p)}\n    expected ${l}`);
  }
  for (const [p, l] of a) if (!b.has(p)) problems.push(`extra:   ${l}`);
  if (problems.length === 0) problems.push('same lines in a different order');
  assert.fail(`${what}: ${problems.length} difference(s), first ones:\n  ${problems.slice(0, 10).join('\n  ')}`);
}

/** A byte source over a local file that opens it per read (so a big tree holds no handles). */
class LazyFileSource implements ByteSource {
  constructor(
    private readonly path: string,
    readonly size: number,
  ) {}
  async read(offset: number, length: number): Promise<Uint8Array> {
    const n = Math.max(0, Math.min(length, this.size - offset));
    const h = await open(this.path, 'r');
    try {
      const buf = new Uint8Array(n);
      let done = 0;
      while (done < n) {
        const { bytesRead } = await h.read(buf, done, n - done, offset + done);
        if (bytesRead === 0) throw new Error(`${this.path}: shorter than ${this.size} bytes`);
        done += bytesRead;
      }
      return buf;
    } finally {
      await h.close();
    }
  }
}

/** Nanoseconds since the epoch as (seconds, 0..999999999 ns), flooring for times before 1970. */
function splitNs(ns: bigint): { mtimeSec: number; mtimeNsec: number } {
  let sec = ns / 1_000_000_000n;
  if (sec * 1_000_000_000n > ns) sec -= 1n;
  return { mtimeSec: Number(sec), mtimeNsec: Number(ns - sec * 1_000_000_000n) };
}

/**
 * A MemoryFs holding what a real directory holds: types, modes, owners, mtimes (with ns),
 * xattrs (all namespaces the process can see), symlink targets, hardlinks (same st_ino),
 * devices. File contents are read from disk on demand.
 */
export async function memoryFsFromDirectory(dir: string): Promise<MemoryFs> {
  const xattrsOf = async (p: string) => {
    const m = new Map<string, Uint8Array>();
    for (const k of await listAttributes(p)) {
      const v = await getAttribute(p, k);
      if (v !== null) m.set(k, new Uint8Array(v));
    }
    return m;
  };
  const rootSt = await lstat(dir, { bigint: true });
  const fs = new MemoryFs({
    mode: Number(rootSt.mode),
    uid: Number(rootSt.uid),
    gid: Number(rootSt.gid),
    ...splitNs(rootSt.mtimeNs),
    xattrs: await xattrsOf(dir),
  });
  const seen = new Map<string, string>(); // "dev:ino" → first path, for hardlinks
  const visit = async (rel: string): Promise<void> => {
    const names = (await readdir(join(dir, rel))).sort();
    for (const name of names) {
      const relPath = rel === '' ? name : `${rel}/${name}`;
      const p = join(dir, relPath);
      const st = await lstat(p, { bigint: true });
      const key = `${st.dev}:${st.ino}`;
      if (!st.isDirectory() && st.nlink > 1n && seen.has(key)) {
        fs.addPath({ path: relPath, link: seen.get(key)! });
        continue;
      }
      seen.set(key, relPath);
      const type: FileType = st.isFile()
        ? 'file'
        : st.isDirectory()
          ? 'dir'
          : st.isSymbolicLink()
            ? 'symlink'
            : st.isFIFO()
              ? 'fifo'
              : st.isCharacterDevice()
                ? 'chardev'
                : st.isBlockDevice()
                  ? 'blockdev'
                  : 'socket';
      const entry: MemoryEntry = {
        path: relPath,
        type,
        mode: Number(st.mode),
        uid: Number(st.uid),
        gid: Number(st.gid),
        ...splitNs(st.mtimeNs),
        rdev: Number(st.rdev),
        xattrs: await xattrsOf(p),
      };
      if (type === 'file') entry.content = new LazyFileSource(p, Number(st.size));
      if (type === 'symlink') entry.target = await readlink(p);
      fs.addPath(entry);
      if (type === 'dir') await visit(relPath);
    }
  };
  await visit('');
  return fs;
}
