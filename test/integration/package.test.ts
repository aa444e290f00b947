// The npm package as a user gets it: `npm pack` of this checkout (built by `npm test`) holds only
// what a user needs, `npm install -g` of the tarball into an empty prefix runs no install script
// and builds nothing, and the installed `ocifs` works: --version, --help, demo, ls of a local
// EROFS file, mount (as root, and as a user through libfuse and fusermount), and a one-line
// error naming the Debian package when libfuse2 or fusermount is missing. Every subpath of the
// exports map (`ocifs`, `ocifs/registry`, …) loads from the installed package, and a TypeScript
// program importing from each type-checks against the shipped declarations (stripInternal on).
//
// npm installs from its cache (`--offline`, filled by `npm ci`), and falls back to
// `--prefer-offline` (package metadata from the registry) when the cache lacks it.
// A missing library is simulated honestly: in a private mount namespace (unshare) the file
// itself is covered with /dev/null, so the dynamic loader cannot load it.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  chmodSync,
  chownSync,
  copyFileSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  realpathSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { run, runOk, type RunResult } from '../helpers/run.js';
import { cleanupTempDir, mountTempDir } from '../helpers/mount-safety.js';
import { fixturePath } from '../unit/erofs-helpers.js';

const REPO = join(import.meta.dirname, '../..');
const NOBODY = 65534;
const root = mountTempDir('ocifs-package-');
const prefix = join(root, 'prefix');
const ocifsBin = join(prefix, 'bin', 'ocifs');
const installed = join(prefix, 'lib', 'node_modules', 'ocifs');
let tarball = '';
let packed: string[] = [];
let unpackedSize = 0;
let installLog = '';

/** The installed command, with a private cache and state directory. */
function ocifs(args: string[]): Promise<RunResult> {
  return run(ocifsBin, args, {
    env: { ...process.env, OCIFS_CACHE_DIR: join(root, 'cache'), OCIFS_STATE_DIR: join(root, 'state') },
  });
}

before(async () => {
  chmodSync(root, 0o755);
  const pack = await runOk('npm', ['pack', '--json', '--pack-destination', root], {
    cwd: REPO,
    env: { ...process.env, npm_config_update_notifier: 'false' },
  });
  const info = JSON.parse(pack.stdout.toString()) as {
    filename: string;
    unpackedSize: number;
    files: { path: string }[];
  }[];
  tarball = join(root, info[0].filename);
  packed = info[0].files.map((f) => f.path);
  unpackedSize = info[0].unpackedSize;
  const args = ['install', '-g', '--prefix', prefix, tarball, '--no-audit', '--no-fund', '--loglevel=warn'];
  const env = { ...process.env, npm_config_update_notifier: 'false' };
  let r = await run('npm', [...args, '--offline'], { cwd: root, env });
  if (r.code !== 0 && /ENOTCACHED/.test(r.stderr))
    r = await run('npm', [...args, '--prefer-offline'], { cwd: root, env });
  installLog = r.stderr;
  assert.equal(r.code, 0, r.stderr);
  mkdirSync(join(root, 'home'));
  mkdirSync(join(root, 'mnt'));
  chownSync(join(root, 'home'), NOBODY, NOBODY);
  chownSync(join(root, 'mnt'), NOBODY, NOBODY);
  copyFileSync(fixturePath('plain-512b'), join(root, 'image.erofs'));
  chmodSync(join(root, 'image.erofs'), 0o644);
});

after(() => {
  assert.deepEqual(cleanupTempDir(root), []);
});

