// How numbers and metadata are shown.
import type { EntryDoc } from '../api-types.js';

/** Bytes in binary units: `512 B`, `3.4 KiB`, `1.20 GiB`. */
export function fmtBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0)} ${units[i]}`;
}

/** A signed byte delta: `+1.2 KiB`, `−300 B`. */
export function fmtDelta(n: number): string {
  if (n === 0) return '±0';
  return `${n > 0 ? '+' : '−'}${fmtBytes(Math.abs(n))}`;
}

const TYPE_CHAR: Record<EntryDoc['type'], string> = {
  file: '-',
  dir: 'd',
  symlink: 'l',
  chardev: 'c',
  blockdev: 'b',
  fifo: 'p',
  socket: 's',
};

/** `ls -l` mode text: `drwxr-xr-x`, with setuid/setgid/sticky. */
export function fmtMode(type: EntryDoc['type'], mode: number): string {
  const rwx = (bits: number, special: boolean, ch: string) =>
    `${bits & 4 ? 'r' : '-'}${bits & 2 ? 'w' : '-'}${special ? (bits & 1 ? ch : ch.toUpperCase()) : bits & 1 ? 'x' : '-'}`;
  return (
    TYPE_CHAR[type] +
    rwx((mode >> 6) & 7, !!(mode & 0o4000), 's') +
    rwx((mode >> 3) & 7, !!(mode & 0o2000), 's') +
    rwx(mode & 7, !!(mode & 0o1000), 't')
  );
}

/** A UTC time as `2024-01-31 12:00`. */
export function fmtTime(sec: number): string {
  const d = new Date(sec * 1000);
  return Number.isNaN(d.getTime()) ? '?' : d.toISOString().slice(0, 16).replace('T', ' ');
}

/** A digest shortened for tables: `sha256:0123456789ab`. */
export function shortDigest(d: string): string {
  const i = d.indexOf(':');
  return i < 0 ? d : d.slice(0, i + 13);
}

/** A percentage with one decimal (or a few for tiny ratios). */
export function fmtPercent(part: number, whole: number): string {
  if (whole <= 0) return '-';
  const p = (part / whole) * 100;
  return `${p < 0.1 && p > 0 ? p.toFixed(3) : p.toFixed(1)}%`;
}
