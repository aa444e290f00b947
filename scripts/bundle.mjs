#!/usr/bin/env node
// Bundles the command line (after `tsc` has built dist/src) into dist/bundle with esbuild.
//
// Why: Node's ESM loader resolves, reads and compiles each module separately, and the command
// loads ~200 of ours plus undici's CommonJS files — about 55 ms of every run, more than many
// commands take to do their work. A bundle of a few chunks (still split per command, so a run
// loads only what it uses) starts in a fraction of that. The library entry point (dist/src)
// stays unbundled: its users bundle or not as they like.
//
// Entry points besides the command: the mount server, the snapshotter's layer keeper (see
// daemonEntry and keeperEntry) and the worker threads' programs, which
// the code starts from files beside itself (src/io/worker-file.ts): each
// lands in dist/bundle under its own name, beside the chunks that start it. Native addons, and
// the zstd WebAssembly package (it reads its .wasm file from beside itself), stay outside the
// bundle and load from node_modules.
import { build } from 'esbuild';
import { copyFile, mkdir, rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const outdir = `${root}dist/bundle`;
await rm(outdir, { recursive: true, force: true });
await build({
  absWorkingDir: root,
  entryPoints: [
    'dist/src/cli/main.js',
    'dist/src/mount/daemon-main.js',
    'dist/src/tar/gzip-pass-worker.js',
    'dist/src/cache/hash-worker.js',
    'dist/src/extract/host-writer-worker.js',
    'dist/src/mount/raw/fuse-reader-worker.js',
    'dist/src/runtime/snapshotter/keeper-main.js',
  ],
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  outdir,
  entryNames: '[name]',
  external: ['lz4-napi', 'fuse-native', '@napi-rs/xattr', '@bokuweb/zstd-wasm'],
  // undici is CommonJS and calls require() for Node's built-ins; an ES module has no require.
  banner: {
    js: "import { createRequire as __ocifsCreateRequire } from 'node:module'; const require = __ocifsCreateRequire(import.meta.url);",
  },
  logLevel: 'warning',
});

// The web page of `ocifs web` (src/web/page): one script, one stylesheet and index.html in
// dist/web, shipped in the package and served by the command (no CDN, nothing fetched at run
// time). Preact, d3-hierarchy and jsdiff are bundled in; the page's types are checked by
// `tsc -p src/web/page/tsconfig.json` (part of `npm run build`).
const webdir = `${root}dist/web`;
await rm(webdir, { recursive: true, force: true });
await mkdir(webdir, { recursive: true });
await build({
  absWorkingDir: root,
  entryPoints: { app: 'src/web/page/main.tsx' },
  bundle: true,
  format: 'iife',
  platform: 'browser',
  target: ['chrome109', 'firefox115', 'safari16'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  minify: true,
  legalComments: 'eof',
  outdir: webdir,
  logLevel: 'warning',
});
await build({
  absWorkingDir: root,
  entryPoints: { app: 'src/web/page/styles.css' },
  bundle: true,
  minify: true,
  outdir: webdir,
  logLevel: 'warning',
});
await copyFile(`${root}src/web/page/index.html`, `${webdir}/index.html`);
