/**
 * Text forms of inode metadata, as `ls -l` and `stat` print them.
 */
import type { FileType, Inode } from '../vfs/types.js';
import { splitRdev } from '../vfs/device.js';

const TYPE_CHAR: Record<FileType, string> = {
  file: '-',
  dir: 'd',
  symlink: 'l',
  chardev: 'c',
  blockdev: 'b',
  fifo: 'p',
  socket: 's',
};

/** `drwxr-xr-x`-style mode string, with setuid/setgid/sticky as `ls` shows them. */
export function modeString(inode: Pick<Inode, 'type' | 'mode'>): string {
  const m = inode.mode;
  const rwx = (shift: number, special: boolean, lower: string, upper: string) => {
    const r = m & (4 << shift) ? 'r' : '-';
    const w = m & (2 << shift) ? 'w' : '-';
    const xOn = (m & (1 << shift)) !== 0;
    const x = special ? (xOn ? lower : upper) : xOn ? 'x' : '-';
    return r + w + x;
  };
  return (
    TYPE_CHAR[inode.type] +
    rwx(6, (m & 0o4000) !== 0, 's', 'S') +
    rwx(3, (m & 0o2000) !== 0, 's', 'S') +
    rwx(0, (m & 0o1000) !== 0, 't', 'T')
  );
}

/** `2024-01-31 12:34` in UTC (so output does not depend on the machine's time zone). */
export function shortTime(sec: number): string {
  const d = new Date(sec * 1000);
  return Number.isNaN(d.getTime()) ? String(sec) : d.toISOString().slice(0, 16).replace('T', ' ');
}

/** ISO 8601 time with nanoseconds, UTC. */
export function fullTime(sec: number, nsec: number): string {
  const d = new Date(sec * 1000);
  if (Number.isNaN(d.getTime())) return `${sec}.${String(nsec).padStart(9, '0')}`;
  return d.toISOString().replace(/\.\d{3}Z$/, `.${String(nsec).padStart(9, '0')}Z`);
}

/**
 * The JSON document of one inode, the same for `ls --json` and `stat --json` (which adds xattrs
 * and format details): `mode` is the octal permission string (`"0755"`, with setuid/setgid/sticky
 * as a fourth digit), `mtime` ISO 8601 UTC with nanoseconds, `rdev` (devices only) `"major:minor"`,
 * `target` (symlinks only) the link text as stored.
 */
export interface InodeJson {
  path: string;
  type: FileType;
  mode: string;
  modeString: string;
  uid: number;
  gid: number;
  size: number;
  mtime: string;
  nlink: number;
  ino: number;
  rdev?: string;
  target?: string;
}

/** The {@link InodeJson} of `inode` at `path` (`target`: a symlink's text, when read). */
export function inodeJson(path: string, inode: Inode, target?: string): InodeJson {
  return {
    path,
    type: inode.type,
    mode: `0${(inode.mode & 0o7777).toString(8).padStart(3, '0')}`,
    modeString: modeString(inode),
    uid: inode.uid,
    gid: inode.gid,
    size: inode.size,
    mtime: fullTime(inode.mtimeSec, inode.mtimeNsec),
    nlink: inode.nlink,
    ino: inode.ino,
    ...(inode.type === 'chardev' || inode.type === 'blockdev' ? { rdev: splitRdev(inode.rdev).join(':') } : {}),
    ...(target !== undefined ? { target } : {}),
  };
}

/** Column text of one `ls -l` line before the name: mode, links, owner, group, size/device, time. */
export function longColumns(inode: Inode): string[] {
  const sizeCol =
    inode.type === 'chardev' || inode.type === 'blockdev' ? splitRdev(inode.rdev).join(', ') : String(inode.size);
  const owner = [String(inode.uid), String(inode.gid)];
  return [modeString(inode), String(inode.nlink), ...owner, sizeCol, shortTime(inode.mtimeSec)];
}

/** Pads columns of several rows to align them like `ls -l` (numbers right-aligned). */
export function alignRows(rows: string[][], rightAligned: Set<number>): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows.map((row) =>
    row
      .map((c, i) => (i === row.length - 1 ? c : rightAligned.has(i) ? c.padStart(widths[i]) : c.padEnd(widths[i])))
      .join(' '),
  );
}
