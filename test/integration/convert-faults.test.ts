// `ocifs convert` when things go wrong or get big: usage errors (exit 2) and bad destinations or
// unconvertible layers (exit 1) are one line and leave the destination tag as it was; a kill -9
// midway leaves the old image under the tag and the next run completes (and removes the dead
// run's scratch files); a 1 GiB layer converts in bounded memory (--stats maxRssBytes).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { createGzip } from 'node:zlib';
import { tarHeader, tarPadding, END_OF_ARCHIVE } from '../../src/build/tar-write.js';
import { OCIFS_BIN, ocifs, ocifsOk, statsOf } from '../helpers/cli.js';
import { readLayoutImage } from '../helpers/convert-layout.js';
import { cleanupTempDir, mountTempDir } from '../helpers/mount-safety.js';
import { MT_LAYER_GZIP, writeImageLayout } from '../helpers/oci-layout.js';
import { skopeoPush, startRegistry, type TestRegistry } from '../helpers/registry.js';

const tmp = mountTempDir('ocifs-convert-faults-');
let registry: TestRegistry;
const cache = join(tmp, 'cache');

/**
 * Writes a tar+gzip layer of one file of `size` bytes (a random 16 KiB block repeated: gzip
 * compresses it well, the conversion still handles every byte); returns its diff_id.
 */
async function bigLayer(path: string, size: number): Promise<string> {
  const diff = createHash('sha256');
  const block = randomBytes(16 * 1024);
  const header = tarHeader({
    path: 'big.bin',
    type: 'file',
    mode: 0o644,
    uid: 0,
    gid: 0,
    mtimeSec: 1700000000,
    mtimeNsec: 0,
    size,
    rdev: 0,
  })!;
  async function* tar(): AsyncGenerator<Uint8Array> {
    const emit = (b: Uint8Array) => {
      diff.update(b);
      return b;
    };
    yield emit(header);
    for (let done = 0; done < size; done += block.length)
      yield emit(block.subarray(0, Math.min(block.length, size - done)));
    yield emit(new Uint8Array(tarPadding(size)));
    yield emit(END_OF_ARCHIVE);
  }
  await pipeline(Readable.from(tar()), createGzip({ level: 1 }), createWriteStream(path));
  return `sha256:${diff.digest('hex')}`;
}

before(async () => {
  registry = await startRegistry();
  // A small image, and one whose only layer is not a layer format ocifs knows.
  const small = join(tmp, 'small');
  const layer = join(tmp, 'small.tgz');
  const diffId = await bigLayer(layer, 3 * 1024 * 1024);
  await writeImageLayout(small, { layers: [{ bytes: await readFile(layer), mediaType: MT_LAYER_GZIP, diffId }] }, 't');
  await writeImageLayout(
    small,
    { layers: [{ bytes: randomBytes(5000), mediaType: 'application/octet-stream' }] },
    'junk',
  );
  await skopeoPush(small, 't', `${registry.host}/small:t`);
  await skopeoPush(small, 'junk', `${registry.host}/junk:t`);
});

after(async () => {
  await registry?.stop();
  cleanupTempDir(tmp);
});

test('usage errors exit 2 with one line; nothing is written', async () => {
  const src = `${registry.host}/small:t`;
  const out = join(tmp, 'usage');
  const cases: [string[], RegExp][] = [
    [[src, `oci:${out}`], /--to is required/],
    [[src, `oci:${out}`, '--to', 'squashfs'], /invalid option --to: must be one of erofs, estargz, zstd-chunked/],
    [
      [src, '--to', 'erofs', '-o', join(tmp, 'x.erofs')],
      /-o FILE writes one EROFS image: it needs --to erofs --flatten/,
    ],
    [[src, `oci:${out}`, '--to', 'estargz', '--flatten'], /invalid option --flatten: only with --to erofs/],
    [[src, `oci:${out}`, '--to', 'estargz', '--compress', 'lz4'], /invalid option --compress: only with --to erofs/],
    [
      [src, `oci:${out}`, '--to', 'erofs', '--compress', 'xz'],
      /invalid option --compress: must be one of none, lz4, lz4hc, deflate/,
    ],
    [[src, `oci:${out}`, '--to', 'erofs', '--flatten', '-o', join(tmp, 'x.erofs')], /give DEST or -o FILE, not both/],
    [
      [src, `oci:${out}`, '--to', 'erofs', '--platform', 'linux/amd64', '--all-platforms'],
      /give --platform or --all-platforms, not both/,
    ],
    [
      [src, 'UPPER/Case:x', '--to', 'erofs'],
      /invalid image reference "UPPER\/Case:x": repository name must be lowercase/,
    ],
  ];
  for (const [args, message] of cases) {
    const r = await ocifs(['convert', '--cache-dir', cache, ...args]);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0], message);
  }
  assert.deepEqual(await readdir(tmp).then((n) => n.filter((x) => x === 'usage' || x === 'x.erofs')), []);
});

