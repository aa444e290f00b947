// Laziness of `ocifs web`: opening an EROFS image's root directory in the Files tab — the
// requests the page makes for it (the image document, the root listing, the root's facts, the
// status line) — fetches less than 2% of a 36 MiB image made by mkfs.erofs, counted by the
// server's own counters (what the status line shows). The benchmark does the same on the
// ~500 MiB image.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRegistry, skopeoPush, type TestRegistry } from '../helpers/registry.js';
import { writeImageLayout, MT_LAYER_EROFS } from '../helpers/oci-layout.js';
import { runOk } from '../helpers/run.js';
import { patternBytes, startWeb, type WebProcess } from '../helpers/web.js';
import type { DirDoc, ImageDoc, StatDoc, StatusDoc } from '../../src/web/api-types.js';

let tmp = '';
let reg: TestRegistry;
let web: WebProcess;
let ref = '';
let imageBytes = 0;

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'ocifs-web-lazy-'));
  reg = await startRegistry();
  const tree = join(tmp, 'tree');
  // 24 MiB of large files, 2,400 small ones in 60 directories, a few top-level entries.
  await mkdir(join(tree, 'big'), { recursive: true });
  for (let i = 0; i < 24; i++) await writeFile(join(tree, 'big', `blob-${i}.bin`), patternBytes(1 << 20, i + 1));
  for (let d = 0; d < 60; d++) {
    await mkdir(join(tree, 'many', `d${d}`), { recursive: true });
    for (let f = 0; f < 40; f++)
      await writeFile(join(tree, 'many', `d${d}`, `f${f}.txt`), `file ${d}/${f}\n`.repeat(200 + ((d * 40 + f) % 300)));
  }
  for (const name of ['etc', 'usr', 'var', 'opt', 'srv']) await mkdir(join(tree, name), { recursive: true });
  await writeFile(join(tree, 'etc', 'hostname'), 'lazy\n');
  const image = join(tmp, 'rootfs.erofs');
  await runOk('mkfs.erofs', ['-T', '1700000000', image, tree]);
  const bytes = await readFile(image);
  imageBytes = bytes.byteLength;
  await writeImageLayout(join(tmp, 'layout'), { layers: [{ bytes, mediaType: MT_LAYER_EROFS }] }, 'v1');
  ref = `${reg.host}/web/lazy:v1`;
  await skopeoPush(join(tmp, 'layout'), 'v1', ref);
  web = await startWeb([ref, '--cache-dir', join(tmp, 'cache')]);
});

after(async () => {
  await web?.stop();
  await reg?.stop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

async function get<T>(path: string): Promise<T> {
  const res = await web.api(path);
  assert.equal(res.status, 200, path);
  return (await res.json()) as T;
}

test('opening the root directory of an EROFS image fetches less than 2% of it', async (t) => {
  const r = encodeURIComponent(ref);
  const doc = await get<ImageDoc>(`/api/image?ref=${r}`);
  assert.ok(imageBytes > 30 * 2 ** 20, `image is ${imageBytes} bytes`);
  const root = await get<DirDoc>(`/api/dir?ref=${r}&path=/`);
  assert.deepEqual(
    root.entries.map((e) => e.name),
    ['big', 'etc', 'many', 'opt', 'srv', 'usr', 'var'],
  );
  await get<StatDoc>(`/api/stat?ref=${r}&path=/`);
  const s = await get<StatusDoc>(`/api/status?ref=${r}`);
  assert.equal(s.imageSize, doc.totalSize);
  const ratio = s.bytesFetched / doc.totalSize;
  t.diagnostic(
    `root listing: ${s.bytesFetched} bytes fetched in ${s.requests} requests of a ${doc.totalSize}-byte image (${(ratio * 100).toFixed(2)}%)`,
  );
  assert.ok(ratio < 0.02, `fetched ${s.bytesFetched} of ${doc.totalSize} bytes (${(ratio * 100).toFixed(2)}%)`);
  // A directory of 2,400 files below it costs its own metadata, still a small part.
  await get<DirDoc>(`/api/dir?ref=${r}&path=/many/d7`);
  const after = await get<StatusDoc>(`/api/status?ref=${r}`);
  t.diagnostic(`and /many/d7: ${after.bytesFetched} bytes in total`);
  assert.ok(after.bytesFetched / doc.totalSize < 0.05);
});
