// The ocifs command end to end on EROFS images made by Debian's mkfs.erofs from make-tree.ts
// trees, pushed by skopeo to a real distribution registry: every command, checked against the
// source tree (tree-manifest.ts), the image bytes and the kernel's view of the same files.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRegistry, skopeoPush, type TestRegistry } from '../helpers/registry.js';
import { writeImageLayout, MT_LAYER_EROFS } from '../helpers/oci-layout.js';
import { makeTree, treeManifest, assertSameManifest } from '../helpers/fs-manifest.js';
import { runOk } from '../helpers/run.js';
import { ocifs, ocifsOk, statsOf, OCIFS_BIN } from '../helpers/cli.js';

let tmp = '';
let reg: TestRegistry;
let tree = '';
let expected: string[] = [];
const images: Record<string, { ref: string; bytes: Buffer; file: string }> = {};

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'ocifs-cli-'));
  reg = await startRegistry();
  tree = join(tmp, 'tree');
  await makeTree(tree, 5);
  expected = await treeManifest(tree);
  for (const [name, args] of Object.entries({ plain: [], lz4hc: ['-zlz4hc'] })) {
    const file = join(tmp, `${name}.erofs`);
    await runOk('mkfs.erofs', ['--quiet', ...args, file, tree]);
    const bytes = await readFile(file);
    await writeImageLayout(join(tmp, `layout-${name}`), { layers: [{ bytes, mediaType: MT_LAYER_EROFS }] }, 'v1');
    await skopeoPush(join(tmp, `layout-${name}`), 'v1', `${reg.host}/cli/${name}:v1`);
    images[name] = { ref: `${reg.host}/cli/${name}:v1`, bytes, file };
  }
});

