/**
 * Which command-line arguments name a local image file rather than a registry reference:
 * a path starting with `/`, `./` or `../`, or anything after `file:`.
 */

/** True when `input` names a local file. */
export function isLocalImagePath(input: string): boolean {
  return (
    input.startsWith('/') ||
    input.startsWith('./') ||
    input.startsWith('../') ||
    input.startsWith('file:') ||
    input === '.' ||
    input === '..'
  );
}

/** The file path of a local image argument (`file:x` → `x`). */
export function localImagePath(input: string): string {
  return input.startsWith('file:') ? input.slice(5).replace(/^\/\/(?=\/)/, '') : input;
}
