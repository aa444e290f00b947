#!/usr/bin/env node
// Runs the test suite with Node's built-in runner on the TypeScript sources (through tsx).
// Usage: node scripts/test.mjs [--unit|--integration] [name-filter...]
// Builds dist/ first (`npm run build`: the library and the bundled command), because
// integration tests run the real `ocifs` command from it.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const args = process.argv.slice(2);
const only = args.includes('--unit')
  ? ['unit']
  : args.includes('--integration')
    ? ['integration']
    : ['unit', 'integration'];
const filters = args.filter((a) => !a.startsWith('--'));

function find(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...find(p));
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

const build = spawnSync('npm', ['run', '--silent', 'build'], { cwd: root, stdio: 'inherit' });
if (build.status !== 0) process.exit(build.status ?? 1);

const files = only
  .flatMap((kind) => find(join(root, 'test', kind)))
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .map((f) => relative(root, f))
  .sort();
if (files.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}
const r = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-concurrency=2', '--test-timeout=600000', ...files],
  { cwd: root, stdio: 'inherit' },
);
process.exit(r.status ?? 1);
