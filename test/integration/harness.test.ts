// The test harness itself: a real registry starts, skopeo pushes a layout to it, Range works.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { startRegistry, skopeoPush } from '../helpers/registry.js';
import { writeImageLayout, MT_LAYER_EROFS } from '../helpers/oci-layout.js';

test('docker-registry + skopeo: push a layout, read a blob range back', async () => {
  const reg = await startRegistry();
  const tmp = await mkdtemp(join(tmpdir(), 'ocifs-harness-'));
  after(async () => {
    await reg.stop();
    await rm(tmp, { recursive: true, force: true });
  });
  const layer = randomBytes(100_000);
  const desc = await writeImageLayout(
    join(tmp, 'layout'),
    { layers: [{ bytes: layer, mediaType: MT_LAYER_EROFS }] },
    'v1',
  );
  await skopeoPush(join(tmp, 'layout'), 'v1', `${reg.host}/test/harness:v1`);
  const m = await fetch(`${reg.url}/v2/test/harness/manifests/v1`, { headers: { accept: desc.mediaType } });
  assert.equal(m.status, 200);
  const manifest = (await m.json()) as { layers: { digest: string }[] };
  const blobDigest = manifest.layers[0].digest;
  const r = await fetch(`${reg.url}/v2/test/harness/blobs/${blobDigest}`, { headers: { range: 'bytes=10-19' } });
  assert.equal(r.status, 206);
  assert.deepEqual(Buffer.from(await r.arrayBuffer()), layer.subarray(10, 20));
});
