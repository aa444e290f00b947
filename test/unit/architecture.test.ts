// Keeps the dependency direction of docs/ARCHITECTURE.md true: a lower layer never imports
// a higher one, and no file imports itself through others (a file cycle). Every kind of import
// counts: static (`import … from`, `export … from`), side-effect (`import './x.js'`), dynamic
// (`import('./x.js')`, also in a type position) and a worker thread's module named beside the
// code that starts it (`new URL('./x-worker.js', import.meta.url)`). Fails with the offending
// import named.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
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
  // Writing a FileSystem to the host: above the model it writes, below image and the CLI.
  extract: ['errors.ts', 'io', 'codec', 'vfs', 'vfs-types'],
  image: ['errors.ts', 'io', 'ref', 'oci', 'registry', 'cache', 'codec', 'erofs', 'tar', 'vfs', 'vfs-types', 'config'],
  config: ['errors.ts', 'io', 'ref', 'registry'],
  build: ['errors.ts', 'io', 'ref', 'oci', 'registry', 'cache', 'codec', 'erofs', 'tar', 'vfs', 'vfs-types', 'image'],
  mount: ['errors.ts', 'io', 'vfs', 'vfs-types', 'image', 'ref', 'oci', 'registry', 'cache', 'erofs', 'tar', 'config'],
  runtime: [
    'errors.ts',
    'io',
    'ref',
    'oci',
    'registry',
    'cache',
    'codec',
    'erofs',
    'tar',
    'vfs',
    'vfs-types',
    'image',
    'config',
    'mount',
  ],
  serve: ['errors.ts', 'io', 'ref', 'oci', 'vfs', 'vfs-types', 'image'],
  web: ['errors.ts', 'io', 'ref', 'oci', 'registry', 'cache', 'tar', 'vfs', 'vfs-types', 'image'],
  // The page runs in a browser: it may use the API's types and nothing of the library.
  'web-page': ['web'],
  // image → build writers → an OCI layout or a registry push.
  convert: [
    'errors.ts',
    'io',
    'ref',
    'oci',
    'registry',
    'cache',
    'codec',
    'erofs',
    'tar',
    'vfs',
    'vfs-types',
    'image',
    'build',
    'config',
  ],
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

/** Static, side-effect, dynamic and worker-module specifiers of a file that are relative paths. */
const IMPORT_PATTERNS = [
  /(?:import|export)[^'"]*?from\s+['"](\.[^'"]+)['"]/g,
  /\bimport\s+['"](\.[^'"]+)['"]/g,
  /\bimport\(\s*['"](\.[^'"]+)['"]\s*\)/g,
  /\bnew\s+URL\(\s*['"](\.[^'"]+\.[jt]sx?)['"]\s*,\s*import\.meta\.url\s*\)/g,
];

function relativeImports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return IMPORT_PATTERNS.flatMap((re) => [...text.matchAll(re)].map((m) => m[1]));
}

/** The source file an import specifier names (`./x.js` is `./x.ts` here). */
function importedFile(from: string, spec: string): string {
  const p = resolve(dirname(from), spec);
  for (const candidate of [p, p.replace(/\.js$/, '.ts'), p.replace(/\.js$/, '.tsx')]) {
    try {
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      /* not this one */
    }
  }
  return p;
}

/** The strongly connected components of more than one file (or a file importing itself): the file cycles. */
function fileCycles(graph: Map<string, string[]>): string[][] {
  // Tarjan's algorithm, iterative over an explicit stack.
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const out: string[][] = [];
  for (const root of graph.keys()) {
    if (index.has(root)) continue;
    const work: { node: string; edge: number }[] = [{ node: root, edge: 0 }];
    index.set(root, next);
    low.set(root, next++);
    stack.push(root);
    onStack.add(root);
    while (work.length > 0) {
      const top = work[work.length - 1];
      const edges = graph.get(top.node) ?? [];
      if (top.edge < edges.length) {
        const to = edges[top.edge++];
        if (!graph.has(to)) continue;
        if (!index.has(to)) {
          index.set(to, next);
          low.set(to, next++);
          stack.push(to);
          onStack.add(to);
          work.push({ node: to, edge: 0 });
        } else if (onStack.has(to)) low.set(top.node, Math.min(low.get(top.node)!, index.get(to)!));
        continue;
      }
      work.pop();
      if (work.length > 0) {
        const parent = work[work.length - 1].node;
        low.set(parent, Math.min(low.get(parent)!, low.get(top.node)!));
      }
      if (low.get(top.node) === index.get(top.node)) {
        const scc: string[] = [];
        let n: string;
        do {
          n = stack.pop()!;
          onStack.delete(n);
          scc.push(n);
        } while (n !== top.node);
        if (scc.length > 1 || edges.includes(top.node)) out.push(scc.sort());
      }
    }
  }
  return out;
}

