// Layer stacks for tests of the layer merge and of overlayfs-style layer views: MemoryFs entry
// builders, a tree dump, random layer stacks with every kind of whiteout, and a model that
// applies layers one after the other the way `umoci unpack` does.
import { MemoryFs, type MemoryEntry } from '../../src/vfs/memory-fs.js';
import { walk } from '../../src/vfs/walk.js';
import type { FileSystem } from '../../src/vfs/types.js';

export const dec = new TextDecoder();

/** path → "type[:content|target]" of every entry below the root. */
export async function tree(fs: FileSystem): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for await (const e of walk(fs, '/', { includeStart: false })) {
    let v: string = e.inode.type;
    if (e.inode.type === 'file') {
      const src = await fs.openFile(e.inode.ino);
      v += ':' + dec.decode(await src.read(0, src.size));
    }
    if (e.inode.type === 'symlink') v += ':' + (await fs.readlink(e.inode.ino));
    out[e.relPath] = v;
  }
  return out;
}

export const file = (path: string, content = path, extra: Partial<MemoryEntry> = {}): MemoryEntry => ({
  path,
  type: 'file',
  content,
  ...extra,
});
export const dir = (path: string, extra: Partial<MemoryEntry> = {}): MemoryEntry => ({ path, type: 'dir', ...extra });
export const wh = (path: string): MemoryEntry => {
  const i = path.lastIndexOf('/');
  return file(i < 0 ? `.wh.${path}` : `${path.slice(0, i)}/.wh.${path.slice(i + 1)}`, '');
};
export const opq = (dirPath: string): MemoryEntry => file(`${dirPath}/.wh..wh..opq`, '');
export const layer = (...entries: MemoryEntry[]) => MemoryFs.fromEntries(entries);

interface ModelEntry {
  type: 'file' | 'dir' | 'symlink' | 'chardev';
  value: string;
}

/** Random layer: a set of paths (parents first) with files, dirs, symlinks, whiteouts, opaque dirs. */
export function randomLayer(r: () => number, li: number): MemoryEntry[] {
  const names = ['a', 'b', 'c'];
  const out: MemoryEntry[] = [];
  const visit = (prefix: string, depth: number) => {
    for (const n of names) {
      const p = prefix + n;
      const x = r();
      if (x < 0.35) continue;
      if (x < 0.5) out.push(file(p, `${p}@${li}`));
      else if (x < 0.55) out.push({ path: p, type: 'symlink', target: `t${li}` });
      else if (x < 0.68) out.push(wh(p));
      else if (x < 0.73) out.push({ path: p, type: 'chardev', rdev: 0 });
      else if (depth < 3) {
        const opaque = r();
        if (r() < 0.15) out.push(wh(p)); // deleted and made anew in this layer
        out.push(dir(p, { mtimeSec: li, ...(opaque < 0.1 ? { xattrs: { 'trusted.overlay.opaque': 'y' } } : {}) }));
        if (opaque > 0.9) out.push(opq(p));
        visit(p + '/', depth + 1);
      }
    }
  };
  visit('', 0);
  return out;
}

/** Applies layers bottom to top to a path map, the way an unpacker does. */
export function model(layers: MemoryEntry[][]): Record<string, string> {
  const state = new Map<string, ModelEntry>();
  const removeTree = (p: string, keepSelf: boolean) => {
    for (const k of [...state.keys()])
      if ((k === p && !keepSelf) || k.startsWith(p === '' ? '' : p + '/')) state.delete(k);
  };
  for (const [li, entries] of layers.entries()) {
    const base = (p: string) => p.slice(p.lastIndexOf('/') + 1);
    const parent = (p: string) => (p.includes('/') ? p.slice(0, p.lastIndexOf('/')) : '');
    // Whiteouts first (they only hide what lower layers made), then the layer's entries.
    for (const e of entries) {
      if (e.link !== undefined) continue;
      const b = base(e.path);
      if (b === '.wh..wh..opq') removeTree(parent(e.path), true);
      else if (b.startsWith('.wh.')) removeTree((parent(e.path) ? parent(e.path) + '/' : '') + b.slice(4), false);
      else if (e.type === 'chardev' && e.rdev === 0) removeTree(e.path, false);
      else if (e.type === 'dir' && e.xattrs && 'trusted.overlay.opaque' in e.xattrs) removeTree(e.path, true);
    }
    for (const e of entries) {
      if (e.link !== undefined) continue;
      const b = base(e.path);
      if (b.startsWith('.wh.') || (e.type === 'chardev' && e.rdev === 0)) continue;
      const old = state.get(e.path);
      if (old && !(old.type === 'dir' && e.type === 'dir')) removeTree(e.path, false);
      const value =
        e.type === 'file' ? `file:${e.content as string}` : e.type === 'symlink' ? `symlink:${e.target}` : `dir@${li}`;
      state.set(e.path, { type: e.type as ModelEntry['type'], value });
    }
  }
  return Object.fromEntries([...state].map(([k, v]) => [k, v.value]));
}
