#!/usr/bin/env node
// Bundles the command line (after `tsc` has built dist/src) into dist/bundle with esbuild.
//
// Why: Node's ESM loader resolves, reads and compiles each module separately, and the command
// loads ~200 of ours plus undici's CommonJS files — about 55 ms of every run, more than many
// commands take to do their work. A bundle of a few chunks (still split per command, so a run
// loads only what it uses) starts in a fraction of that. The library entry point (dist/src)
// stays unbundled: its users bundle or not as they like.
//
// Entry points besides the command: the mount server and the gzip pass worker, which the code
// starts from files beside itself (see daemonEntry and gzip-pass-client). Native addons stay
// outside the bundle and load from node_modules.
import { build } from 'esbuild';
import { rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const outdir = `${root}dist/bundle`;
await rm(outdir, { recursive: true, force: true });
await build({
  absWorkingDir: root,
  entryPoints: ['dist/src/cli/main.js', 'dist/src/mount/daemon-main.js', 'dist/src/tar/gzip-pass-worker.js'],
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  outdir,
  entryNames: '[name]',
  external: ['lz4-napi', 'fuse-native', '@napi-rs/xattr'],
  // undici is CommonJS and calls require() for Node's built-ins; an ES module has no require.
  banner: { js: "import { createRequire as __ocifsCreateRequire } from 'node:module'; const require = __ocifsCreateRequire(import.meta.url);" },
  logLevel: 'warning',
});
