/**
 * What one layer did to a directory — the marks `dive` shows: an entry the layer has and the
 * tree below it lacked was **added**; one both have was **changed** (replaced, or for a
 * directory: its metadata or contents touched); one the layer hides with a whiteout (OCI
 * `.wh.NAME` or an overlayfs 0/0 character device) or an opaque directory was **deleted**.
 * Only the layer's own directory and the tree below it are read, never a whole tree.
 *
 * @packageDocumentation
 */
import type { ReadOptions } from '../io/byte-source.js';
import { OPAQUE_MARKER, OVERLAY_OPAQUE_XATTRS, WHITEOUT_PREFIX } from '../vfs/merge.js';
import { components } from '../vfs/path.js';
import type { FileSystem, Inode } from '../vfs/types.js';
import type { ChangeMark } from './api-types.js';

/** What a layer did in one directory. */
export interface DirChanges {
  /** Names the layer has in the directory: `added` or `changed`. */
  marks: Map<string, ChangeMark>;
  /** Names of the tree below that the layer deleted, with their inodes there. */
  deleted: { name: string; inode: Inode }[];
}

/** Looks a canonical path up component by component without following symlinks. */
export async function lookupPath(fs: FileSystem, path: string, options: ReadOptions = {}): Promise<Inode | undefined> {
  let cur = await fs.getattr(fs.rootIno, options);
  for (const c of components(path)) {
    if (cur.type !== 'dir') return undefined;
    const next = await fs.lookup(cur.ino, c, options);
    if (!next) return undefined;
    cur = next;
  }
  return cur;
}

async function isOverlayOpaque(fs: FileSystem, ino: number, options: ReadOptions): Promise<boolean> {
  const xs = await fs.listxattr(ino, options);
  return OVERLAY_OPAQUE_XATTRS.some((k) => {
    const v = xs.get(k);
    return v !== undefined && v.length === 1 && v[0] === 0x79; // 'y'
  });
}

/**
 * The changes `layer` made in directory `path` (canonical) of the tree `below` it (undefined
 * for the bottom layer: everything it has is added).
 */
export async function layerChanges(
  layer: FileSystem,
  below: FileSystem | undefined,
  path: string,
  options: ReadOptions = {},
): Promise<DirChanges> {
  const marks = new Map<string, ChangeMark>();
  const deleted: DirChanges['deleted'] = [];
  const own = await lookupPath(layer, path, options);
  if (!own || own.type !== 'dir') return { marks, deleted };
  const lowerDir = below ? await lookupPath(below, path, options) : undefined;
  const lower = lowerDir?.type === 'dir' ? lowerDir : undefined;
  const whiteouts = new Set<string>();
  let opaque = await isOverlayOpaque(layer, own.ino, options);
  for await (const e of layer.readdir(own.ino, options)) {
    if (e.name === OPAQUE_MARKER) opaque = true;
    else if (e.name.startsWith(WHITEOUT_PREFIX)) whiteouts.add(e.name.slice(WHITEOUT_PREFIX.length));
    else if (e.type === 'chardev' && (await layer.getattr(e.ino, options)).rdev === 0) whiteouts.add(e.name);
    else marks.set(e.name, 'added');
  }
  if (!lower || !below) return { marks, deleted };
  for (const name of marks.keys()) {
    if (await below.lookup(lower.ino, name, options)) marks.set(name, 'changed');
  }
  if (opaque) {
    for await (const e of below.readdir(lower.ino, options)) {
      if (!marks.has(e.name)) deleted.push({ name: e.name, inode: await below.getattr(e.ino, options) });
    }
  } else {
    for (const name of whiteouts) {
      if (marks.has(name)) continue;
      const inode = await below.lookup(lower.ino, name, options);
      if (inode) deleted.push({ name, inode });
    }
  }
  return { marks, deleted };
}
