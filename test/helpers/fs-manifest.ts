// The manifest of a FileSystem, line for line as test/fixtures/tree-manifest.ts prints it for
// a real directory tree, so a reader can be compared with a real tree without extracting.
// Also: a MemoryFs loaded from a real directory, the tree generator and the manifest tool
// (test/fixtures), and an assertion that shows the first differing lines instead of a
// 3000-line diff.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { lstat, open, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { getAttribute, listAttributes } from '@napi-rs/xattr';
import type { ByteSource, ReadOptions } from '../../src/io/byte-source.js';
import { readPieces } from '../../src/io/read-stream.js';
import { MemoryFs, type MemoryEntry } from '../../src/vfs/memory-fs.js';
import type { FileSystem, FileType } from '../../src/vfs/types.js';
import { walk } from '../../src/vfs/walk.js';
import { ensureErofsImages } from '../fixtures/erofs-images.js';
import { manifestLines, pythonJson, type ManifestEntry } from '../fixtures/manifest-format.js';
import { entryTypeOf } from '../fixtures/tree-manifest.js';
import { runOk } from './run.js';

export { compareCodePoints, pythonJson, majorMinor, pythonMtime } from '../fixtures/manifest-format.js';
export { makeTree, makeTreeSync } from '../fixtures/make-tree.js';

/**
 * The repository's test fixtures (`test/fixtures`): the tree generator (`make-tree.ts`), the
 * manifest tool (`tree-manifest.ts`) and the EROFS images (`erofs/`, see erofs/README.md).
 */
export const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url));

// The images in FIXTURES/erofs are unpacked or made on first use.
ensureErofsImages();

/** tsx's loader, so that a child Node runs the TypeScript fixture tools from any directory. */
export const TSX_LOADER = import.meta.resolve('tsx');

/** The command line (after `node`) that runs the fixture tool `name` (`make-tree.ts`, `tree-manifest.ts`). */
export function fixtureToolArgs(name: string, args: string[]): string[] {
  return ['--import', TSX_LOADER, join(FIXTURES, name), ...args];
}

async function sha256(source: ByteSource, options: ReadOptions): Promise<string> {
  const h = createHash('sha256');
  for await (const piece of readPieces(source, { signal: options.signal })) h.update(piece);
  return h.digest('hex');
}

/**
 * The lines `tree-manifest.ts DIR` prints for the tree at `root` of `fs` (entries below it,
 * sorted by path, one JSON object each). Symlink modes are printed as the FileSystem reports
 * them (Linux shows 0o777 for every symlink on a real tree).
 */
export async function manifestOf(fs: FileSystem, root = '/', options: ReadOptions = {}): Promise<string[]> {
  const entries: ManifestEntry[] = [];
  for await (const e of walk(fs, root, { signal: options.signal, includeStart: false })) {
    const st = e.inode;
    entries.push({
      path: e.relPath,
      type: st.type,
      mode: st.mode,
      uid: st.uid,
      gid: st.gid,
      mtimeSec: st.mtimeSec,
      mtimeNsec: st.mtimeNsec,
      size: st.size,
      sha256: st.type === 'file' ? await sha256(await fs.openFile(st.ino, options), options) : undefined,
      target: st.type === 'symlink' ? await fs.readlink(st.ino, options) : undefined,
      rdev: st.rdev,
      xattrs: st.type === 'symlink' ? undefined : await fs.listxattr(st.ino, options),
      inode: st.ino,
    });
  }
  return manifestLines(entries);
}

/**
 * The lines `tree-manifest.ts DIR` prints, run as a child process (so `dir` may be a FUSE mount
 * this process serves).
 */
export async function treeManifest(dir: string): Promise<string[]> {
  const r = await runOk(process.execPath, fixtureToolArgs('tree-manifest.ts', [dir]));
  const text = r.stdout.toString('utf8');
  return text === '' ? [] : text.replace(/\n$/, '').split('\n');
}

/**
 * `lines` with their empty-valued xattrs left out. umoci (0.4.7) drops such xattrs, both when it
 * writes a layer and when it unpacks one ("disallowed by PAX standard"), so a tree that passed
 * through umoci is compared this way.
 */
export function withoutEmptyXattrs(lines: string[]): string[] {
  return lines.map((line) => {
    const e = JSON.parse(line) as { xattrs?: Record<string, string> };
    if (!e.xattrs || !Object.values(e.xattrs).includes('')) return line;
    const kept = Object.entries(e.xattrs).filter(([, v]) => v !== '');
    return pythonJson({ ...e, xattrs: kept.length > 0 ? Object.fromEntries(kept) : undefined });
  });
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
      const type: FileType = entryTypeOf(st);
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