after(async () => {
  await reg?.stop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

const cacheEnv = (name: string) => ({ OCIFS_CACHE_DIR: join(tmp, `cache-${name}`) });

test('inspect --json names the registry, repository, digest, platform and layers', async () => {
  const r = await ocifsOk(['inspect', images.plain.ref, '--json'], { env: cacheEnv('inspect') });
  const doc = JSON.parse(r.stdout.toString());
  assert.equal(doc.registry, reg.host);
  assert.equal(doc.repository, 'cli/plain');
  assert.match(doc.digest, /^sha256:[0-9a-f]{64}$/);
  assert.equal(doc.platform, 'linux/amd64');
  assert.equal(doc.layers.length, 1);
  assert.equal(doc.layers[0].size, images.plain.bytes.byteLength);
  assert.equal(doc.layers[0].digest, 'sha256:' + createHash('sha256').update(images.plain.bytes).digest('hex'));
  assert.equal(doc.layers[0].mediaType, MT_LAYER_EROFS);
});

test('blob: the whole layer, a range, and -o FILE are the exact image bytes', async () => {
  const env = cacheEnv('blob');
  const whole = await ocifsOk(['blob', images.lz4hc.ref, '--layer', '0'], { env });
  assert.ok(whole.stdout.equals(images.lz4hc.bytes));
  const range = await ocifsOk(['blob', images.lz4hc.ref, '--layer', '-1', '--range', '1024-1151'], { env });
  assert.ok(range.stdout.equals(images.lz4hc.bytes.subarray(1024, 1152)));
  const out = join(tmp, 'blob-out');
  await ocifsOk(['blob', images.lz4hc.ref, '--layer', '0', '--range', '5000-', '-o', out], { env });
  assert.ok((await readFile(out)).equals(images.lz4hc.bytes.subarray(5000)));
});

test('cold cat fetches the chunks on its path and no readahead beyond them', async () => {
  // /etc/os-release: the superblock, the root and /etc inodes and directory blocks, the file's
  // inode and data — at most 6 distinct 64 KiB chunks, whatever the layout. Readahead behind
  // these lookups (sequential-looking metadata reads) used to fetch a window of 1 MiB or more.
  for (const kind of ['plain', 'lz4hc']) {
    const r = await ocifsOk(['cat', images[kind].ref, '/etc/os-release', '--stats', '--chunk-size', '64K'], {
      env: cacheEnv(`path-only-${kind}`),
    });
    assert.equal(r.stdout.toString(), await readFile(join(tree, 'etc/os-release'), 'utf8'));
    const s = statsOf(r);
    assert.ok(
      images[kind].bytes.byteLength > 16 * 64 * 1024,
      `image too small for the check (${images[kind].bytes.byteLength})`,
    );
    assert.ok(s.bytesFetched <= 6 * 64 * 1024, `${kind}: fetched ${s.bytesFetched} bytes in ${s.requests} requests`);
  }
});

test('cold cat of one small file fetches a small fraction of the image', async () => {
  const r = await ocifsOk(['cat', images.plain.ref, '/etc/os-release', '--stats'], { env: cacheEnv('cold-cat') });
  assert.equal(r.stdout.toString(), await readFile(join(tree, 'etc/os-release'), 'utf8'));
  const s = statsOf(r);
  assert.ok(
    s.bytesFetched < images.plain.bytes.byteLength / 4,
    `fetched ${s.bytesFetched} of ${images.plain.bytes.byteLength}`,
  );
  // Warm: the same command again reads only the manifest and config from the network.
  const again = await ocifsOk(['cat', images.plain.ref, '/etc/os-release', '--stats'], { env: cacheEnv('cold-cat') });
  assert.equal(again.stdout.toString(), r.stdout.toString());
  assert.ok(statsOf(again).cacheHitBytes > 0);
  assert.ok(statsOf(again).bytesFetched < 8192, `warm run fetched ${statsOf(again).bytesFetched}`);
});

for (const name of ['plain', 'lz4hc']) {
  test(`extract of the ${name} image reproduces the source tree (tree-manifest.ts)`, async () => {
    const dest = join(tmp, `extract-${name}`);
    await ocifsOk(['extract', images[name].ref, dest], { env: cacheEnv(`extract-${name}`) });
    assertSameManifest(await treeManifest(dest), expected, `extract ${name}`);
    // A whole-tree extract streams the layer into the cache alongside the walk: it ends complete
    // and verified. A second extract, from the warm cache, copies from the data file.
    const ls = JSON.parse(
      (await ocifsOk(['cache', 'ls', '--json'], { env: cacheEnv(`extract-${name}`) })).stdout.toString(),
    );
    assert.deepEqual(
      ls.map((e: { presentBytes: number; verified: boolean }) => [e.presentBytes, e.verified]),
      [[images[name].bytes.byteLength, true]],
    );
    const again = join(tmp, `extract-${name}-warm`);
    const warm = await ocifsOk(['extract', images[name].ref, again, '--stats'], { env: cacheEnv(`extract-${name}`) });
    assertSameManifest(await treeManifest(again), expected, `warm extract ${name}`);
    assert.ok(statsOf(warm).bytesFetched < 8192);
  });

  test(`extract of the ${name} image on a terminal draws a bar of entries (counted by the image, not by a metadata walk first)`, async () => {
    // `script` gives the command a terminal; its stderr (the bar) comes back on script's stdout.
    const dest = join(tmp, `extract-tty-${name}`);
    const env = cacheEnv(`extract-tty-${name}`);
    const line = ['node', OCIFS_BIN, 'extract', images[name].ref, dest].map((a) => `'${a}'`).join(' ');
    const r = await runOk('script', ['-qec', line, '/dev/null'], { env: { ...process.env, ...env } });
    // eslint-disable-next-line no-control-regex -- strips the terminal's escape sequences
    const screen = r.stdout.toString().replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '');
    // The total is the image's inode count less the root: hardlinks are one inode, more names
    // (the manifest names the first name of each).
    const inodes = expected.filter((l) => [undefined, JSON.parse(l).path].includes(JSON.parse(l).hardlink)).length;
    const m = /extract \[.*\] 100% (\d+)\/(\d+) entries, [\d.]+ [KMG]?i?B/.exec(screen);
    assert.ok(m && m[1] === m[2] && Number(m[2]) === inodes, JSON.stringify(screen.slice(-600)));
    assertSameManifest(await treeManifest(dest), expected, `extract ${name} on a terminal`);
  });

  test(`extract of a subtree of the ${name} image fetches only what the subtree needs`, async () => {
    const dest = join(tmp, `extract-sub-${name}`);
    const r = await ocifsOk(['extract', images[name].ref, dest, '/sizes', '--stats'], {
      env: cacheEnv(`extract-sub-${name}`),
    });
    assertSameManifest(
      await treeManifest(dest),
      expected.filter((l) => JSON.parse(l).path.startsWith('sizes/')).map((l) => l.replace('"sizes/', '"')),
      `extract ${name} /sizes`,
    );
    assert.ok(statsOf(r).bytesFetched < images[name].bytes.byteLength / 2, `fetched ${statsOf(r).bytesFetched}`);
  });

  test(`cat of every regular file of the ${name} image equals the source bytes`, async () => {
    const files = expected.map((l) => JSON.parse(l)).filter((e) => e.type === 'file');
    // One process for all files: cat concatenates them in order.
    const r = await ocifsOk(['cat', images[name].ref, ...files.map((f) => '/' + f.path)], {
      env: cacheEnv(`cat-${name}`),
    });
    let off = 0;
    for (const f of files) {
      const got = r.stdout.subarray(off, off + f.size);
      assert.equal(createHash('sha256').update(got).digest('hex'), f.sha256, f.path);
      off += f.size;
    }
    assert.equal(off, r.stdout.byteLength);
  });
}

test('ls -R --json lists every entry of the tree with its metadata', async () => {
  const r = await ocifsOk(['ls', '-R', '--json', images.lz4hc.ref, '/'], { env: cacheEnv('ls') });
  const listed = r.stdout
    .toString()
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  const want = expected.map((l) => JSON.parse(l));
  assert.deepEqual(listed.map((e) => e.path.slice(1)).sort(), want.map((e) => e.path).sort());
  const os = listed.find((e) => e.path === '/etc/os-release')!;
  const src = await stat(join(tree, 'etc/os-release'));
  assert.equal(os.size, src.size);
  assert.equal(os.mode, `0${(src.mode & 0o7777).toString(8).padStart(3, '0')}`);
  const link = listed.find((e) => e.path === '/bin/os-release-link')!;
  assert.equal(link.type, 'symlink');
  assert.equal(link.target, '../etc/os-release');
});

test('ls -l prints modes, owners, sizes and symlink targets like ls', async () => {
  const r = await ocifsOk(['ls', '-l', images.plain.ref, '/bin'], { env: cacheEnv('ls-l') });
  const lines = r.stdout.toString().trim().split('\n');
  assert.ok(
    lines.some((l) => /^-rwsr-xr-x +1 +0 +0 +10 .* setuid$/.test(l)),
    lines.join('\n'),
  );
  assert.ok(
    lines.some((l) => /^lrwxrwxrwx .* os-release-link -> \.\.\/etc\/os-release$/.test(l)),
    lines.join('\n'),
  );
  assert.ok(
    lines.some((l) => /^prw-r--r-- .* fifo$/.test(l)),
    lines.join('\n'),
  );
  assert.ok(
    lines.some((l) => /^-rwxr-xr-x +2 +1000 +1000 +20000 .* tool$/.test(l)),
    lines.join('\n'),
  );
});

test('stat --json shows metadata and xattrs of a path', async () => {
  const r = await ocifsOk(['stat', images.plain.ref, '/bin/tool', '--json'], { env: cacheEnv('stat') });
  const doc = JSON.parse(r.stdout.toString());
  assert.equal(doc.type, 'file');
  assert.equal(doc.mode, '0755');
  assert.equal(doc.uid, 1000);
  assert.equal(doc.size, 20000);
  assert.equal(doc.nlink, 2);
  assert.deepEqual(Object.keys(doc.xattrs), ['user.long.' + 'k'.repeat(100)]);
});

test('info prints the superblock summary of the EROFS layer', async () => {
  const r = await ocifsOk(['info', images.lz4hc.ref, '--json'], { env: cacheEnv('info') });
  const doc = JSON.parse(r.stdout.toString());
  assert.equal(doc.format, 'erofs');
  assert.equal(doc.blockSize, 4096);
  assert.ok(doc.compressionAlgorithms.includes('lz4'), JSON.stringify(doc.compressionAlgorithms));
});

test('a local image file works as REF, with the same results', async () => {
  const r = await ocifsOk(['cat', images.plain.file, '/etc/os-release']);
  assert.equal(r.stdout.toString(), await readFile(join(tree, 'etc/os-release'), 'utf8'));
  const rel = await ocifsOk(['ls', `file:${images.plain.file}`, '/sizes']);
  assert.ok(rel.stdout.toString().includes('f4097'));
});

test('prefetch fills the cache; cache ls, verify, gc and rm manage it', async () => {
  const env = cacheEnv('manage');
  await ocifsOk(['prefetch', images.plain.ref], { env });
  const ls = JSON.parse((await ocifsOk(['cache', 'ls', '--json'], { env })).stdout.toString());
  const digest = 'sha256:' + createHash('sha256').update(images.plain.bytes).digest('hex');
  const entry = ls.find((e: { digest: string }) => e.digest === digest);
  assert.ok(entry, JSON.stringify(ls));
  assert.equal(entry.verified, true);
  assert.equal(entry.presentBytes, images.plain.bytes.byteLength);
  const verify = await ocifsOk(['cache', 'verify'], { env });
  assert.match(verify.stdout.toString(), new RegExp(`${digest}\\s+verified`));
  // Everything is cached: a full read of the blob now fetches no blob bytes.
  const warm = await ocifsOk(['blob', images.plain.ref, '--layer', '0', '--stats'], { env });
  assert.ok(warm.stdout.equals(images.plain.bytes));
  assert.ok(statsOf(warm).bytesFetched < 8192);
  await ocifsOk(['cache', 'gc', '--max-size', '0'], { env });
  const after = JSON.parse((await ocifsOk(['cache', 'ls', '--json'], { env })).stdout.toString());
  assert.equal(after.filter((e: { size: number | null }) => e.size !== null).length, 0);
  await ocifsOk(['prefetch', images.plain.ref, '--layer', '0'], { env });
  await ocifsOk(['cache', 'rm', '--all'], { env });
  assert.deepEqual(JSON.parse((await ocifsOk(['cache', 'ls', '--json'], { env })).stdout.toString()), []);
});

test('--no-cache reads correctly and writes nothing to the cache directory', async () => {
  const env = cacheEnv('nocache');
  const r = await ocifsOk(['cat', '--no-cache', images.lz4hc.ref, '/big/text-2M.txt'], { env });
  assert.ok(r.stdout.equals(await readFile(join(tree, 'big/text-2M.txt'))));
  await assert.rejects(stat(env.OCIFS_CACHE_DIR));
});

test('errors: one clear line on stderr and a non-zero exit code', async () => {
  const env = cacheEnv('errors');
  const cases: [string[], number, RegExp][] = [
    [['cat', images.plain.ref, '/no/such/file'], 1, /^ocifs: \/no\/such\/file: not found$/],
    [['cat', images.plain.ref, '/bin'], 1, /is a directory/],
    [['ls', 'Bad::Ref', '/'], 2, /^ocifs: invalid image reference/],
    [['cat', `${reg.host}/cli/missing:v1`, '/x'], 1, /^ocifs: .*(manifest|not found|unknown)/i],
    [['blob', images.plain.ref], 2, /--layer N or --digest/],
    [['blob', images.plain.ref, '--layer', '7'], 1, /no layer 7 \(the image has 1 layer/],
    [['blob', images.plain.ref, '--layer', '0', '--range', '9-1'], 2, /END is before START/],
    [['extract', images.plain.ref, tree], 1, /not empty|exists/],
    [['inspect', '127.0.0.1:1/nothing:here'], 1, /^ocifs: .*127\.0\.0\.1:1/],
    // Malformed values are usage errors (2), found before any request (the registry here does not exist).
    [
      ['ls', '--platform', 'foo', '127.0.0.1:1/nothing:here', '/'],
      2,
      /^ocifs: invalid platform "foo": expected OS\/ARCH/,
    ],
    [['ls', '--mirror', 'foo', '127.0.0.1:1/nothing:here', '/'], 2, /^ocifs: --mirror "foo": expected REGISTRY=URL/],
    [
      ['ls', '--mirror', 'docker.io=ftp://x', '127.0.0.1:1/nothing:here', '/'],
      2,
      /^ocifs: --mirror "docker\.io=ftp:\/\/x"/,
    ],
    [
      ['blob', '127.0.0.1:1/nothing:here', '--digest', 'sha256:zz'],
      2,
      /^ocifs: invalid option --digest: "sha256:zz" is not a digest/,
    ],
  ];
  for (const [args, code, re] of cases) {
    const r = await ocifs(args, { env });
    assert.equal(r.code, code, `${args.join(' ')}: ${r.stderr}`);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, `${args.join(' ')}: ${r.stderr}`);
    assert.match(lines[0], re, args.join(' '));
  }
});
