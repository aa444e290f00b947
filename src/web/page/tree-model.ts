// The file tree's state: the directories loaded so far (each fetched when first expanded,
// never before) and which are open, flattened into the rows the virtual list shows.
import { useEffect, useMemo, useState } from 'preact/hooks';
import type { DirDoc, EntryDoc } from '../api-types.js';
import { getJson, messageOf } from './api.js';
import { childPath } from './route.js';

/** One loaded (or loading) directory. */
export interface DirState {
  status: 'loading' | 'ok' | 'error';
  entries: EntryDoc[];
  error?: string;
}

/** One row of the tree. */
export interface TreeRow {
  path: string;
  depth: number;
  entry: EntryDoc;
}

/** The tree of one image view. */
export class TreeModel {
  readonly dirs = new Map<string, DirState>();
  readonly expanded = new Set<string>(['/']);
  private readonly listeners = new Set<() => void>();
  version = 0;

  constructor(
    readonly ref: string,
    readonly layer: 'merged' | number,
    readonly platform: string | undefined,
  ) {}

  private changed(): void {
    this.version++;
    for (const l of this.listeners) l();
  }

  /** Calls `f` after every change; returns the unsubscribe function. */
  subscribe(f: () => void): () => void {
    this.listeners.add(f);
    return () => this.listeners.delete(f);
  }

  /** Loads a directory once (a click fetches that directory only). */
  async load(path: string): Promise<DirState> {
    const known = this.dirs.get(path);
    if (known && known.status !== 'error') return known;
    const state: DirState = { status: 'loading', entries: [] };
    this.dirs.set(path, state);
    this.changed();
    try {
      const doc = await getJson<DirDoc>('dir', {
        ref: this.ref,
        layer: this.layer === 'merged' ? undefined : this.layer,
        platform: this.platform,
        path,
      });
      state.entries = doc.entries;
      state.status = 'ok';
    } catch (err) {
      state.status = 'error';
      state.error = messageOf(err);
    }
    this.changed();
    return state;
  }

  /** Opens or closes a directory. */
  toggle(path: string): void {
    if (this.expanded.has(path)) this.expanded.delete(path);
    else {
      this.expanded.add(path);
      void this.load(path);
    }
    this.changed();
  }

  /** Opens every directory on the way to `path` (a deep link), and `path` itself when it is one. */
  async expandTo(path: string): Promise<void> {
    const parts = path.split('/').filter(Boolean);
    let dir = '/';
    let listing = await this.load('/');
    for (let i = 0; i < parts.length && listing.status === 'ok'; i++) {
      const entry = listing.entries.find((e) => e.name === parts[i]);
      const last = i === parts.length - 1;
      if (last && entry?.type !== 'dir') break;
      dir = childPath(dir, parts[i]);
      this.expanded.add(dir);
      listing = await this.load(dir);
    }
    this.changed();
  }

  /** The visible rows, depth first; with `onlyChanged`, only entries the layer marked. */
  rows(onlyChanged: boolean): TreeRow[] {
    const out: TreeRow[] = [];
    const visit = (dir: string, depth: number) => {
      const s = this.dirs.get(dir);
      if (!s) return;
      for (const entry of s.entries) {
        if (onlyChanged && !entry.mark) continue;
        const path = childPath(dir, entry.name);
        out.push({ path, depth, entry });
        if (entry.mark !== 'deleted' && this.expanded.has(path) && (entry.type === 'dir' || entry.type === 'symlink'))
          visit(path, depth + 1);
      }
    };
    visit('/', 0);
    return out;
  }

  /** Every loaded entry whose name contains `text` (case-insensitive). */
  search(text: string): TreeRow[] {
    const needle = text.toLowerCase();
    const out: TreeRow[] = [];
    for (const [dir, s] of this.dirs) {
      for (const entry of s.entries)
        if (entry.name.toLowerCase().includes(needle)) out.push({ path: childPath(dir, entry.name), depth: 0, entry });
    }
    return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  }
}

/** The tree model of a view (a new one when the image, layer or platform changes). */
export function useTreeModel(ref: string, layer: 'merged' | number, platform: string | undefined): TreeModel {
  const model = useMemo(() => new TreeModel(ref, layer, platform), [ref, layer, platform]);
  const [, setVersion] = useState(0);
  useEffect(() => model.subscribe(() => setVersion(model.version)), [model]);
  return model;
}
