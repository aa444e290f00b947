#!/bin/sh
# The main job on a fresh machine: install the npm packages, build, and run the offline demo
# (the bundled sample image served by the built-in registry on 127.0.0.1; no network needed).
set -eu
cd "$(dirname "$0")/.."
[ -d node_modules ] || npm ci --no-audit --no-fund
npm run --silent build
exec node bin/ocifs.js demo "$@"
