// Every shared EROFS fixture (made by mkfs.erofs 1.9.3: lzma, deflate, zstd, ztailpacking +
// fragments + dedupe, big pclusters, 512-byte blocks, chunk-based files) and images made here by
// Debian's mkfs.erofs (-zlz4, --chunksize, other seeds), each as a local file and pushed to a
// real registry: `ocifs extract` reproduces the tree manifest line for line, and `ocifs cat` of
// every file equals what the kernel's own EROFS driver reads from the same image.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, readFile, rm } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRegistry, skopeoPush, type TestRegistry } from '../helpers/registry.js';
import { writeImageLayout, MT_LAYER_EROFS } from '../helpers/oci-layout.js';
import { makeTree, treeManifest, assertSameManifest } from '../helpers/fs-manifest.js';
import { run, runOk } from '../helpers/run.js';
import { ocifsOk } from '../helpers/cli.js';
import { EROFS_FIXTURE_DIR, EROFS_FIXTURES, seed1Manifest } from '../unit/erofs-helpers.js';

let tmp = '';
let reg: TestRegistry;
const mounts: string[] = [];
let mountCount = 0;

interface Case {
  name: string;
  file: string;
  expected: string[];
}
const cases: Case[] = [];
const MKFS = [
  [10, ['-zlz4']],
  [11, ['--chunksize=8192']],
  [12, ['-zlz4hc', '-C16384']],
] as const;
const NAMES = [
  ...EROFS_FIXTURES.map((n) => `fixture ${n}.erofs`),
  ...MKFS.map(([seed, args]) => `mkfs.erofs ${args.join(' ')} (seed ${seed})`),
];

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'ocifs-fixtures-'));
  reg = await startRegistry();
  for (const name of EROFS_FIXTURES)
    cases.push({ name, file: join(EROFS_FIXTURE_DIR, `${name}.erofs`), expected: seed1Manifest() });
  for (const [seed, args] of MKFS) {
    const tree = join(tmp, `tree${seed}`);
    await makeTree(tree, seed);
    const file = join(tmp, `mkfs-${seed}.erofs`);
    await runOk('mkfs.erofs', ['--quiet', ...args, file, tree]);
    cases.push({ name: `mkfs ${args.join(' ')} seed ${seed}`, file, expected: await treeManifest(tree) });
  }
});

after(async () => {
  for (const m of mounts) await run('umount', ['-l', m]);
  await reg?.stop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

/** sha256 of every regular file as the kernel reads it from the image (mounted here, read by sha256sum). */
async function kernelHashes(image: string, files: string[]): Promise<Map<string, string>> {
  const mnt = join(tmp, `mnt-${mountCount++}`);
  await mkdir(mnt);
  await runOk('mount', ['-t', 'erofs', '-o', 'ro', image, mnt]);
  mounts.push(mnt);
  try {
    const out = new Map<string, string>();
    for (let i = 0; i < files.length; i += 500) {
      // -z: NUL-terminated lines, names unescaped (a backslash or newline in a name stays as is).
      const r = await runOk('sha256sum', ['-z', '--', ...files.slice(i, i + 500).map((f) => join(mnt, f))]);
      for (const line of r.stdout.toString().split('\0').filter(Boolean)) {
        const [hash, path] = [line.slice(0, 64), line.slice(66)];
        out.set(path.slice(mnt.length + 1), hash);
      }
    }
    return out;
  } finally {
    await runOk('umount', [mnt]);
    mounts.pop();
  }
}

for (const [i, title] of NAMES.entries()) {
  test(`${title}: extract and cat, as a local file and through the registry`, async () => {
    const c = cases[i];
    const repo = `${reg.host}/fixtures/f${i}:v1`;
    const bytes = await readFile(c.file);
    await writeImageLayout(join(tmp, `layout${i}`), { layers: [{ bytes, mediaType: MT_LAYER_EROFS }] }, 'v1');
    await skopeoPush(join(tmp, `layout${i}`), 'v1', repo);
    const env = { OCIFS_CACHE_DIR: join(tmp, `cache${i}`) };
    for (const [how, ref] of [
      ['file', c.file],
      ['registry', repo],
    ]) {
      const dest = join(tmp, `x${i}-${how}`);
      await ocifsOk(['extract', ref, dest], { env });
      assertSameManifest(await treeManifest(dest), c.expected, `${c.name} (${how}) extract`);
      await rm(dest, { recursive: true });
    }
    const files = c.expected.map((l) => JSON.parse(l)).filter((e) => e.type === 'file');
    const kernel = await kernelHashes(
      c.file,
      files.map((f) => f.path),
    );
    const r = await ocifsOk(['cat', repo, ...files.map((f) => '/' + f.path)], { env });
    let off = 0;
    for (const f of files) {
      const got = createHash('sha256')
        .update(r.stdout.subarray(off, off + f.size))
        .digest('hex');
      assert.equal(got, kernel.get(f.path), `${c.name}: ${f.path} differs from the kernel's read`);
      off += f.size;
    }
    assert.equal(off, r.stdout.byteLength);
  });
}
