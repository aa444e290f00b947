/**
 * Worker threads whose program is a typed module beside the code that starts them. Built, the
 * module is `x-worker.js` next to the caller (in `dist/src`, or a chunk of `dist/bundle` where
 * `scripts/bundle.mjs` makes every worker an entry point of its own name). From source (tests
 * and benchmarks under tsx) it is `x-worker.ts`, bundled in memory by esbuild the way
 * `scripts/bundle.mjs` does at build time: registering tsx in each worker instead (its loader
 * thread, its transforms) cost four times the CPU of the extraction tests' writer threads.
 *
 * Callers name the module with a `new URL` of a literal `'./x-worker.js'` and `import.meta.url`:
 * the architecture test counts that as an import edge, and checks that the bundle has it.
 *
 * @packageDocumentation
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { Worker, type WorkerOptions } from 'node:worker_threads';

const found = new Map<string, URL | undefined>();

/**
 * The file of the worker module `url` names (`x-worker.js` beside the caller): that `.js`
 * file when built, else the `.ts` source; undefined when neither exists (the caller then does
 * the work in its own thread, or reports it). Looked up once per process.
 */
export function workerFile(url: URL): URL | undefined {
  if (found.has(url.href)) return found.get(url.href);
  const ts = new URL(url.href.replace(/\.js$/, '.ts'));
  // A stat or two once per worker kind and process, where the caller is synchronous.
  const file = [url, ts].find((u) => existsSync(fileURLToPath(u)));
  found.set(url.href, file);
  return file;
}

/**
 * Starts a worker on `file` (from {@link workerFile}). A `.ts` file is run as one ES module of
 * itself and everything it imports, bundled by esbuild (a development dependency: `.ts` workers
 * exist only in the repository) once per process; its `import.meta.url` is then a `data:` URL,
 * and npm packages are bundled in too. So a worker loads a native addon, or a package that reads
 * files beside itself, by the absolute path its parent resolved (as the host writer does).
 */
export function startWorker(file: URL, options: WorkerOptions = {}): Worker {
  return new Worker(file.pathname.endsWith('.ts') ? bundledSource(file) : file, options);
}

const bundled = new Map<string, URL>();

function bundledSource(file: URL): URL {
  let url = bundled.get(file.href);
  if (url === undefined) {
    const esbuild = createRequire(import.meta.url)('esbuild') as typeof import('esbuild');
    const out = esbuild.buildSync({
      entryPoints: [fileURLToPath(file)],
      bundle: true,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      write: false,
      logLevel: 'silent',
    });
    url = new URL(`data:text/javascript;base64,${Buffer.from(out.outputFiles[0].contents).toString('base64')}`);
    bundled.set(file.href, url);
  }
  return url;
}
