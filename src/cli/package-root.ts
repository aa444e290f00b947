import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let root: string | undefined | null = null;

/**
 * The ocifs package's root directory: the nearest directory above this module whose
 * package.json names `ocifs`. The module runs from several depths — `src/cli` (tests),
 * `dist/src/cli` (the library build) and `dist/bundle` (the command's bundle) — so files shipped
 * with the package (package.json, the sample image) are found by looking, not by a fixed `../`.
 * Undefined if there is none (a copy of the code outside its package).
 */
export function packageRoot(): string | undefined {
  if (root !== null) return root;
  root = undefined;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const file = join(dir, 'package.json');
    try {
      if (existsSync(file) && (JSON.parse(readFileSync(file, 'utf8')) as { name?: unknown }).name === 'ocifs')
        return (root = dir);
    } catch {
      // not ours (unreadable or not JSON): keep looking
    }
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return root;
}

/** The package's version from its package.json ('0.0.0' outside the package). */
export function packageVersion(): string {
  const dir = packageRoot();
  if (dir === undefined) return '0.0.0';
  return (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string }).version;
}