test('npm pack holds the built command, library and web page, the sample, README, LICENSE and CHANGELOG; no tests, sources or source maps', () => {
  for (const f of [
    'package.json',
    'README.md',
    'LICENSE',
    'CHANGELOG.md',
    'bin/ocifs.js',
    'dist/src/index.js',
    'dist/src/index.d.ts',
    'dist/bundle/main.js',
    'dist/web/index.html',
    'sample/layout/index.json',
  ]) {
    assert.ok(packed.includes(f), `${f} is in the package`);
  }
  // dist/web: the page of `ocifs web` (a script, a stylesheet, index.html).
  const userFiles =
    /^(package\.json|README\.md|LICENSE|CHANGELOG\.md|bin\/[^/]+\.js|sample\/.+|dist\/(src|bundle)\/.+\.([cm]?js|d\.[cm]?ts)|dist\/web\/[^/]+\.(js|css|html))$/;
  const stray = packed.filter((f) => !userFiles.test(f));
  assert.deepEqual(stray, []);
  // The sample image is 3.8 MB of it; the compiled library, bundle and types most of the rest.
  assert.ok(unpackedSize < 10e6, `${unpackedSize} bytes unpacked`);
});

/**
 * The library's entries, each with one name it must export: the root facade, then one per part.
 * A subpath missing from package.json, or one the test does not know, fails.
 */
const ENTRIES: Record<string, string> = {
  ocifs: 'openImage',
  'ocifs/io': 'FileSource',
  'ocifs/ref': 'parseReference',
  'ocifs/oci': 'parseManifestDocument',
  'ocifs/registry': 'RegistryClient',
  'ocifs/config': 'loadConfig',
  'ocifs/cache': 'BlobCache',
  'ocifs/codec': 'decompress',
  'ocifs/erofs': 'openErofs',
  'ocifs/tar': 'openTarLayer',
  'ocifs/vfs': 'MergedFileSystem',
  'ocifs/extract': 'extractTree',
  'ocifs/image': 'openImage',
  'ocifs/mount': 'mountFileSystem',
  'ocifs/build': 'ErofsWriter',
  'ocifs/convert': 'convertImage',
  'ocifs/serve': 'serveLayout',
  'ocifs/web': 'startWebServer',
};

test('every entry of the exports map loads from the installed package, with its types', async () => {
  const manifest = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8')) as {
    exports: Record<string, unknown>;
  };
  const subpaths = Object.keys(manifest.exports)
    .filter((k) => k !== './package.json')
    .map((k) => (k === '.' ? 'ocifs' : `ocifs/${k.slice(2)}`));
  assert.deepEqual(subpaths.sort(), Object.keys(ENTRIES).sort());
  // A program outside the package, resolving `ocifs` through node_modules as a user's does.
  const app = join(root, 'app');
  mkdirSync(join(app, 'node_modules'), { recursive: true });
  symlinkSync(installed, join(app, 'node_modules', 'ocifs'));
  writeFileSync(join(app, 'package.json'), '{"type":"module","private":true}\n');
  const entries = Object.entries(ENTRIES);
  writeFileSync(
    join(app, 'load.mjs'),
    [
      'const out = {};',
      ...entries.map(
        ([spec]) => `out[${JSON.stringify(spec)}] = Object.keys(await import(${JSON.stringify(spec)})).sort();`,
      ),
      'console.log(JSON.stringify(out));',
    ].join('\n'),
  );
  const r = await run(process.execPath, ['load.mjs'], { cwd: app });
  assert.equal(r.code, 0, r.stderr);
  const loaded = JSON.parse(r.stdout.toString()) as Record<string, string[]>;
  for (const [spec, name] of entries) {
    assert.ok(loaded[spec].includes(name), `${spec} exports ${name}: ${loaded[spec].join(' ')}`);
  }
  // The root is the facade, not the whole library: a part's own names stay in its entry.
  assert.ok(!loaded.ocifs.includes('RegistryClient') && !loaded.ocifs.includes('openErofs'), loaded.ocifs.join(' '));
  // Declarations: strict NodeNext resolution through the exports map, library files checked too
  // (a public type naming a declaration that stripInternal removed fails here).
  writeFileSync(
    join(app, 'use.ts'),
    [
      ...entries.map(([spec, name], i) => `import { ${name} as e${i} } from ${JSON.stringify(spec)};`),
      `import type { FileSystem, ImageOptions } from 'ocifs';`,
      `import type { RegistryClientOptions, RegistryTransport } from 'ocifs/registry';`,
      `export const all: unknown[] = [${entries.map((_, i) => `e${i}`).join(', ')}];`,
      `export const options: ImageOptions = { cacheDir: '/tmp/x', config: false };`,
      `export const client: RegistryClientOptions = { maxRetries: 1 };`,
      `export function size(fs: FileSystem, t: RegistryTransport): number {`,
      `  return fs.statfs().blocks + t.retry.maxRetries;`,
      `}`,
    ].join('\n') + '\n',
  );
  const tsc = join(REPO, 'node_modules', 'typescript', 'bin', 'tsc');
  const tscArgs = [
    '--noEmit',
    '--strict',
    '--module',
    'nodenext',
    '--moduleResolution',
    'nodenext',
    '--target',
    'es2022',
  ];
  const libs = ['--skipLibCheck', 'false', '--typeRoots', join(REPO, 'node_modules', '@types'), '--types', 'node'];
  const check = await run(process.execPath, [tsc, ...tscArgs, ...libs, 'use.ts'], { cwd: app });
  assert.equal(check.code, 0, check.stdout.toString() + check.stderr);
});

