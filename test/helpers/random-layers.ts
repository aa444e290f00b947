// Layer entries for MemoryFs layer stacks: files, directories, OCI whiteouts and opaque markers,
// random layers mixing them with overlayfs whiteouts, and a flat view of a tree to compare
// (shared by the merge and whiteout tests).
import type { MemoryEntry } from '../../src/vfs/memory-fs.js';
import type { FileSystem } from '../../src/vfs/types.js';
import { walk } from '../../src/vfs/walk.js';

const dec = new TextDecoder();

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

export const file = (path: string, content = path, extra: Partial<MemoryEntry> = {}): MemoryEntry => ({ path, type: 'file', content, ...extra }) as MemoryEntry;
export const dir = (path: string, extra: Partial<MemoryEntry> = {}): MemoryEntry => ({ path, type: 'dir', ...extra }) as MemoryEntry;
export const wh = (path: string): MemoryEntry => {
  const i = path.lastIndexOf('/');
  return file(i < 0 ? `.wh.${path}` : `${path.slice(0, i)}/.wh.${path.slice(i + 1)}`, '');
};
export const opq = (dirPath: string): MemoryEntry => file(`${dirPath}/.wh..wh..opq`, '');

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

