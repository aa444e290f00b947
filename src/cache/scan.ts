/**
 * Walking the cache directory for management: which digests have a blob instance and/or
 * sidecars, how much disk they use (allocated blocks, not apparent size), and when they were
 * last used.
 *
 * @packageDocumentation
 */
import { lstat, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parseDigest, type ParsedDigest } from './digest.js';
import type { CacheLayout } from './layout.js';

/** One digest's files in the cache. */
export interface ScanEntry {
  digest: ParsedDigest;
  /** The blob instance directory exists. */
  hasBlob: boolean;
  /** Allocated bytes of the instance (data, map, claims, directories). */
  blobBytes: number;
  /** Allocated bytes of the sidecars. */
  sidecarBytes: number;
  /** Sidecar names. */
  sidecars: string[];
  /** Last access (ms since epoch): the newer of the instance's and the sidecars' directory mtime. */
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

async function digestsIn(layout: CacheLayout, kind: 'blobs' | 'sidecars'): Promise<ParsedDigest[]> {
  const out: ParsedDigest[] = [];
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

/** Scans one digest. */
export async function scanDigest(layout: CacheLayout, d: ParsedDigest): Promise<ScanEntry | undefined> {
  const blobDir = layout.blobDir(d);
  const sideDir = layout.sidecarDir(d);
  const [b, s] = await Promise.all([stat(blobDir).catch(() => undefined), stat(sideDir).catch(() => undefined)]);
  if (!b && !s) return undefined;
  const sidecars = s ? (await readdir(sideDir).catch(() => [] as string[])).sort() : [];
  return {
    digest: d,
    hasBlob: b !== undefined,
    blobBytes: b ? await allocatedBytes(blobDir) : 0,
    sidecarBytes: s ? await allocatedBytes(sideDir) : 0,
    sidecars,
    lastAccessMs: Math.max(b?.mtimeMs ?? 0, s?.mtimeMs ?? 0),
  };
}

/** Scans every digest in the cache. */
export async function scanCache(layout: CacheLayout): Promise<ScanEntry[]> {
  const seen = new Map<string, ParsedDigest>();
  for (const d of [...(await digestsIn(layout, 'blobs')), ...(await digestsIn(layout, 'sidecars'))]) seen.set(d.digest, d);
  const out: ScanEntry[] = [];
  for (const d of seen.values()) {
    const e = await scanDigest(layout, d);
    if (e) out.push(e);
  }
  return out;
}
