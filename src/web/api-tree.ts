/**
 * Directory listings and entry facts for the file tree: `GET /api/dir` lists one directory
 * (a click in the tree fetches that directory only), `GET /api/stat` describes one entry and
 * what its content looks like. In a layer view each entry carries the layer's change mark and
 * the entries the layer deleted are listed too.
 *
 * @packageDocumentation
 */
import type { ReadOptions } from '../io/byte-source.js';
import { NotADirectoryError } from '../vfs/errors.js';
import { resolveEntry, normalizePath, joinPath } from '../vfs/path.js';
import type { MergedFileSystem } from '../vfs/merge.js';
import type { FileSystem, Inode } from '../vfs/types.js';
import type { DirDoc, EntryDoc, StatDoc } from './api-types.js';
import { layerChanges } from './changes.js';
import { readElf } from './elf.js';
import type { ImageViews, ViewName } from './image-views.js';
import { SNIFF_BYTES, sniff } from './sniff.js';

/** getattr calls of one listing in flight at once. */
const LIST_CONCURRENCY = 32;

/** The document of one inode. */
export async function entryDoc(
  fs: FileSystem,
  name: string,
  inode: Inode,
  options: ReadOptions,
  origin?: MergedFileSystem,
): Promise<EntryDoc> {
  return {
    name,
    type: inode.type,
    mode: inode.mode & 0o7777,
    uid: inode.uid,
    gid: inode.gid,
    size: inode.size,
    mtime: inode.mtimeSec,
    nlink: inode.nlink,
    ...(inode.type === 'chardev' || inode.type === 'blockdev' ? { rdev: inode.rdev } : {}),
    ...(inode.type === 'symlink' ? { target: await fs.readlink(inode.ino, options) } : {}),
    ...(origin ? { layer: origin.origin(inode.ino).layer } : {}),
  };
}

/** Runs `f` over `items` with at most `limit` calls in flight, keeping the order. */
async function mapLimit<T, R>(items: T[], limit: number, f: (x: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await f(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** Byte-wise name order (as `LC_ALL=C ls`). */
const byName = (a: { name: string }, b: { name: string }) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/** `GET /api/dir`: the entries of one directory of a view, with marks in a layer view. */
export async function listDir(views: ImageViews, view: ViewName, path: string, options: ReadOptions): Promise<DirDoc> {
  const fs = views.tree(view);
  const { inode, path: canonical } = await resolveEntry(fs, path, options);
  if (inode.type !== 'dir') throw new NotADirectoryError(path);
  const names: { name: string; ino: number }[] = [];
  for await (const e of fs.readdir(inode.ino, options)) names.push({ name: e.name, ino: e.ino });
  const entries = await mapLimit(names, LIST_CONCURRENCY, async (e) =>
    entryDoc(fs, e.name, await fs.getattr(e.ino, options), options, fs),
  );
  if (view !== 'merged') {
    const below = views.below(view);
    const changes = await layerChanges(views.layer(view), below, canonical, options);
    for (const e of entries) {
      const m = changes.marks.get(e.name);
      if (m) e.mark = m;
    }
    for (const d of changes.deleted)
      entries.push({ ...(await entryDoc(below!, d.name, d.inode, options, below)), mark: 'deleted' });
  }
  return { path: canonical, layer: view, entries: entries.sort(byName) };
}

/** `GET /api/stat`: one entry (not following a final symlink), where a symlink leads, what a file holds. */
export async function statEntry(
  views: ImageViews,
  view: ViewName,
  path: string,
  options: ReadOptions,
): Promise<StatDoc> {
  const fs = views.tree(view);
  const { inode, path: canonical } = await resolveEntry(fs, path, { ...options, followFinal: false });
  const name = canonical === '/' ? '/' : canonical.slice(canonical.lastIndexOf('/') + 1);
  const doc: StatDoc = { path: canonical, entry: await entryDoc(fs, name, inode, options, fs) };
  if (inode.type === 'symlink') {
    const target = doc.entry.target!;
    const parent = canonical.slice(0, canonical.lastIndexOf('/')) || '/';
    const lexical = target.startsWith('/') ? normalizePath(target) : normalizePath(joinPath(parent, target));
    try {
      const r = await resolveEntry(fs, canonical, options);
      doc.resolved = r.path;
      doc.resolvedType = r.inode.type;
    } catch {
      // A dangling link still points somewhere: its target as written, inside the image.
      doc.resolved = lexical;
    }
  }
  if (inode.type === 'file') {
    const file = await fs.openFile(inode.ino, options);
    const head = await file.read(0, Math.min(SNIFF_BYTES, file.size), options);
    doc.kind = sniff(head, file.size);
    if (doc.kind === 'elf') {
      const elf = await readElf(file, options);
      if (elf) doc.elf = elf;
    }
  }
  return doc;
}
