/**
 * Normalisation of member names. Tar names are untrusted: `./a`, `/a`, `a//b/` all name `a`
 * or `a/b`; a name with a `..` component is refused rather than resolved, as GNU tar refuses
 * to extract it, so nothing built on the index can ever address a path outside the layer.
 *
 * @packageDocumentation
 */

/**
 * The normalised form of a member name (see {@link TarEntry.path}), or undefined when the
 * name has a `..` component or a NUL.
 */
export function normalizeTarPath(raw: string): string | undefined {
  if (raw.includes('\0')) return undefined;
  const parts: string[] = [];
  for (const c of raw.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') return undefined;
    parts.push(c);
  }
  return parts.join('/');
}
