/**
 * "Find in image": walks a whole tree (or a subtree) for names that contain a text, streaming
 * matches and a progress line a few times a second. The browser cancels by closing the
 * request; the walk stops at its next step.
 *
 * @packageDocumentation
 */
import type { FileSystem } from '../vfs/types.js';
import { walk } from '../vfs/walk.js';
import type { FindLine } from './api-types.js';

/** Matches reported at most (the walk stops after them). */
export const MAX_FIND_MATCHES = 5000;
/** Time between progress lines (ms). */
export const PROGRESS_EVERY_MS = 200;

/** Walks `fs` from `start` for names containing `query` (case-insensitive), emitting lines. */
export async function findNames(
  fs: FileSystem,
  start: string,
  query: string,
  emit: (line: FindLine) => Promise<void>,
  signal: AbortSignal,
): Promise<void> {
  const needle = query.toLowerCase();
  let scanned = 0;
  let matches = 0;
  let last = Date.now();
  for await (const e of walk(fs, start, { signal, unsafeNames: 'skip', includeStart: false, prefetch: 64 })) {
    scanned++;
    if (e.name.toLowerCase().includes(needle)) {
      if (matches >= MAX_FIND_MATCHES) {
        await emit({ t: 'done', scanned, matches, truncated: true });
        return;
      }
      matches++;
      await emit({ t: 'match', path: e.path, type: e.inode.type, size: e.inode.size });
    }
    if (Date.now() - last >= PROGRESS_EVERY_MS) {
      last = Date.now();
      await emit({ t: 'progress', scanned, at: e.path });
    }
  }
  await emit({ t: 'done', scanned, matches, truncated: false });
}
