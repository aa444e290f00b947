/**
 * Walking the cache directory for management: which blob instances there are (the verified
 * one of a digest in `blobs/`, each origin's unverified one in `partial/`), how much disk they
 * and their sidecars use (allocated blocks, not apparent size), and when they were last used.
 *
 * @packageDocumentation
 */
import { lstat, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parseDigest, type Digest } from '../ref/digest.js';
import type { InstancePlace } from './disk-store.js';
import { SIDECARS_DIR, type CacheLayout } from './layout.js';
import { isOriginId } from './origin.js';

/** One blob instance in the cache. */
export interface ScanEntry {
  digest: Digest;
  /** `verified`: in `blobs/`, shared by every origin; `partial`: one origin's, unverified. */
  place: InstancePlace;
  /** The instance directory. */
  dir: string;
  /** Allocated bytes of the instance without its sidecars (data, map, claims, directories). */
  blobBytes: number;
  /** Allocated bytes of its sidecars. */
  sidecarBytes: number;
  /** Sidecar names. */
  sidecars: string[];
  /** Last access (ms since epoch): the instance directory's mtime. */
  lastAccessMs: number;
}

/** Allocated bytes of a file or tree (st.blocks is in 512-byte units on Linux). */
export async function allocatedBytes(path: string): Promise<number> {
  let st;
  try {
    st = await lstat(path);
  } catch {
    return 0;
  }
  let total = st.blocks * 512;
  if (st.isDirectory()) {
    const names = await readdir(path).catch(() => [] as string[]);
    for (const n of names) total += await allocatedBytes(join(path, n));
  }
  return total;
}

async function digestsIn(layout: CacheLayout, kind: 'blobs' | 'partial'): Promise<Digest[]> {
  const out: Digest[] = [];
  for (const alg of ['sha256', 'sha512']) {
    for (const hex of await readdir(layout.algDir(kind, alg)).catch(() => [] as string[])) {
      try {
        out.push(parseDigest(`${alg}:${hex}`));
      } catch {
        /* not ours: ignore */
      }
    }
  }
  return out;
}

async function scanInstance(d: Digest, place: InstancePlace, dir: string): Promise<ScanEntry | undefined> {
  const st = await stat(dir).catch(() => undefined);
  if (!st?.isDirectory()) return undefined;
  const sideDir = join(dir, SIDECARS_DIR);
  const sidecars = (await readdir(sideDir).catch(() => [] as string[])).sort();
  const sidecarBytes = sidecars.length ? await allocatedBytes(sideDir) : 0;
  return {
    digest: d,
    place,
    dir,
    blobBytes: (await allocatedBytes(dir)) - sidecarBytes,
    sidecarBytes,
    sidecars,
    lastAccessMs: st.mtimeMs,
  };
}

/** Scans one digest's instances: the verified one first, then each origin's unverified one. */
export async function scanDigest(layout: CacheLayout, d: Digest): Promise<ScanEntry[]> {
  const out: ScanEntry[] = [];
  const verified = await scanInstance(d, 'verified', layout.blobDir(d));
  if (verified) out.push(verified);
  const root = layout.partialRoot(d);
  for (const name of (await readdir(root).catch(() => [] as string[])).sort()) {
    if (!isOriginId(name)) continue;
    const e = await scanInstance(d, 'partial', join(root, name));
    if (e) out.push(e);
  }
  return out;
}

/** Every digest with a directory in `blobs/` or `partial/` (instances or not). */
export async function cachedDigests(layout: CacheLayout): Promise<Digest[]> {
  const seen = new Map<string, Digest>();
  const found = [...(await digestsIn(layout, 'blobs')), ...(await digestsIn(layout, 'partial'))];
  for (const d of found) seen.set(d.value, d);
  return [...seen.values()];
}

/** Scans every instance in the cache. */
export async function scanCache(layout: CacheLayout): Promise<ScanEntry[]> {
  const out: ScanEntry[] = [];
  for (const d of await cachedDigests(layout)) out.push(...(await scanDigest(layout, d)));
  return out;
}
