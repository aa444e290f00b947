/**
 * POSIX pax extended header records (`"%d %s=%s\n"`, the length counting the whole record),
 * and the xattr encodings real archivers put in them.
 *
 * @packageDocumentation
 */

/** One pax record; the value is kept as bytes because xattr values are binary. */
export interface PaxRecord {
  key: string;
  value: Uint8Array;
}

const utf8 = new TextDecoder('utf-8');

/**
 * Parses the records of a pax extended header. Returns a string describing the problem for
 * malformed input (the caller turns it into an error naming the entry and offset).
 */
export function parsePax(data: Uint8Array): PaxRecord[] | string {
  const out: PaxRecord[] = [];
  let p = 0;
  while (p < data.length) {
    // Trailing NUL padding after the last record is tolerated (some writers pad the data).
    if (data[p] === 0) break;
    let len = 0;
    let q = p;
    while (q < data.length && data[q] >= 0x30 && data[q] <= 0x39 && q - p < 12) len = len * 10 + (data[q++] - 0x30);
    if (q === p || data[q] !== 0x20) return `bad pax record length at ${p}`;
    if (len <= q - p + 1 || p + len > data.length || data[p + len - 1] !== 0x0a) return `bad pax record at ${p}`;
    const rec = data.subarray(q + 1, p + len - 1);
    const eq = rec.indexOf(0x3d);
    if (eq <= 0) return `pax record without key at ${p}`;
    out.push({ key: utf8.decode(rec.subarray(0, eq)), value: rec.subarray(eq + 1) });
    p += len;
  }
  return out;
}

/** The value of a record as UTF-8 text. */
export function paxText(value: Uint8Array): string {
  return utf8.decode(value);
}

/**
 * The xattr a pax record carries, or undefined: `SCHILY.xattr.NAME=raw bytes` (GNU tar, Go's
 * archive/tar, star) and `LIBARCHIVE.xattr.URLENCODED_NAME=base64` (bsdtar).
 */
export function paxXattr(rec: PaxRecord): [string, Uint8Array] | undefined {
  // Copies, so an entry never pins the read buffer its header came from.
  if (rec.key.startsWith('SCHILY.xattr.')) return [rec.key.slice(13), new Uint8Array(rec.value)];
  if (rec.key.startsWith('LIBARCHIVE.xattr.')) {
    let name: string;
    try {
      name = decodeURIComponent(rec.key.slice(17));
    } catch {
      return undefined;
    }
    return [name, new Uint8Array(Buffer.from(paxText(rec.value), 'base64'))];
  }
  return undefined;
}

/**
 * A pax decimal time (`mtime=1700000000.123456789`, possibly negative) as seconds and
 * nanoseconds, or undefined when malformed.
 */
export function paxTime(text: string): { sec: number; nsec: number } | undefined {
  const m = /^(-?)(\d{1,15})(?:\.(\d+))?$/.exec(text);
  if (!m) return undefined;
  const whole = Number(m[2]);
  const frac = (m[3] ?? '').slice(0, 9).padEnd(9, '0');
  let nsec = Number(frac);
  let sec = whole;
  if (m[1] === '-') {
    // -1.25 is 1.25 s before the epoch: sec -2, nsec 750000000.
    sec = -whole;
    if (nsec > 0) {
      sec -= 1;
      nsec = 1e9 - nsec;
    }
  }
  return { sec, nsec };
}

/** A pax decimal integer (sizes, ids), bounded to a safe integer; undefined when malformed. */
export function paxInt(text: string): number | undefined {
  if (!/^\d{1,16}$/.test(text)) return undefined;
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : undefined;
}
