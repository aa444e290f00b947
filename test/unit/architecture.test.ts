// Keeps the dependency direction of docs/ARCHITECTURE.md true: a lower layer never imports
// a higher one. Fails with the offending import named.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, dirname, resolve } from 'node:path';

const src = resolve(import.meta.dirname, '../../src');

/** What each top-level part of src/ may import (besides itself). */
const allowed: Record<string, string[]> = {
  'errors.ts': [],
  io: ['errors.ts'],
  ref: ['errors.ts'],
  oci: ['errors.ts', 'io', 'ref'],
  registry: ['errors.ts', 'io', 'ref', 'oci'],
  cache: ['errors.ts', 'io', 'ref'],
  codec: ['errors.ts', 'io'],
  erofs: ['errors.ts', 'io', 'vfs-types', 'codec'],
  tar: ['errors.ts', 'io', 'ref', 'vfs-types', 'codec'],
  vfs: ['errors.ts', 'io', 'vfs-types', 'codec', 'erofs', 'tar'],
  image: ['errors.ts', 'io', 'ref', 'oci', 'registry', 'cache', 'codec', 'erofs', 'tar', 'vfs', 'vfs-types', 'config'],
  config: ['errors.ts', 'io', 'ref', 'registry'],
  build: ['errors.ts', 'io', 'ref', 'oci', 'registry', 'cache', 'codec', 'erofs', 'tar', 'vfs', 'vfs-types', 'image'],
  mount: ['errors.ts', 'io', 'vfs', 'vfs-types', 'image', 'ref', 'oci', 'registry', 'cache', 'erofs', 'tar', 'config'],
  serve: ['errors.ts', 'io', 'ref', 'oci', 'vfs', 'vfs-types', 'image'],
  web: ['errors.ts', 'io', 'ref', 'oci', 'registry', 'cache', 'tar', 'vfs', 'vfs-types', 'image'],
  // The page runs in a browser: it may use the API's types and nothing of the library.
  'web-page': ['web'],
  cli: ['*'],
  'index.ts': ['*'],
};

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? files(p) : /\.tsx?$/.test(p) ? [p] : [];
  });
}

/** The part a file belongs to; the vfs interface files count as `vfs-types` (formats implement it). */
function partOf(file: string): string {
  const rel = relative(src, file).replace(/\.js$/, '.ts').split('/');
  if (rel[0] === 'vfs' && ['types.ts', 'errors.ts', 'device.ts'].includes(rel[1])) return 'vfs-types';
  if (rel[0] === 'web' && rel[1] === 'page') return 'web-page';
  return rel[0];
}

test('no module imports a layer above it', () => {
  const bad: string[] = [];
  for (const file of files(src)) {
    const from = partOf(file);
    const rules = allowed[from === 'vfs-types' ? 'vfs' : from];
    if (!rules) {
      bad.push(`${relative(src, file)}: part ${from} has no rule in architecture.test.ts`);
      continue;
    }
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/(?:import|export)[^'"]*?from\s+['"](\.[^'"]+)['"]/g)) {
      const target = partOf(resolve(dirname(file), m[1]));
      if (target === from || rules.includes('*') || rules.includes(target)) continue;
      if (from === 'vfs-types' && target === 'vfs-types') continue;
      bad.push(`${relative(src, file)} imports ${m[1]} (${from} → ${target})`);
    }
  }
  assert.deepEqual(bad, []);
});
