/**
 * Where an image's bytes are: the merged tree with each directory's total (the treemap), and
 * per layer the bytes of files it added and how many of those a later layer hid by
 * overwriting or deleting them ("wasted": shipped and pulled, never seen in a container).
 *
 * One walk of the merged tree records which layer inode every visible file comes from; one
 * walk of each layer then sums its files, and those not visible are wasted. This reads the
 * metadata of the whole image (for a gzip layer: its index pass), so it runs only when the
 * page asks, and its result is kept for the life of the open image.
 *
 * @packageDocumentation
 */
import { WHITEOUT_PREFIX } from '../vfs/merge.js';
import { walk } from '../vfs/walk.js';
import type { LayerBytesDoc, SizeNode, SizesLine } from './api-types.js';
import type { ImageViews } from './image-views.js';
import { PROGRESS_EVERY_MS } from './api-find.js';

/** The result of {@link computeSizes}. */
export interface SizesResult {
  tree: SizeNode;
  layers: LayerBytesDoc[];
  files: number;
}

type Progress = (line: Extract<SizesLine, { t: 'progress' }>) => Promise<void>;

const done = new WeakMap<ImageViews, SizesResult>();

/** Sums directory sizes bottom-up (children first), in place. */
function total(node: SizeNode): number {
  if (node.length === 2) return node[1];
  let sum = 0;
  for (const c of node[2]) sum += total(c);
  node[1] = sum;
  return sum;
}

/** Counts walk steps and reports progress a few times a second. */
function ticker(progress: Progress) {
  let scanned = 0;
  let last = Date.now();
  return async (phase: string) => {
    scanned++;
    if (Date.now() - last < PROGRESS_EVERY_MS) return;
    last = Date.now();
    await progress({ t: 'progress', scanned, phase });
  };
}

/** The size tree and the layers' bytes of an image (computed once per open image). */
export async function computeSizes(views: ImageViews, progress: Progress, signal: AbortSignal): Promise<SizesResult> {
  const known = done.get(views);
  if (known) return known;
  const tick = ticker(progress);
  const merged = views.tree('merged');
  const visible = Array.from({ length: views.layerCount }, () => new Set<number>());
  const root: [string, number, SizeNode[]] = ['/', 0, []];
  const stack: [string, number, SizeNode[]][] = [root];
  const counted = new Set<number>();
  let files = 0;
  for await (const e of walk(merged, '/', { signal, unsafeNames: 'skip', includeStart: false, prefetch: 64 })) {
    await tick('merged tree');
    stack.length = e.depth;
    const parent = stack[stack.length - 1];
    if (e.inode.type === 'dir') {
      const node: [string, number, SizeNode[]] = [e.name, 0, []];
      parent[2].push(node);
      stack.push(node);
      continue;
    }
    let size = 0;
    if (e.inode.type === 'file') {
      const o = merged.origin(e.inode.ino);
      visible[o.layer].add(o.ino);
      // A hardlinked file counts once, at its first name.
      if (e.inode.nlink <= 1 || !counted.has(e.inode.ino)) {
        size = e.inode.size;
        files++;
      }
      if (e.inode.nlink > 1) counted.add(e.inode.ino);
    }
    parent[2].push([e.name, size]);
  }
  total(root);
  const layers: LayerBytesDoc[] = [];
  for (let i = 0; i < views.layerCount; i++) {
    const doc: LayerBytesDoc = { index: i, added: 0, wasted: 0, files: 0 };
    const seen = new Set<number>();
    for await (const e of walk(views.layer(i), '/', {
      signal,
      unsafeNames: 'skip',
      includeStart: false,
      prefetch: 64,
    })) {
      await tick(`layer ${i}`);
      if (e.inode.type !== 'file' || e.name.startsWith(WHITEOUT_PREFIX) || seen.has(e.inode.ino)) continue;
      seen.add(e.inode.ino);
      doc.files++;
      doc.added += e.inode.size;
      if (!visible[i].has(e.inode.ino)) doc.wasted += e.inode.size;
    }
    layers.push(doc);
  }
  const result = { tree: root, layers, files };
  done.set(views, result);
  return result;
}
