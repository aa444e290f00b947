/**
 * The order of an eStargz layer's entries: the prioritized files first (what a container reads
 * at start-up, so a lazy puller prefetches them together), then the landmark
 * `.prefetch.landmark`, then the rest in source order; without prioritized files the layer
 * starts with `.no.prefetch.landmark` (as `ctr-remote image optimize` and stargz-snapshotter's
 * builder write them).
 *
 * Prioritized files come from the layer's filesystem (random access, so the stream need not be
 * held); the stream then skips them. Their parent directories are not moved: tar and TOC
 * readers make missing parents, and the directories' own entries follow in source order. A
 * prioritized file that is a hardlink in the layer is written as a regular file.
 *
 * @packageDocumentation
 */
import type { ReadOptions } from '../io/byte-source.js';
import type { FileSystem } from '../vfs/types.js';
import type { BuildEntry, ContentPiece } from './entry.js';
import { fsEntryAt } from './fs-entries.js';
import { NO_PREFETCH_LANDMARK, PREFETCH_LANDMARK } from './estargz-writer.js';

/** The content of a landmark file (stargz-snapshotter's `landmarkContents`). */
const LANDMARK_BYTE = 0x0f;

function landmark(name: string): BuildEntry {
  const content = (async function* (): AsyncGenerator<ContentPiece> {
    yield { offset: 0, data: new Uint8Array([LANDMARK_BYTE]) };
  })();
  return { path: name, type: 'file', mode: 0, uid: 0, gid: 0, mtimeSec: 0, mtimeNsec: 0, size: 1, rdev: 0, content };
}

/** `/usr/bin/x`, `usr/bin/x/`, `./usr/bin/x` → `usr/bin/x`; undefined for `..` or the root. */
export function normalizePrioritized(p: string): string | undefined {
  const parts = p.split('/').filter((c) => c !== '' && c !== '.');
  if (parts.length === 0 || parts.includes('..')) return undefined;
  return parts.join('/');
}

/** Orders a layer's entries for eStargz; see the module comment. */
export async function* estargzOrder(
  entries: AsyncIterable<BuildEntry>,
  prioritized: readonly string[],
  layerFs: () => Promise<FileSystem>,
  options: ReadOptions = {},
): AsyncGenerator<BuildEntry> {
  const moved = new Set<string>();
  if (prioritized.length > 0) {
    const fs = await layerFs();
    for (const raw of prioritized) {
      const path = normalizePrioritized(raw);
      if (path === undefined || moved.has(path)) continue;
      const e = await fsEntryAt(fs, path, options);
      if (!e || e.type === 'dir') continue;
      moved.add(path);
      yield e;
    }
  }
  yield landmark(moved.size > 0 ? PREFETCH_LANDMARK : NO_PREFETCH_LANDMARK);
  for await (const e of entries) {
    if (e.type !== 'dir' && moved.has(e.path)) continue;
    yield e;
  }
}
