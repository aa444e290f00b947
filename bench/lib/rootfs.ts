// A realistic root filesystem tree for the image benchmarks, made on this machine at bench time:
// whole host directories (binaries, headers, docs, man pages, locales, Python …) copied with
// `cp -a` in a fixed order until the tree reaches the size and file-count minimums of the
// issues (≥ 500 MiB and ≥ 30,000 files for the full run).
//
// Reproducible: the selection is the first directories of a fixed list that together meet the
// minimums, and its key is the SHA-256 of the sorted listing (type, size, mtime, path) of every
// entry in them. The copy lives on a real disk (/var/tmp by default, not tmpfs) under that key,
// so a rerun on an unchanged machine reuses it; `fresh` copies again. Images made from a tree
// (mkfs.erofs, umoci) are cached beside it by {@link cachedArtifact}.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { timed, MiB } from './measure.js';

/** Directories tried in order for the full-size tree. */
export const ROOTFS_CANDIDATES = [
  '/etc',
  '/usr/bin',
  '/usr/sbin',
  '/usr/include',
  '/usr/share/doc',
  '/usr/share/man',
  '/usr/share/locale',
  '/usr/lib/python3',
  '/usr/lib/python3.11',
  '/usr/share/vim',
  '/usr/share/icons',
  '/usr/share/perl',
  '/usr/share/i18n',
  '/usr/share/zoneinfo',
  '/usr/lib/gcc',
  '/usr/lib/x86_64-linux-gnu',
];

/** Directories for the small tree of a `--quick` smoke run. */
export const QUICK_CANDIDATES = [
  '/etc',
  '/usr/sbin',
  '/usr/share/perl',
  '/usr/share/zoneinfo',
  '/usr/lib/python3.11',
  '/usr/share/vim',
  '/usr/share/man',
];

/** Where benchmark trees, images and scratch directories live (a real disk). */
export const DEFAULT_BENCH_WORK = '/var/tmp/ocifs-bench';

export interface RootfsOptions {
  /** Minimum bytes of regular-file data (default 500 MiB). */
  minBytes?: number;
  /** Minimum number of regular files (default 30,000). */
  minFiles?: number;
  /** Candidate directories, in order (default {@link ROOTFS_CANDIDATES}). */
  candidates?: string[];
  /** Parent of the cached trees (default {@link DEFAULT_BENCH_WORK}). */
  work?: string;
  /** Copy again even when a tree with the same key exists. */
  fresh?: boolean;
}

/** One regular file of the tree. */
export interface RootfsFile {
  /** Absolute path inside the tree ("/usr/bin/bash"). */
  path: string;
  size: number;
}

export interface Rootfs {
  /** The tree on disk; its root stands for the image's "/". */
  dir: string;
  /** Directory of this tree's cached artifacts (images). */
  home: string;
  /** First 16 hex digits of the selection's hash. */
  key: string;
  /** The host directories copied. */
  selection: string[];
  /** Bytes of regular-file data. */
  bytes: number;
  /** Regular files. */
  files: number;
  /** All entries (files, directories, symlinks …). */
  entries: number;
  /** Regular files, sorted by path. */
  regular: RootfsFile[];
}

interface Listing {
  text: string;
  bytes: number;
  files: number;
  entries: number;
  regular: RootfsFile[];
}

/** `find DIR` as sorted lines `type size mtime path`, with totals. */
async function listDir(dir: string): Promise<Listing> {
  const r = await timed('find', [dir, '-xdev', '-printf', '%y %s %T@ %p\\n'], {
    keepStdout: true,
    env: { ...process.env, LC_ALL: 'C' },
  });
  const lines = r.stdout.toString().split('\n').filter(Boolean).sort();
  let bytes = 0;
  const regular: RootfsFile[] = [];
  for (const line of lines) {
    if (line[0] !== 'f') continue;
    const [, size, , ...rest] = line.split(' ');
    bytes += Number(size);
    regular.push({ path: rest.join(' '), size: Number(size) });
  }
  return { text: lines.join('\n'), bytes, files: regular.length, entries: lines.length, regular };
}

