// Manifest, index and config parsing; platform parsing, normalisation and index matching.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  parseManifestDocument,
  parseImageConfig,
  parsePlatform,
  formatPlatform,
  normalizePlatform,
  hostPlatform,
  selectPlatform,
  platformRank,
  MEDIA_TYPE_OCI_MANIFEST,
  MEDIA_TYPE_DOCKER_MANIFEST,
  MEDIA_TYPE_DOCKER_MANIFEST_LIST,
  MEDIA_TYPE_OCI_INDEX,
  type Descriptor,
} from '../../src/oci/index.js';
import { isOcifsError, type OcifsErrorCode } from '../../src/errors.js';

const D = (c: string) => 'sha256:' + c.repeat(64);
const enc = (o: unknown) => new TextEncoder().encode(JSON.stringify(o));
const desc = (mt: string, c: string, size = 10, extra: Partial<Descriptor> = {}) => ({
  mediaType: mt,
  digest: D(c),
  size,
  ...extra,
});
const manifest = (extra: Record<string, unknown> = {}) => ({
  schemaVersion: 2,
  mediaType: MEDIA_TYPE_OCI_MANIFEST,
  config: desc('application/vnd.oci.image.config.v1+json', 'c'),
  layers: [desc('application/vnd.oci.image.layer.v1.tar+gzip', 'a', 123, { annotations: { k: 'v' } })],
  ...extra,
});

const bad = (code: OcifsErrorCode, re: RegExp) => (e: unknown) =>
  isOcifsError(e, code) && re.test((e as Error).message);

test('parses an OCI manifest and keeps descriptor fields', () => {
  const doc = parseManifestDocument(enc(manifest({ annotations: { a: 'b' } })));
  assert.equal(doc.kind, 'manifest');
  if (doc.kind !== 'manifest') return;
  assert.equal(doc.manifest.mediaType, MEDIA_TYPE_OCI_MANIFEST);
  assert.deepEqual(doc.manifest.layers, [
    { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: D('a'), size: 123, annotations: { k: 'v' } },
  ]);
  assert.deepEqual(doc.manifest.annotations, { a: 'b' });
});

test('takes the media type from Content-Type when the document has none (Docker schema 2)', () => {
  const m = manifest();
  delete (m as Record<string, unknown>).mediaType;
  const doc = parseManifestDocument(enc(m), `${MEDIA_TYPE_DOCKER_MANIFEST}; charset=utf-8`);
  assert.equal(doc.kind === 'manifest' && doc.manifest.mediaType, MEDIA_TYPE_DOCKER_MANIFEST);
  // no mediaType, no content type: the shape decides
  const idx = parseManifestDocument(enc({ schemaVersion: 2, manifests: [] }));
  assert.equal(idx.kind === 'index' && idx.index.mediaType, MEDIA_TYPE_OCI_INDEX);
});

test('parses a Docker manifest list with platforms', () => {
  const doc = parseManifestDocument(
    enc({
      schemaVersion: 2,
      mediaType: MEDIA_TYPE_DOCKER_MANIFEST_LIST,
      manifests: [
        desc(MEDIA_TYPE_DOCKER_MANIFEST, '1', 5, { platform: { os: 'linux', architecture: 'arm', variant: 'v6' } }),
      ],
    }),
  );
  assert.equal(doc.kind, 'index');
  if (doc.kind === 'index')
    assert.deepEqual(doc.index.manifests[0].platform, { os: 'linux', architecture: 'arm', variant: 'v6' });
});

test('refuses Docker schema 1 by content type, media type and schemaVersion', () => {
  const s1 = bad('ERR_OCIFS_BAD_MANIFEST', /schema 1/);
  assert.throws(
    () => parseManifestDocument(enc(manifest()), 'application/vnd.docker.distribution.manifest.v1+prettyjws'),
    s1,
  );
  assert.throws(() => parseManifestDocument(enc({ schemaVersion: 1, name: 'x', fsLayers: [] })), s1);
  assert.throws(
    () => parseManifestDocument(enc(manifest({ mediaType: 'application/vnd.docker.distribution.manifest.v1+json' }))),
    s1,
  );
});