test('an unconvertible layer or a bad destination: one line, exit 1, the tag untouched', async () => {
  const out = join(tmp, 'dest');
  await ocifsOk([
    'convert',
    '--cache-dir',
    cache,
    '-q',
    `${registry.host}/small:t`,
    `oci:${out}:keep`,
    '--to',
    'estargz',
  ]);
  const before = await readFile(join(out, 'index.json'), 'utf8');
  const junk = await ocifs([
    'convert',
    '--cache-dir',
    cache,
    '-q',
    `${registry.host}/junk:t`,
    `oci:${out}:keep`,
    '--to',
    'erofs',
  ]);
  assert.equal(junk.code, 1);
  assert.match(
    junk.stderr,
    /^ocifs: .*layer 0: not an EROFS image, tar, tar\+gzip or tar\+zstd layer \(media type application\/octet-stream\)\n$/,
  );
  assert.equal(await readFile(join(out, 'index.json'), 'utf8'), before, 'index.json unchanged');
  assert.deepEqual(
    (await readdir(join(out, 'blobs/sha256'))).filter((n) => n.startsWith('.')),
    [],
    'no scratch files left',
  );

  const notLayout = join(tmp, 'not-a-layout');
  await mkdir(notLayout);
  await writeFile(join(notLayout, 'precious.txt'), 'mine');
  const r = await ocifs([
    'convert',
    '--cache-dir',
    cache,
    `${registry.host}/small:t`,
    `oci:${notLayout}`,
    '--to',
    'erofs',
  ]);
  assert.equal(r.code, 1);
  assert.equal(r.stderr, `ocifs: ${notLayout}: exists and is not an OCI image layout (no oci-layout file)\n`);
  assert.deepEqual(await readdir(notLayout), ['precious.txt']);
});

test(
  'kill -9 during a conversion leaves the old image under the tag; the next run completes',
  { timeout: 300_000 },
  async () => {
    const layout = join(tmp, 'big-src');
    const layer = join(tmp, 'big.tgz');
    const diffId = await bigLayer(layer, 1024 * 1024 * 1024);
    await writeImageLayout(
      layout,
      { layers: [{ bytes: await readFile(layer), mediaType: MT_LAYER_GZIP, diffId }] },
      't',
    );
    await skopeoPush(layout, 't', `${registry.host}/big:t`);
    const out = join(tmp, 'killed');
    await ocifsOk(['convert', '--cache-dir', cache, '-q', `${registry.host}/small:t`, `oci:${out}:t`, '--to', 'erofs']);
    const old = (await readLayoutImage(out, 't')).descriptor.digest;

    const child = spawn(
      process.execPath,
      [OCIFS_BIN, 'convert', '--cache-dir', cache, '-q', `${registry.host}/big:t`, `oci:${out}:t`, '--to', 'erofs'],
      { stdio: 'ignore' },
    );
    const exited = new Promise((r) => child.once('exit', r));
    // Kill it once it is writing the new layer (a scratch blob that has grown).
    const blobs = join(out, 'blobs/sha256');
    for (let i = 0; i < 600; i++) {
      const scratch = (await readdir(blobs)).filter((n) => n.startsWith('.ocifs-tmp-'));
      const sizes = await Promise.all(
        scratch.map((n) =>
          stat(join(blobs, n)).then(
            (s) => s.size,
            () => 0,
          ),
        ),
      );
      if (sizes.some((s) => s > 64 * 1024 * 1024)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    child.kill('SIGKILL');
    await exited;
    assert.equal((await readLayoutImage(out, 't')).descriptor.digest, old, 'the tag still names the old image');
    assert.ok(
      (await readdir(blobs)).some((n) => n.startsWith('.ocifs-tmp-')),
      'the killed run left its scratch file',
    );

    const r = await ocifsOk([
      'convert',
      '--stats',
      '--cache-dir',
      cache,
      '-q',
      `${registry.host}/big:t`,
      `oci:${out}:t`,
      '--to',
      'erofs',
    ]);
    const done = await readLayoutImage(out, 't');
    assert.notEqual(done.descriptor.digest, old);
    assert.equal(done.manifest.layers.length, 1);
    assert.ok(done.manifest.layers[0].size > 1024 * 1024 * 1024, 'the whole layer is there');
    assert.deepEqual(
      (await readdir(blobs)).filter((n) => n.startsWith('.')),
      [],
      "the dead run's scratch file is gone",
    );
    // Bounded memory: the 1 GiB layer went through a footprint far below its size.
    const rss = statsOf(r).maxRssBytes;
    assert.ok(rss < 300 * 1024 * 1024, `erofs peak RSS ${rss}`);
    const lazy = await ocifsOk([
      'convert',
      '--stats',
      '--cache-dir',
      cache,
      '-q',
      `${registry.host}/big:t`,
      `oci:${out}:estargz`,
      '--to',
      'estargz',
    ]);
    assert.ok(statsOf(lazy).maxRssBytes < 300 * 1024 * 1024, `estargz peak RSS ${statsOf(lazy).maxRssBytes}`);
  },
);
