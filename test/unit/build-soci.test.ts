// The zTOC writer against two readers: ocifs's own (the layer served through it equals tar x)
// and the test suite's hand-written FlatBuffers writer of ztoc.fbs (the same zinfo bytes and
// file table from the same checkpoints). Uncompressed layers get TarZinfo zTOCs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readFile } from 'node:fs/promises';
import { MemorySource } from '../../src/io/memory-source.js';
import { buildGzipIndex } from '../../src/tar/gzip-indexer.js';
import { checkpointWindow } from '../../src/tar/gzip-index.js';
import { scanTar } from '../../src/tar/tar-scan.js';
import { loadZtoc, openSociLayer } from '../../src/tar/soci.js';
import { openTarLayer } from '../../src/tar/open-layer.js';
import { gzipSpanRanges, packGzipZinfo, packTarZinfo, spanDigests, tarSpanRanges } from '../../src/build/soci/zinfo.js';
import { rfc3339, writeZtoc, ZTOC_GZIP, ZTOC_UNCOMPRESSED } from '../../src/build/soci/ztoc-writer.js';
import { assertSameManifest, makeTree, manifestOf, treeManifest } from '../helpers/fs-manifest.js';
import { runOk } from '../helpers/run.js';
import { buildZtoc, CountingSource } from './tar-test-helpers.js';

