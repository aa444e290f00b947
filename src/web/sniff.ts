/**
 * What a file's first bytes look like, so the page picks a view: a picture (PNG, JPEG, GIF by
 * their magic numbers; SVG by its root element), an ELF binary, text (UTF-8 without NULs) or
 * other binary. The decision is the server's: the page never guesses a type from content it
 * would then render.
 *
 * @packageDocumentation
 */
import type { ContentKind } from './api-types.js';
import { isElf } from './elf.js';

/** Bytes looked at. */
export const SNIFF_BYTES = 8192;

/** MIME types of the pictures the page shows, by kind. */
export const PICTURE_TYPES: Partial<Record<ContentKind, string>> = {
  png: 'image/png',
  jpeg: 'image/jpeg',
  gif: 'image/gif',
  svg: 'image/svg+xml',
};

const startsWith = (b: Uint8Array, sig: number[]) => b.length >= sig.length && sig.every((x, i) => b[i] === x);

/** True when `b` is UTF-8 text: valid sequences (one may be cut at the end), no NUL, few controls. */
export function looksLikeText(b: Uint8Array): boolean {
  let controls = 0;
  for (let i = 0; i < b.length;) {
    const c = b[i];
    if (c === 0) return false;
    if (c < 0x80) {
      if (c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d && c !== 0x0c && c !== 0x1b) controls++;
      i++;
      continue;
    }
    const n = c >= 0xf0 && c <= 0xf4 ? 3 : c >= 0xe0 ? 2 : c >= 0xc2 && c < 0xe0 ? 1 : -1;
    if (n < 0) return false;
    for (let k = 1; k <= n; k++) {
      if (i + k >= b.length) return true; // cut at the end of the sample
      if ((b[i + k] & 0xc0) !== 0x80) return false;
    }
    i += n + 1;
  }
  return controls * 100 <= b.length;
}

/** True when text starts (after a BOM, an XML declaration, comments and a doctype) with `<svg`. */
function isSvg(b: Uint8Array): boolean {
  const text = Buffer.from(b.subarray(0, 4096))
    .toString('utf8')
    .replace(/^\uFEFF/, '');
  const rest = text.replace(
    /^\s*(<\?xml[\s\S]*?\?>\s*)?((<!--[\s\S]*?-->|<!DOCTYPE[^>[]*(\[[\s\S]*?\])?\s*>)\s*)*/i,
    '',
  );
  return /^<svg[\s>/]/i.test(rest);
}

/** The kind of a file from its first bytes (at most {@link SNIFF_BYTES}). */
export function sniff(head: Uint8Array, size: number): ContentKind {
  if (size === 0) return 'empty';
  if (startsWith(head, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return 'png';
  if (startsWith(head, [0xff, 0xd8, 0xff])) return 'jpeg';
  if (startsWith(head, [0x47, 0x49, 0x46, 0x38]) && (head[4] === 0x37 || head[4] === 0x39) && head[5] === 0x61)
    return 'gif';
  if (isElf(head)) return 'elf';
  if (!looksLikeText(head)) return 'binary';
  return isSvg(head) ? 'svg' : 'text';
}
