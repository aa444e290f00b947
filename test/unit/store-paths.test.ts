// The names of the podman additional layer store: the reference encoding containers/storage
// uses (Go's base64.StdEncoding), and the info record storage decodes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeRef, encodeRef, isLayerName } from '../../src/runtime/store/store-paths.js';
import { layerInfo, tocDigestOf, STORAGE_COMPRESSION } from '../../src/runtime/store/layer-info.js';
import { mulberry32 as rng } from '../helpers/prng.js';

test('a reference round-trips through its directory name; other names are refused', () => {
  for (const ref of [
    '127.0.0.1:5000/test/busybox:v1',
    'docker.io/library/alpine:3.20',
    'ghcr.io/o/r@sha256:' + 'a'.repeat(64),
    'x',
  ]) {
    const name = encodeRef(ref);
    assert.equal(name, Buffer.from(ref).toString('base64'));
    assert.equal(decodeRef(name), ref);
  }
  // Go's StdEncoding pads with '='; unpadded, URL-safe and lenient forms are not storage's names.
  assert.equal(encodeRef('ab'), 'YWI=');
  for (const bad of ['YWI', 'YW I=', 'YWI==', 'YW-_', '', 'sha256:abc', '////', '/w=='])
    assert.equal(decodeRef(bad), undefined, bad);
  // Bytes that are not UTF-8, and NUL, are no reference.
  assert.equal(decodeRef(Buffer.from([0xff, 0xfe, 0x41]).toString('base64')), undefined);
  assert.equal(decodeRef(Buffer.from('a\0b').toString('base64')), undefined);
});

test('the encoding of a reference never holds / or + (so storage never nests its directory)', () => {
  const chars = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-:/@';
  const r = rng(7);
  for (let i = 0; i < 20_000; i++) {
    const n = 1 + Math.floor(r() * 60);
    let ref = '';
    for (let j = 0; j < n; j++) ref += chars[Math.floor(r() * chars.length)];
    assert.doesNotMatch(encodeRef(ref), /[/+]/, ref);
  }
});

test('layer directory names are digests', () => {
  assert.equal(isLayerName('sha256:' + '0'.repeat(64)), true);
  assert.equal(isLayerName('sha256:' + '0'.repeat(63)), false);
  assert.equal(isLayerName('use'), false);
});

test('info: the fields and numbers containers/storage decodes', () => {
  const digest = 'sha256:' + '1'.repeat(64);
  const diffId = 'sha256:' + '2'.repeat(64);
  const toc = 'sha256:' + '3'.repeat(64);
  const gz = { index: 0, digest, size: 1000, mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip' };
  assert.deepEqual(layerInfo(gz, diffId), {
    'compressed-diff-digest': digest,
    'compressed-size': 1000,
    'diff-digest': diffId,
    compression: STORAGE_COMPRESSION.gzip,
  });
  const docker = { ...gz, mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip' };
  assert.equal(layerInfo(docker, diffId).compression, 2);
  const tar = { ...gz, mediaType: 'application/vnd.oci.image.layer.v1.tar' };
  assert.deepEqual(layerInfo(tar, diffId), {
    'compressed-diff-digest': digest,
    'compressed-size': 1000,
    'diff-digest': diffId,
    'diff-size': 1000,
    compression: 0,
  });
  const zstd = {
    ...gz,
    mediaType: 'application/vnd.oci.image.layer.v1.tar+zstd',
    annotations: { 'io.github.containers.zstd-chunked.manifest-checksum': toc },
  };
  assert.equal(tocDigestOf(zstd), toc);
  assert.deepEqual(layerInfo(zstd, diffId, toc), {
    'compressed-diff-digest': digest,
    'compressed-size': 1000,
    'diff-digest': diffId,
    compression: STORAGE_COMPRESSION.zstd,
    'toc-digest': toc,
    flags: { 'expected-layer-diffid': diffId },
  });
  const esgz = {
    ...gz,
    annotations: { 'containerd.io/snapshot/stargz/toc.digest': toc, 'io.containers.estargz.uncompressed-size': '4096' },
  };
  assert.equal(tocDigestOf(esgz), toc);
  assert.equal(layerInfo(esgz, diffId)['diff-size'], 4096);
  assert.equal(tocDigestOf({ ...gz, annotations: { 'containerd.io/snapshot/stargz/toc.digest': 'nope' } }), undefined);
});