const SPAN = 256 * 1024;
let dir: string;
let tar: Buffer;
let gz: Buffer;
let expected: string[];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ocifs-build-soci-'));
  await makeTree(join(dir, 'tree'), 7);
  await runOk('tar', [
    '-cf',
    join(dir, 'layer.tar'),
    '--format=pax',
    '--xattrs',
    '--xattrs-include=*',
    '-C',
    join(dir, 'tree'),
    '.',
  ]);
  tar = await readFile(join(dir, 'layer.tar'));
  gz = (await runOk('gzip', ['-6', '-c', join(dir, 'layer.tar')])).stdout;
  await mkdir(join(dir, 'x'));
  await runOk('tar', [
    '-xf',
    join(dir, 'layer.tar'),
    '-C',
    join(dir, 'x'),
    '--numeric-owner',
    '-p',
    '--xattrs',
    '--xattrs-include=*',
  ]);
  expected = await treeManifest(join(dir, 'x'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function gzipZtoc(blob: Buffer): Promise<Uint8Array> {
  const index = await buildGzipIndex(new MemorySource(blob), { span: SPAN });
  const ranges = gzipSpanRanges(index.checkpoints, blob.length);
  return writeZtoc({
    buildTool: 'test',
    compressedSize: blob.length,
    uncompressedSize: index.tarSize,
    entries: index.tar.entries,
    algorithm: ZTOC_GZIP,
    spanDigests: await spanDigests(new MemorySource(blob), ranges),
    checkpoints: packGzipZinfo(index.checkpoints, SPAN),
  });
}

test('a written gzip zTOC serves the layer like tar x, and equals the test writer field by field', async () => {
  const bytes = await gzipZtoc(gz);
  const counting = new CountingSource(new MemorySource(gz));
  const layer = await openSociLayer(counting, bytes);
  assertSameManifest(await manifestOf(layer.fs), expected, 'written zTOC');
  assert.equal(layer.ztoc.version, '0.9');
  assert.equal(layer.ztoc.algorithm, 'gzip');
  const theirs = loadZtoc(await buildZtoc(gz));
  const ours = loadZtoc(bytes);
  assert.deepEqual(
    ours.index.checkpoints.map((c) => [c.bit, c.out, Buffer.from(checkpointWindow(c)).toString('hex'), c.spanDigest]),
    theirs.index.checkpoints.map((c) => [c.bit, c.out, Buffer.from(checkpointWindow(c)).toString('hex'), c.spanDigest]),
  );
  // Xattrs are a set: the writer sorts them by name, the test writer keeps the tar's order.
  const strip = (e: any) => ({
    ...e,
    xattrs: e.xattrs
      ? [...e.xattrs].map(([k, v]: [string, Uint8Array]) => [k, Buffer.from(v).toString('hex')]).sort()
      : undefined,
  });
  assert.deepEqual(ours.index.tar.entries.map(strip), theirs.index.tar.entries.map(strip));
});

test('span digests cover [in - (bits ? 1 : 0), next in): the partial byte belongs to both spans', async () => {
  const index = await buildGzipIndex(new MemorySource(gz), { span: SPAN });
  const ranges = gzipSpanRanges(index.checkpoints, gz.length);
  const digests = await spanDigests(new MemorySource(gz), ranges);
  assert.ok(
    index.checkpoints.some((c) => c.bit % 8 !== 0),
    'some checkpoint starts inside a byte',
  );
  ranges.forEach((r, k) => {
    assert.equal(r.start, Math.floor(index.checkpoints[k].bit / 8));
    assert.equal(digests[k], 'sha256:' + createHash('sha256').update(gz.subarray(r.start, r.end)).digest('hex'));
  });
  // The zinfo layout: count, span, then in/out/bits/window per checkpoint.
  const z = packGzipZinfo(index.checkpoints, SPAN);
  const v = new DataView(z.buffer, z.byteOffset);
  assert.equal(v.getInt32(0, true), index.checkpoints.length);
  assert.equal(Number(v.getBigInt64(4, true)), SPAN);
  const c1 = index.checkpoints[1];
  const p = 12 + 17 + 32768;
  assert.equal(Number(v.getBigInt64(p, true)), Math.ceil(c1.bit / 8));
  assert.equal(z[p + 16], Math.ceil(c1.bit / 8) * 8 - c1.bit);
  assert.ok(Buffer.from(z.subarray(p + 17, p + 17 + 32768)).equals(tar.subarray(c1.out - 32768, c1.out)));
});

test('an uncompressed zTOC (TarZinfo) replaces the header scan of a plain tar layer', async () => {
  const index = await scanTar(new MemorySource(tar));
  const ranges = tarSpanRanges(SPAN, tar.length);
  const bytes = writeZtoc({
    buildTool: 'test',
    compressedSize: tar.length,
    uncompressedSize: tar.length,
    entries: index.entries,
    algorithm: ZTOC_UNCOMPRESSED,
    spanDigests: await spanDigests(new MemorySource(tar), ranges),
    checkpoints: packTarZinfo(SPAN, tar.length),
  });
  const z = loadZtoc(bytes);
  assert.equal(z.algorithm, 'uncompressed');
  assert.equal(z.spanSize, SPAN);
  const counting = new CountingSource(new MemorySource(tar));
  const layer = await openTarLayer(counting, { mediaType: 'application/vnd.oci.image.layer.v1.tar', ztoc: bytes });
  assert.equal(layer.format, 'soci');
  assert.ok(counting.bytes < tar.length / 4, `opening read ${counting.bytes} of ${tar.length} bytes`);
  assertSameManifest(await manifestOf(layer.fs), expected, 'uncompressed zTOC');
  // A gzip zTOC is no use for a plain tar layer, and the other way round.
  // (Refused as not matching the layer's size, or as the wrong kind.)
  const refused = (e: any) => e.code === 'ERR_OCIFS_UNSUPPORTED_LAYER' || e.code === 'ERR_OCIFS_CORRUPT_INDEX';
  await assert.rejects(
    openTarLayer(new MemorySource(tar), {
      mediaType: 'application/vnd.oci.image.layer.v1.tar',
      ztoc: await gzipZtoc(gz),
    }),
    refused,
  );
  await assert.rejects(
    openTarLayer(new MemorySource(gz), { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ztoc: bytes }),
    refused,
  );
});

test('mod_time is Go MarshalText: RFC 3339, trimmed nanoseconds, empty outside years 0-9999', () => {
  assert.equal(rfc3339(1700000000, 0), '2023-11-14T22:13:20Z');
  assert.equal(rfc3339(1700000000, 120000000), '2023-11-14T22:13:20.12Z');
  assert.equal(rfc3339(1700000000, 1), '2023-11-14T22:13:20.000000001Z');
  assert.equal(rfc3339(-1, 0), '1969-12-31T23:59:59Z');
  assert.equal(rfc3339(253402300800, 0), '');
});
