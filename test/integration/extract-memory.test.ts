// Memory of a command does not grow with file or layer sizes. A two-layer image whose top tar+gzip
// layer holds a 2 GiB file of zeros (a 2 MB gzip bomb, as GNU gzip -6 writes it) once took 2.2 GB
// RSS to extract (1.1 GB per GiB: the gzip pass kept every trial decode of every checkpoint's
// block alive until the next tick), and as much to `cat` the small file stored after the zeros
// (the same pass indexes the layer); the bound the README states is checked on the child
// process's peak RSS (`--stats` maxRssBytes, getrusage).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, open, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MT_LAYER_GZIP, writeImageLayout } from '../helpers/oci-layout.js';
import { ocifsOk, statsOf } from '../helpers/cli.js';
import { skopeoPush, startRegistry, type TestRegistry } from '../helpers/registry.js';
import { runOk } from '../helpers/run.js';

/** The bound the README states for a command's RSS, whatever the file and layer sizes. */
const EXTRACT_RSS_BOUND = 512 * 1024 * 1024;
const ZERO_FILE = 2 * 1024 * 1024 * 1024;

let reg: TestRegistry;
let tmp = '';
let ref = '';

/** tar+gzip of `dir`'s contents, and the tar's sha256 (the layer's diff_id). */
async function gzipLayer(dir: string, out: string): Promise<{ bytes: Buffer; diffId: string }> {
  await runOk('bash', [
    '-c',
    'set -o pipefail; tar -cf - -C "$1" . | tee >(sha256sum | cut -c1-64 > "$2.sha") | gzip -6 > "$2"; wait',
    'gzip-layer',
    dir,
    out,
  ]);
  return { bytes: await readFile(out), diffId: 'sha256:' + (await readFile(`${out}.sha`, 'utf8')).trim() };
}

before(async () => {
  reg = await startRegistry();
  tmp = await mkdtemp(join(tmpdir(), 'ocifs-extract-memory-'));
  await mkdir(join(tmp, 'base', 'etc'), { recursive: true });
  await writeFile(join(tmp, 'base', 'etc', 'os-release'), 'ID=bomb\n');
  await mkdir(join(tmp, 'top', 'big'), { recursive: true });
  // A sparse file: tar reads its zeros without disk I/O.
  await writeFile(join(tmp, 'top', 'big', 'zero'), '');
  await truncate(join(tmp, 'top', 'big', 'zero'), ZERO_FILE);
  await writeFile(join(tmp, 'top', 'big', 'after'), 'after the zeros\n');
  const base = await gzipLayer(join(tmp, 'base'), join(tmp, 'base.tgz'));
  const top = await gzipLayer(join(tmp, 'top'), join(tmp, 'top.tgz'));
  await rm(join(tmp, 'top'), { recursive: true });
  assert.ok(top.bytes.length < 4 * 1024 * 1024, `the bomb is ${top.bytes.length} bytes`);
  await writeImageLayout(
    join(tmp, 'layout'),
    {
      layers: [
        { ...base, mediaType: MT_LAYER_GZIP },
        { ...top, mediaType: MT_LAYER_GZIP },
      ],
    },
    'v1',
  );
  ref = `${reg.host}/memory/bomb:v1`;
  await skopeoPush(join(tmp, 'layout'), 'v1', ref);
});

after(async () => {
  await reg?.stop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

test('extracting a multi-layer image with a 2 GiB file of zeros in a gzip layer stays under the stated RSS bound', async (t) => {
  const dest = join(tmp, 'out');
  const r = await ocifsOk(['extract', '-q', '--stats', '--cache-dir', join(tmp, 'cache'), ref, dest]);
  const { maxRssBytes } = statsOf(r);
  t.diagnostic(`peak RSS ${(maxRssBytes / 2 ** 20).toFixed(0)} MiB`);
  assert.ok(
    maxRssBytes < EXTRACT_RSS_BOUND,
    `peak RSS ${(maxRssBytes / 2 ** 20).toFixed(0)} MiB, bound ${EXTRACT_RSS_BOUND / 2 ** 20} MiB`,
  );
  assert.equal((await stat(join(dest, 'big', 'zero'))).size, ZERO_FILE);
  assert.equal(await readFile(join(dest, 'big', 'after'), 'utf8'), 'after the zeros\n');
  assert.equal(await readFile(join(dest, 'etc', 'os-release'), 'utf8'), 'ID=bomb\n');
  // Zeros at the start, in the middle and at the end.
  const f = await open(join(dest, 'big', 'zero'));
  try {
    for (const at of [0, ZERO_FILE / 2 - 4096, ZERO_FILE - (1 << 20)]) {
      const { buffer } = await f.read(Buffer.alloc(1 << 20), 0, 1 << 20, at);
      assert.ok(
        buffer.every((b) => b === 0),
        `zeros at ${at}`,
      );
    }
  } finally {
    await f.close();
  }
});

test('a cold cat of the file after the zeros (a pass over the whole bomb) stays under the same bound', async (t) => {
  const r = await ocifsOk(['cat', '--stats', '--cache-dir', join(tmp, 'cache-cat'), ref, '/big/after']);
  const { maxRssBytes } = statsOf(r);
  t.diagnostic(`peak RSS ${(maxRssBytes / 2 ** 20).toFixed(0)} MiB`);
  assert.equal(r.stdout.toString('utf8'), 'after the zeros\n');
  assert.ok(
    maxRssBytes < EXTRACT_RSS_BOUND,
    `peak RSS ${(maxRssBytes / 2 ** 20).toFixed(0)} MiB, bound ${EXTRACT_RSS_BOUND / 2 ** 20} MiB`,
  );
});
