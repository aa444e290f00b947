/** A parsed `Content-Range: bytes START-END/TOTAL` header; `total` is undefined for `*`. */
export interface ContentRange {
  start: number;
  /** Inclusive end. */
  end: number;
  total?: number;
}

const RE = /^bytes[ \t]+([0-9]{1,16})-([0-9]{1,16})\/([0-9]{1,16}|\*)$/i;

/**
 * Parses the Content-Range of a 206 response. Returns undefined for anything malformed,
 * unsatisfied (`bytes * /N`), inverted, or past the total.
 */
export function parseContentRange(value: string | undefined | null): ContentRange | undefined {
  if (typeof value !== 'string') return undefined;
  const m = RE.exec(value.trim());
  if (!m) return undefined;
  const start = Number(m[1]);
  const end = Number(m[2]);
  const total = m[3] === '*' ? undefined : Number(m[3]);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || end < start) return undefined;
  if (total !== undefined && (!Number.isSafeInteger(total) || end >= total)) return undefined;
  return total === undefined ? { start, end } : { start, end, total };
}