/** Makes (or reuses) the tree; see the module comment. */
export async function makeRootfs(options: RootfsOptions = {}): Promise<Rootfs> {
  const minBytes = options.minBytes ?? 500 * MiB;
  const minFiles = options.minFiles ?? 30_000;
  const work = options.work ?? DEFAULT_BENCH_WORK;
  const selection: string[] = [];
  const hash = createHash('sha256');
  let bytes = 0;
  let files = 0;
  let entries = 0;
  const regular: RootfsFile[] = [];
  for (const dir of options.candidates ?? ROOTFS_CANDIDATES) {
    if (bytes >= minBytes && files >= minFiles) break;
    if (!existsSync(dir)) continue;
    const l = await listDir(dir);
    selection.push(dir);
    hash.update(`${dir}\n${l.text}\n`);
    bytes += l.bytes;
    files += l.files;
    entries += l.entries;
    regular.push(...l.regular);
  }
  if (bytes < minBytes || files < minFiles) {
    throw new Error(
      `this machine's candidate directories hold only ${(bytes / MiB).toFixed(0)} MiB in ${files} files; the benchmark needs ≥ ${(minBytes / MiB).toFixed(0)} MiB and ≥ ${minFiles} files`,
    );
  }
  regular.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const key = hash.digest('hex').slice(0, 16);
  const home = join(work, `rootfs-${key}`);
  const dir = join(home, 'tree');
  const done = join(home, 'tree.done');
  if (options.fresh || !existsSync(done)) {
    process.stderr.write(
      `rootfs: copying ${selection.join(' ')} (${(bytes / MiB).toFixed(0)} MiB, ${files} files) into ${dir}…\n`,
    );
    await rm(home, { recursive: true, force: true });
    const tmp = join(home, 'tree.tmp');
    await mkdir(tmp, { recursive: true });
    for (const d of selection) {
      await mkdir(join(tmp, d), { recursive: true });
      await timed('cp', ['-a', `${d}/.`, join(tmp, d) + '/']);
    }
    await rename(tmp, dir);
    await writeFile(done, JSON.stringify({ selection, bytes, files, entries }) + '\n');
  }
  const recorded = JSON.parse(await readFile(done, 'utf8')) as { bytes: number; files: number; entries: number };
  return {
    dir,
    home,
    key,
    selection,
    bytes: recorded.bytes,
    files: recorded.files,
    entries: recorded.entries,
    regular,
  };
}

/**
 * Returns `home/name`, making it first with `make(tmpPath)` when it is missing (or `fresh`):
 * images of a tree are built once per tree key.
 */
export async function cachedArtifact(
  rootfs: Rootfs,
  name: string,
  fresh: boolean,
  make: (tmp: string) => Promise<void>,
): Promise<string> {
  const path = join(rootfs.home, name);
  if (fresh || !existsSync(path)) {
    const tmp = `${path}.tmp`;
    await rm(tmp, { recursive: true, force: true });
    await make(tmp);
    await rm(path, { recursive: true, force: true });
    await rename(tmp, path);
  }
  return path;
}

/**
 * The regular file whose size is nearest to `target` (ties: the first path) among those `accept`
 * takes.
 */
export function pickFile(rootfs: Rootfs, target: number, accept: (f: RootfsFile) => boolean = () => true): RootfsFile {
  let bestFile: RootfsFile | undefined;
  for (const f of rootfs.regular) {
    if (!accept(f)) continue;
    if (!bestFile || Math.abs(f.size - target) < Math.abs(bestFile.size - target)) bestFile = f;
  }
  if (!bestFile) throw new Error('no file fits');
  return bestFile;
}

/** The tree for a run: full size, or the small one of a `--quick` smoke run. */
export function benchRootfs(
  options: { quick?: boolean; fresh?: boolean; work?: string; minBytes?: number } = {},
): Promise<Rootfs> {
  return makeRootfs({
    ...(options.quick
      ? { minBytes: 64 * MiB, minFiles: 3_000, candidates: QUICK_CANDIDATES }
      : options.minBytes
        ? { minBytes: options.minBytes }
        : {}),
    ...(options.fresh ? { fresh: true } : {}),
    ...(options.work ? { work: options.work } : {}),
  });
}

/** EROFS image kinds made from a tree. */
export type ErofsKind = 'plain' | 'lz4hc';

/** `mkfs.erofs` of the tree (uncompressed or `-zlz4hc`, per-file mtimes kept), cached by tree key. */
export function erofsImage(rootfs: Rootfs, kind: ErofsKind, fresh = false): Promise<string> {
  return cachedArtifact(rootfs, `${kind}.erofs`, fresh, async (tmp) => {
    process.stderr.write(`rootfs: mkfs.erofs ${kind} image of ${rootfs.dir}…\n`);
    await timed('mkfs.erofs', [...(kind === 'lz4hc' ? ['-zlz4hc'] : []), tmp, rootfs.dir]);
  });
}