test('rejects malformed manifests naming the field', () => {
  const cases: [unknown, RegExp][] = [
    [manifest({ schemaVersion: 3 }), /schemaVersion must be 2/],
    [manifest({ layers: {} }), /manifest.layers: expected an array/],
    [
      manifest({ layers: [{ mediaType: 'a/b', digest: D('a'), size: -1 }] }),
      /layers\[0\].size: expected a non-negative integer/,
    ],
    [manifest({ layers: [{ mediaType: 'a/b', digest: D('a'), size: 2 ** 53 }] }), /layers\[0\].size/],
    [manifest({ layers: [{ mediaType: 'a/b', digest: D('a'), size: 1.5 }] }), /layers\[0\].size/],
    [manifest({ layers: [{ mediaType: 'a/b', digest: 'sha256:zz', size: 1 }] }), /layers\[0\].digest/],
    [manifest({ layers: [{ mediaType: 'a/b', digest: 'md5:' + 'a'.repeat(32), size: 1 }] }), /unsupported algorithm/],
    [manifest({ layers: [{ mediaType: 'no slash', digest: D('a'), size: 1 }] }), /invalid media type/],
    [manifest({ config: undefined }), /manifest.config: expected a JSON object/],
    [manifest({ annotations: { a: 1 } }), /annotations.a: expected a string/],
    [manifest({ mediaType: 'application/x-unknown' }), /unsupported media type/],
    [[], /expected a JSON object/],
    [{ schemaVersion: 2, manifests: [{ ...desc('a/b', 'a'), platform: { os: 'linux' } }] }, /platform.architecture/],
  ];
  for (const [doc, re] of cases)
    assert.throws(() => parseManifestDocument(enc(doc)), bad('ERR_OCIFS_BAD_MANIFEST', re), re.source);
  assert.throws(() => parseManifestDocument(new Uint8Array([0xff, 0xfe])), bad('ERR_OCIFS_BAD_MANIFEST', /UTF-8/));
  assert.throws(
    () => parseManifestDocument(new TextEncoder().encode('{"a":')),
    bad('ERR_OCIFS_BAD_MANIFEST', /not valid JSON/),
  );
  assert.throws(
    () => parseManifestDocument(enc(manifest()), undefined, 100),
    bad('ERR_OCIFS_BAD_MANIFEST', /over the 100-byte limit/),
  );
});

test('parses an image config and validates diff_ids', () => {
  const cfg = parseImageConfig(
    enc({
      architecture: 'arm64',
      os: 'linux',
      variant: 'v8',
      created: '2024-01-01T00:00:00Z',
      config: { Env: ['PATH=/bin'], Cmd: ['sh'], WorkingDir: '/', Labels: { a: 'b' }, ExposedPorts: { '80/tcp': {} } },
      rootfs: { type: 'layers', diff_ids: [D('d')] },
      history: [{ created_by: 'x', empty_layer: true }],
    }),
  );
  assert.equal(cfg.architecture, 'arm64');
  assert.deepEqual(cfg.config?.Cmd, ['sh']);
  assert.deepEqual(cfg.rootfs.diff_ids, [D('d')]);
  assert.deepEqual(cfg.history, [{ created_by: 'x', empty_layer: true }]);
  assert.throws(
    () => parseImageConfig(enc({ os: 'linux', rootfs: { diff_ids: [] } })),
    bad('ERR_OCIFS_BAD_MANIFEST', /architecture: missing/),
  );
  assert.throws(
    () => parseImageConfig(enc({ os: 'linux', architecture: 'amd64', rootfs: { diff_ids: ['x'] } })),
    bad('ERR_OCIFS_BAD_MANIFEST', /diff_ids\[0\]/),
  );
  assert.throws(
    () => parseImageConfig(enc({ os: 'linux', architecture: 'amd64', rootfs: {}, config: { Env: 'x' } })),
    bad('ERR_OCIFS_BAD_MANIFEST', /Env: expected an array/),
  );
});

