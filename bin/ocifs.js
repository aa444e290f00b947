#!/usr/bin/env node
// undici parses HTTP with llhttp compiled to WebAssembly. V8 compiles it twice: quickly
// (Liftoff) to start, then optimised (TurboFan) in the background — and at exit Node waits for
// that background compile, ~80 ms added to every command. The optimised parser gains nothing
// measurable here (bodies pass through it, they are not parsed byte by byte), so keep Liftoff.
import { setFlagsFromString } from 'node:v8';
import { existsSync } from 'node:fs';
setFlagsFromString('--liftoff-only');
// The bundled command (scripts/bundle.mjs) starts ~55 ms faster than the module tree in
// dist/src; `npm run build` makes both. A checkout built with `tsc` alone has only the tree.
const bundle = new URL('../dist/bundle/main.js', import.meta.url);
await import(existsSync(bundle) ? bundle.href : '../dist/src/cli/main.js');