test('the installed package built nothing: native add-ons come prebuilt and load', async () => {
  const mods = join(installed, 'node_modules');
  assert.deepEqual(
    readdirSync(join(mods, 'fuse-native')).filter((n) => n === 'build'),
    [],
    'fuse-native was not compiled (its install script did not run)',
  );
  for (const m of ['fuse-native', 'lz4-napi', '@napi-rs/xattr']) {
    const r = await run(process.execPath, ['-e', `require(${JSON.stringify(join(mods, m))})`]);
    assert.equal(r.code, 0, `${m} loads from the installed package: ${r.stderr}`);
  }
  // npm 11 says it left fuse-native's install script (node-gyp-build) alone; nothing compiled.
  assert.doesNotMatch(installLog, /gyp (info|ERR)|\bcc\b|g\+\+/);
});

test('ocifs --version, --help and demo run from the installed package', async () => {
  const v = await ocifs(['--version']);
  assert.equal(v.code, 0, v.stderr);
  assert.equal(
    v.stdout.toString().trim(),
    (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string }).version,
  );
  const h = await ocifs(['--help']);
  assert.equal(h.code, 0, h.stderr);
  for (const c of [
    'inspect',
    'blob',
    'prefetch',
    'ls',
    'cat',
    'stat',
    'extract',
    'info',
    'index',
    'mount',
    'umount',
    'mounts',
    'cache',
    'serve-layout',
    'web',
    'demo',
  ]) {
    assert.match(h.stdout.toString(), new RegExp(`^  ${c}\\b.* {2,}\\S`, 'm'), c);
  }
  assert.ok(
    h.stdout.toString().includes(`(installed with the package: ${join(realpathSync(installed), 'README.md')})`),
    h.stdout.toString(),
  );
  const d = await ocifs(['demo']);
  assert.equal(d.code, 0, d.stderr);
  assert.match(d.stdout.toString(), /This EROFS image is bundled with ocifs for its offline demo/);
  assert.match(d.stdout.toString(), /Fetched [\d.]+ KiB in \d+ requests for an image of [\d.]+ MiB/);
});

test('ocifs ls and cat of a local EROFS file from the installed package', async () => {
  const ls = await ocifs(['ls', join(root, 'image.erofs'), '/bin']);
  assert.equal(ls.code, 0, ls.stderr);
  assert.deepEqual(ls.stdout.toString().split('\n').filter(Boolean), [
    'dangling',
    'fifo',
    'long-target',
    'os-release-link',
    'setuid',
    'tool',
    'tool-hardlink',
  ]);
  const cat = await ocifs(['cat', join(root, 'image.erofs'), '/bin/os-release-link']);
  assert.equal(cat.stdout.toString(), 'PRETTY_NAME="ocifs fixture"\nID=fixture\n');
});

