/**
 * Reads `/proc/self/mountinfo`, the kernel's list of mounts, to learn whether a directory is a
 * mountpoint and what is mounted there. The mountpoint itself is never stat'ed for this: on a
 * FUSE mount whose server died that would fail (ENOTCONN), and on a wedged one it could block.
 *
 * @packageDocumentation
 */
import { readFile, realpath } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';

/** One line of mountinfo. */
export interface MountInfoEntry {
  mountId: number;
  parentId: number;
  /** `major:minor` of the mounted device. */
  device: string;
  /** Where it is mounted (escapes decoded). */
  mountpoint: string;
  /** Filesystem type, e.g. `fuse.ocifs`, `erofs`. */
  fstype: string;
  /** Mount source, e.g. the fsname of a FUSE mount or the image file of an EROFS mount. */
  source: string;
  /** Per-mount options (`ro,nosuid,...`). */
  options: string;
}

/** Decodes the octal escapes (`\040` ...) the kernel writes for spaces, tabs, newlines and backslashes. */
function unescape(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** Parses mountinfo text. Lines that do not parse are skipped. */
export function parseMountInfo(text: string): MountInfoEntry[] {
  const out: MountInfoEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    const f = line.split(' ');
    const sep = f.indexOf('-', 6);
    if (f.length < 10 || sep < 0 || sep + 2 >= f.length) continue;
    out.push({
      mountId: Number(f[0]),
      parentId: Number(f[1]),
      device: f[2],
      mountpoint: unescape(f[4]),
      options: f[5],
      fstype: unescape(f[sep + 1]),
      source: unescape(f[sep + 2]),
    });
  }
  return out;
}

/** The current mounts of this process's mount namespace. */
export async function readMountInfo(): Promise<MountInfoEntry[]> {
  return parseMountInfo(await readFile('/proc/self/mountinfo', 'utf8'));
}

/**
 * The absolute, canonical form of a mountpoint path, resolving symlinks in its parent but not
 * touching the directory itself (see the module note).
 */
export async function canonicalMountpoint(path: string): Promise<string> {
  const abs = resolve(path);
  if (abs === '/') return abs;
  try {
    return join(await realpath(dirname(abs)), basename(abs));
  } catch {
    return abs;
  }
}

/** The mounts on exactly `path` (topmost last), from a fresh read of mountinfo. */
export async function mountsAt(path: string): Promise<MountInfoEntry[]> {
  const p = await canonicalMountpoint(path);
  return (await readMountInfo()).filter((m) => m.mountpoint === p);
}

/** True when something is mounted on `path`. */
export async function isMountpoint(path: string): Promise<boolean> {
  return (await mountsAt(path)).length > 0;
}
