/**
 * The metadata of the directories the layers so far left in the merged tree, kept while layers
 * are converted bottom-up. A layer that names `a/b/c` without `a/b/` only implies the directory:
 * in the merged view (and as `umoci unpack` applies it) it keeps the metadata of the layer below;
 * a layer converted on its own (an EROFS layer stacked by overlayfs) must then carry that
 * metadata itself.
 *
 * @packageDocumentation
 */
import { isOverlayWhiteout, splitPath, type BuildEntry } from './entry.js';

/** What a directory's inode says. */
export interface DirMeta {
  mode: number;
  uid: number;
  gid: number;
  mtimeSec: number;
  mtimeNsec: number;
  xattrs?: Map<string, Uint8Array>;
}

const WHITEOUT = '.wh.';
const OPAQUE = '.wh..wh..opq';

/** Directory metadata of the merged layers so far, by normalised path. */
export class DirHistory {
  private readonly dirs = new Map<string, DirMeta>();
  /** Changes of the layer being read, applied when it ends (it must not see its own). */
  private pending: ((m: Map<string, DirMeta>) => void)[] = [];

  /** The metadata of `path` in the layers below the current one. */
  get(path: string): DirMeta | undefined {
    return this.dirs.get(path);
  }

  private dropUnder(m: Map<string, DirMeta>, path: string, self: boolean): void {
    const prefix = path === '' ? '' : `${path}/`;
    for (const k of [...m.keys()]) if ((self && k === path) || (k.startsWith(prefix) && k !== path)) m.delete(k);
  }

  /** Passes a layer's entries through, noting its directories and whiteouts. */
  async *observe(entries: AsyncIterable<BuildEntry>): AsyncGenerator<BuildEntry> {
    for await (const e of entries) {
      const { parent, name } = splitPath(e.path);
      if (name === OPAQUE) this.pending.push((m) => this.dropUnder(m, parent, false));
      else if (name.startsWith(WHITEOUT)) {
        const target = parent === '' ? name.slice(WHITEOUT.length) : `${parent}/${name.slice(WHITEOUT.length)}`;
        this.pending.push((m) => this.dropUnder(m, target, true));
      } else if (isOverlayWhiteout(e)) this.pending.push((m) => this.dropUnder(m, e.path, true));
      else if (e.type === 'dir') {
        const meta: DirMeta = {
          mode: e.mode,
          uid: e.uid,
          gid: e.gid,
          mtimeSec: e.mtimeSec,
          mtimeNsec: e.mtimeNsec,
          ...(e.xattrs?.size ? { xattrs: e.xattrs } : {}),
        };
        this.pending.push((m) => m.set(e.path, meta));
      } else this.pending.push((m) => this.dropUnder(m, e.path, true));
      yield e;
    }
  }

  /** Applies the layer just read. */
  endLayer(): void {
    for (const f of this.pending) f(this.dirs);
    this.pending = [];
  }
}