test('no file cycle: no file imports itself through others', () => {
  const graph = new Map<string, string[]>();
  for (const file of files(src)) {
    const to = relativeImports(file).map((spec) => relative(src, importedFile(file, spec)));
    graph.set(relative(src, file), [...new Set(to)]);
  }
  assert.deepEqual(
    fileCycles(graph).map((c) => c.join(' → ')),
    [],
    'file cycles (break them: move what both need into a third file, or pass it in)',
  );
});

test('the cycle check finds cycles, self-imports and nothing else', () => {
  const g = new Map<string, string[]>([
    ['a', ['b']],
    ['b', ['c']],
    ['c', ['a', 'd']],
    ['d', []],
    ['e', ['e']],
    ['f', ['d', 'outside']],
  ]);
  assert.deepEqual(fileCycles(g), [['a', 'b', 'c'], ['e']]);
  assert.deepEqual(
    fileCycles(
      new Map([
        ['x', ['y']],
        ['y', []],
      ]),
    ),
    [],
  );
});

test('every kind of import is counted', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ocifs-arch-'));
  try {
    const file = join(dir, 'x.ts');
    writeFileSync(
      file,
      [
        "import { a } from './static.js';",
        "import type { B } from '../types.js';",
        "export { c } from './reexport.js';",
        "export * from './star.js';",
        "import './side-effect.js';",
        "const { d } = await import('./dynamic.js');",
        "type E = typeof import('./type-position.js');",
        "const w = startWorker(workerFile(new URL('./worker.js', import.meta.url)));",
        "const assets = new URL('../../web/', import.meta.url);",
        "import { f } from 'node:fs';",
      ].join('\n'),
    );
    assert.deepEqual(relativeImports(file).sort(), [
      '../types.js',
      './dynamic.js',
      './reexport.js',
      './side-effect.js',
      './star.js',
      './static.js',
      './type-position.js',
      './worker.js',
    ]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('no module imports a layer above it', () => {
  const bad: string[] = [];
  for (const file of files(src)) {
    const from = partOf(file);
    const rules = allowed[from === 'vfs-types' ? 'vfs' : from];
    if (!rules) {
      bad.push(`${relative(src, file)}: part ${from} has no rule in architecture.test.ts`);
      continue;
    }
    for (const spec of relativeImports(file)) {
      const target = partOf(resolve(dirname(file), spec));
      if (target === from || rules.includes('*') || rules.includes(target)) continue;
      if (from === 'vfs-types' && target === 'vfs-types') continue;
      bad.push(`${relative(src, file)} imports ${spec} (${from} → ${target})`);
    }
  }
  assert.deepEqual(bad, []);
});

test('every worker module the code starts is an entry point of the bundle', () => {
  // The bundled command finds a worker's program beside its chunks only if esbuild wrote it there.
  const bundle = readFileSync(resolve(src, '../scripts/bundle.mjs'), 'utf8');
  const worker = IMPORT_PATTERNS[IMPORT_PATTERNS.length - 1];
  const missing: string[] = [];
  for (const file of files(src)) {
    for (const m of readFileSync(file, 'utf8').matchAll(worker)) {
      const entry = `dist/src/${relative(src, importedFile(file, m[1])).replace(/\.ts$/, '.js')}`;
      if (!bundle.includes(`'${entry}'`))
        missing.push(`${relative(src, file)} starts ${m[1]}: add '${entry}' to entryPoints`);
    }
  }
  assert.deepEqual(missing, []);
});