test('parsePlatform normalises like containerd', () => {
  const cases: [string, string][] = [
    ['linux/amd64', 'linux/amd64'],
    ['Linux/x86_64', 'linux/amd64'],
    ['linux/amd64/v1', 'linux/amd64'],
    ['linux/amd64/v3', 'linux/amd64/v3'],
    ['linux/aarch64', 'linux/arm64'],
    ['linux/arm64/v8', 'linux/arm64'],
    ['linux/arm', 'linux/arm/v7'],
    ['linux/arm/6', 'linux/arm/v6'],
    ['linux/armhf', 'linux/arm/v7'],
    ['linux/armel', 'linux/arm/v6'],
    ['linux/i386', 'linux/386'],
    ['windows/amd64', 'windows/amd64'],
  ];
  for (const [i, o] of cases) assert.equal(formatPlatform(parsePlatform(i)), o, i);
  for (const b of ['linux', 'linux/', '/amd64', 'a/b/c/d', 'linux/am d64']) {
    assert.throws(
      () => parsePlatform(b),
      (e: unknown) => isOcifsError(e, 'ERR_OCIFS_INVALID_PLATFORM'),
      b,
    );
  }
});

test('hostPlatform maps Node arch names to OCI ones', () => {
  const p = hostPlatform();
  assert.equal(p.os, 'linux');
  const want =
    ({ x64: 'amd64', arm64: 'arm64', ia32: '386' } as Record<string, string>)[process.arch] ?? p.architecture;
  assert.equal(p.architecture, want);
  assert.deepEqual(normalizePlatform(p), p);
});

test('selectPlatform: exact first, compatible older variants next, attestations never', () => {
  const entries = [
    { id: 'att', platform: { os: 'unknown', architecture: 'unknown' } },
    { id: 'amd64', platform: { os: 'linux', architecture: 'amd64' } },
    { id: 'armv6', platform: { os: 'linux', architecture: 'arm', variant: 'v6' } },
    { id: 'armv7', platform: { os: 'linux', architecture: 'arm', variant: 'v7' } },
    { id: 'arm64v8', platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
    { id: 'noplat' },
  ];
  const pick = (p: string) => selectPlatform(entries, parsePlatform(p)).id;
  assert.equal(pick('linux/amd64'), 'amd64');
  assert.equal(pick('linux/amd64/v3'), 'amd64'); // v1 runs on a v3 machine
  assert.equal(pick('linux/arm64'), 'arm64v8'); // arm64 ≈ arm64/v8
  assert.equal(pick('linux/arm'), 'armv7');
  assert.equal(pick('linux/arm/v8'), 'armv7');
  assert.equal(
    selectPlatform(
      entries.filter((e) => e.id !== 'armv7'),
      parsePlatform('linux/arm/v7'),
    ).id,
    'armv6',
  );
  assert.throws(
    () => pick('linux/arm/v5'),
    (e: unknown) =>
      isOcifsError(e, 'ERR_OCIFS_PLATFORM_NOT_FOUND') &&
      /linux\/arm\/v5/.test((e as Error).message) &&
      JSON.stringify((e as unknown as { data: { available: string[] } }).data.available) ===
        JSON.stringify(['linux/amd64', 'linux/arm/v6', 'linux/arm/v7', 'linux/arm64']),
  );
  assert.equal(platformRank(parsePlatform('linux/arm64'), { os: 'linux', architecture: 'arm64', variant: 'v9' }), -1);
  assert.equal(platformRank(parsePlatform('linux/amd64'), { os: 'linux', architecture: 'amd64', variant: 'v2' }), -1);
});