/**
 * Runs `script` (sh) as root in a private mount namespace, where /dev/fuse is a 0666 copy (this
 * VM's is 0600, and fusermount opens it as the user) and each of `hide` is covered by /dev/null.
 * `$OCIFS`, `$ROOT` and `as_nobody CMD…` are defined for it.
 */
function inNamespace(script: string, hide: string[] = []): Promise<RunResult> {
  const prologue = [
    'set -eu',
    `[ -e "$ROOT/fuse" ] || mknod -m 666 "$ROOT/fuse" c 10 229`,
    `mount --bind "$ROOT/fuse" /dev/fuse`,
    ...hide.map((f) => `mount --bind /dev/null '${f}'`),
    `as_nobody() { setpriv --reuid=${NOBODY} --regid=${NOBODY} --clear-groups env -i HOME="$ROOT/home" OCIFS_CACHE_DIR="$ROOT/home/cache" OCIFS_STATE_DIR="$ROOT/home/state" PATH="$PATH" "$@"; }`,
  ].join('\n');
  return run(
    'timeout',
    ['-s', 'KILL', '120', 'unshare', '--mount', '--propagation', 'private', '--', 'sh', '-c', `${prologue}\n${script}`],
    {
      env: {
        ...process.env,
        ROOT: root,
        OCIFS: ocifsBin,
        OCIFS_CACHE_DIR: join(root, 'cache'),
        OCIFS_STATE_DIR: join(root, 'state'),
      },
    },
  );
}

/** Mounts the image as `who`, reads a file through the mount, unmounts (killing the server if that fails). */
function mountReadUnmount(who: '' | 'as_nobody'): string {
  return [
    `${who} "$OCIFS" mount "$ROOT/image.erofs" "$ROOT/mnt"`,
    `trap '${who} "$OCIFS" umount "$ROOT/mnt" || { umount -l "$ROOT/mnt"; exit 9; }' EXIT`,
    `${who} cat "$ROOT/mnt/bin/os-release-link"`,
    `${who} "$OCIFS" mounts`,
  ].join('\n');
}

const libfuse = () => realpathSync('/lib/x86_64-linux-gnu/libfuse.so.2');
const fusermount = () => realpathSync('/bin/fusermount');
const skip = () => (process.getuid?.() !== 0 ? 'needs root (namespaces, a user to switch to)' : undefined);

test('ocifs mount from the installed package: as root, and as a user through libfuse and fusermount', async (t) => {
  if (skip()) return t.skip(skip());
  for (const who of ['', 'as_nobody'] as const) {
    const r = await inNamespace(mountReadUnmount(who));
    assert.equal(r.code, 0, `${who || 'root'}: ${r.stderr}`);
    assert.match(r.stdout.toString(), /^PRETTY_NAME="ocifs fixture"\nID=fixture\n/);
    assert.match(r.stdout.toString(), /image\.erofs/);
  }
});

test('without libfuse2 a user gets one line naming the package, root still mounts; without fusermount one line naming fuse3', async (t) => {
  if (skip()) return t.skip(skip());
  const noLib = await inNamespace(`as_nobody "$OCIFS" mount "$ROOT/image.erofs" "$ROOT/mnt"`, [libfuse()]);
  assert.equal(noLib.code, 1);
  assert.match(
    noLib.stderr,
    /^ocifs: FUSE is not available: libfuse\.so\.2 does not load \(.*\): install Debian's libfuse2 package \(apt-get install libfuse2\)\n$/,
  );
  const rootNoLib = await inNamespace(mountReadUnmount(''), [libfuse()]);
  assert.equal(rootNoLib.code, 0, rootNoLib.stderr);
  assert.match(rootNoLib.stdout.toString(), /^PRETTY_NAME="ocifs fixture"/);
  const noHelper = await inNamespace(`as_nobody "$OCIFS" mount "$ROOT/image.erofs" "$ROOT/mnt"`, [fusermount()]);
  assert.equal(noHelper.code, 1);
  assert.match(
    noHelper.stderr,
    /^ocifs: FUSE is not available: fusermount is not installed .*: install Debian's fuse3 package \(apt-get install fuse3\)\n$/,
  );
});
