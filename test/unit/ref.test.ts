// Image references and digests: a table of real-world cases, normalised the way docker
// (distribution/reference) does, including the ones erofs-utils' OCI parser gets wrong.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  parseReference,
  parseDigest,
  digestOf,
  verifyDigest,
  isLoopbackRegistry,
  canonicalRegistry,
  withDigest,
} from '../../src/ref/index.js';
import { isDigest, newHash, digestBytes } from '../../src/ref/digest.js';
import { isOcifsError } from '../../src/errors.js';

const H = 'sha256:' + 'a'.repeat(64);
const H512 = 'sha512:' + 'b'.repeat(128);

// input → [registry, apiHost, repository, tag, digest, canonical]
const good: [string, string, string, string, string | undefined, string | undefined, string][] = [
  [
    'alpine',
    'docker.io',
    'registry-1.docker.io',
    'library/alpine',
    'latest',
    undefined,
    'docker.io/library/alpine:latest',
  ],
  [
    'alpine:3.20',
    'docker.io',
    'registry-1.docker.io',
    'library/alpine',
    '3.20',
    undefined,
    'docker.io/library/alpine:3.20',
  ],
  [
    'library/alpine',
    'docker.io',
    'registry-1.docker.io',
    'library/alpine',
    'latest',
    undefined,
    'docker.io/library/alpine:latest',
  ],
  [
    'docker.io/alpine',
    'docker.io',
    'registry-1.docker.io',
    'library/alpine',
    'latest',
    undefined,
    'docker.io/library/alpine:latest',
  ],
  [
    'index.docker.io/library/alpine',
    'docker.io',
    'registry-1.docker.io',
    'library/alpine',
    'latest',
    undefined,
    'docker.io/library/alpine:latest',
  ],
  [
    'registry-1.docker.io/library/alpine',
    'docker.io',
    'registry-1.docker.io',
    'library/alpine',
    'latest',
    undefined,
    'docker.io/library/alpine:latest',
  ],
  [
    'bitnami/redis:7.2',
    'docker.io',
    'registry-1.docker.io',
    'bitnami/redis',
    '7.2',
    undefined,
    'docker.io/bitnami/redis:7.2',
  ],
  [
    'ghcr.io/owner/repo/sub:v1.0.0',
    'ghcr.io',
    'ghcr.io',
    'owner/repo/sub',
    'v1.0.0',
    undefined,
    'ghcr.io/owner/repo/sub:v1.0.0',
  ],
  [
    'quay.io/prometheus/node-exporter',
    'quay.io',
    'quay.io',
    'prometheus/node-exporter',
    'latest',
    undefined,
    'quay.io/prometheus/node-exporter:latest',
  ],
  [
    'public.ecr.aws/docker/library/busybox:stable-musl',
    'public.ecr.aws',
    'public.ecr.aws',
    'docker/library/busybox',
    'stable-musl',
    undefined,
    'public.ecr.aws/docker/library/busybox:stable-musl',
  ],
  [
    'gcr.io/distroless/static-debian12:nonroot',
    'gcr.io',
    'gcr.io',
    'distroless/static-debian12',
    'nonroot',
    undefined,
    'gcr.io/distroless/static-debian12:nonroot',
  ],
  [
    'mcr.microsoft.com/dotnet/runtime:8.0',
    'mcr.microsoft.com',
    'mcr.microsoft.com',
    'dotnet/runtime',
    '8.0',
    undefined,
    'mcr.microsoft.com/dotnet/runtime:8.0',
  ],
  // erofs-utils treats "localhost/x" as a Docker Hub path; docker treats localhost as a registry.
  ['localhost/x', 'localhost', 'localhost', 'x', 'latest', undefined, 'localhost/x:latest'],
  [
    'localhost:5000/team/app:dev',
    'localhost:5000',
    'localhost:5000',
    'team/app',
    'dev',
    undefined,
    'localhost:5000/team/app:dev',
  ],
  ['127.0.0.1:5000/x', '127.0.0.1:5000', '127.0.0.1:5000', 'x', 'latest', undefined, '127.0.0.1:5000/x:latest'],
  ['[::1]:5000/x', '[::1]:5000', '[::1]:5000', 'x', 'latest', undefined, '[::1]:5000/x:latest'],
  ['[2001:db8::1]/a/b:t', '[2001:db8::1]', '[2001:db8::1]', 'a/b', 't', undefined, '[2001:db8::1]/a/b:t'],
  [
    'Registry.Example.COM:443/x',
    'registry.example.com:443',
    'registry.example.com:443',
    'x',
    'latest',
    undefined,
    'registry.example.com:443/x:latest',
  ],
  // erofs-utils mis-splits "@sha256:" references at the ':' of the digest.
  [`alpine@${H}`, 'docker.io', 'registry-1.docker.io', 'library/alpine', undefined, H, `docker.io/library/alpine@${H}`],
  [
    `alpine:3.20@${H}`,
    'docker.io',
    'registry-1.docker.io',
    'library/alpine',
    '3.20',
    H,
    `docker.io/library/alpine:3.20@${H}`,
  ],
  [`localhost:5000/x@${H}`, 'localhost:5000', 'localhost:5000', 'x', undefined, H, `localhost:5000/x@${H}`],
  [`r.io/x:t@${H512}`, 'r.io', 'r.io', 'x', 't', H512, `r.io/x:t@${H512}`],
  // separators allowed by distribution's path grammar
  [
    'a__b/c.d/e-f/g---h:T_AG-1.x',
    'docker.io',
    'registry-1.docker.io',
    'a__b/c.d/e-f/g---h',
    'T_AG-1.x',
    undefined,
    'docker.io/a__b/c.d/e-f/g---h:T_AG-1.x',
  ],
  // "localhost:5000" alone is Docker Hub's library/localhost with tag 5000, as docker parses it
  [
    'localhost:5000',
    'docker.io',
    'registry-1.docker.io',
    'library/localhost',
    '5000',
    undefined,
    'docker.io/library/localhost:5000',
  ],
  // an uppercase first component is a host for distribution (hosts are case-insensitive)
  ['Foo/bar', 'foo', 'foo', 'bar', 'latest', undefined, 'foo/bar:latest'],
  [
    'x'.repeat(100) + ':' + 't'.repeat(128),
    'docker.io',
    'registry-1.docker.io',
    'library/' + 'x'.repeat(100),
    't'.repeat(128),
    undefined,
    'docker.io/library/' + 'x'.repeat(100) + ':' + 't'.repeat(128),
  ],
];

for (const [input, registry, apiHost, repository, tag, digest, canonical] of good) {
  test(`parseReference(${JSON.stringify(input.length > 60 ? input.slice(0, 60) + '…' : input)})`, () => {
    const r = parseReference(input);
    assert.equal(r.registry, registry);
    assert.equal(r.apiHost, apiHost);
    assert.equal(r.repository, repository);
    assert.equal(r.tag, tag);
    assert.equal(r.digest, digest);
    assert.equal(r.reference, digest ?? tag);
    assert.equal(r.canonical, canonical);
    assert.equal(r.input, input);
    // the canonical form parses back to itself (except for a registry that does not look like
    // one, such as "Foo", which docker itself cannot round-trip)
    if (/[.:]|^localhost/.test(registry)) assert.equal(parseReference(r.canonical).canonical, canonical);
  });
}

const bad: [string, RegExp][] = [
  ['', /empty/],
  ['Alpine', /lowercase/],
  ['docker.io/Library/alpine', /lowercase/],
  ['alpine:', /empty tag/],
  ['alpine:-x', /invalid tag/],
  ['alpine:' + 't'.repeat(129), /tag longer/],
  ['alpine@sha256:abc', /bad digest.*64 hex/],
  ['alpine@sha256:' + 'A'.repeat(64), /lowercase/],
  ['alpine@md5:' + 'a'.repeat(32), /unsupported algorithm md5/],
  ['alpine@', /bad digest/],
  ['a@' + H + '@' + H, /more than one/],
  ['https://ghcr.io/x', /URL scheme/],
  ['a'.repeat(64), /image ID/],
  ['a//b', /empty path component/],
  ['a/', /empty path component/],
  ['localhost:5000/', /no repository path/],
  ['-a', /invalid path component/],
  ['a_', /invalid path component/],
  ['a...b', /invalid path component/],
  ['r.io:99999/x', /out of range/],
  ['r.io:5x/x', /invalid port/],
  ['-r.io/x', /invalid registry host/],
  ['[::1', /needs a repository path/],
  ['[zz::1]:5000/x', /not an IPv6/],
  ['[::1]', /needs a repository path/],
  ['a b', /whitespace/],
  ['r.io/' + 'x'.repeat(251), /longer than 255/],
  [':tag', /no repository/],
];

for (const [input, why] of bad) {
  test(`parseReference rejects ${JSON.stringify(input.length > 40 ? input.slice(0, 40) + '…' : input)}`, () => {
    assert.throws(
      () => parseReference(input),
      (err: unknown) => isOcifsError(err, 'ERR_OCIFS_INVALID_REFERENCE') && why.test((err as Error).message),
    );
  });
}

test('loopback registries are recognised by name and address', () => {
  for (const h of ['localhost', 'localhost:5000', '127.0.0.1', '127.1.2.3:80', '[::1]:5000', '[::1]', 'a.localhost']) {
    assert.equal(isLoopbackRegistry(h), true, h);
  }
  for (const h of ['docker.io', '10.0.0.1:5000', '[2001:db8::1]:5000', 'localhost.example.com', '128.0.0.1']) {
    assert.equal(isLoopbackRegistry(h), false, h);
  }
  assert.equal(parseReference('[::1]:5000/x').loopback, true);
  assert.equal(parseReference('alpine').loopback, false);
});

test('Docker Hub aliases fold to docker.io', () => {
  assert.equal(canonicalRegistry('INDEX.docker.io'), 'docker.io');
  assert.equal(canonicalRegistry('registry-1.docker.io'), 'docker.io');
  assert.equal(canonicalRegistry('ghcr.io'), 'ghcr.io');
});

test('withDigest pins a reference and keeps its tag', () => {
  const r = withDigest(parseReference('alpine:3'), H);
  assert.equal(r.reference, H);
  assert.equal(r.canonical, `docker.io/library/alpine:3@${H}`);
});

test('parseDigest accepts sha256/sha512 and checks length and case', () => {
  assert.deepEqual(parseDigest(H), { algorithm: 'sha256', hex: 'a'.repeat(64), value: H });
  assert.equal(parseDigest(H512).algorithm, 'sha512');
  for (const [d, why] of [
    ['sha256:' + 'a'.repeat(63), /64 hex digits, got 63/],
    ['sha512:' + 'a'.repeat(64), /128 hex digits/],
    ['sha256:' + 'g'.repeat(64), /lowercase 0-9a-f/],
    ['sha256', /ALGORITHM:HEX/],
    ['SHA256:' + 'a'.repeat(64), /ALGORITHM:HEX/],
    ['blake3:' + 'a'.repeat(64), /unsupported algorithm/],
    ['sha256:' + 'a'.repeat(300), /longer than/],
  ] as const) {
    assert.throws(
      () => parseDigest(d),
      (e: unknown) => isOcifsError(e, 'ERR_OCIFS_INVALID_DIGEST') && why.test((e as Error).message),
      d,
    );
  }
});

test('digestOf/verifyDigest compute real hashes', () => {
  const bytes = new TextEncoder().encode('hello');
  assert.equal(digestOf(bytes), 'sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824');
  assert.equal(verifyDigest(bytes, digestOf(bytes, 'sha512')), true);
  assert.equal(verifyDigest(new Uint8Array([1]), digestOf(bytes)), false);
});

test('isDigest checks the digest, and its algorithm when one is named; newHash and digestBytes match it', () => {
  const sha256 = digestOf(new TextEncoder().encode('hello'));
  const sha512 = digestOf(new TextEncoder().encode('hello'), 'sha512');
  const inputs = [sha256, sha512, 'v1', sha256.toUpperCase(), `${sha256}0`];
  assert.deepEqual(
    inputs.map((d) => isDigest(d)),
    [true, true, false, false, false],
  );
  const of = (algorithm: 'sha256' | 'sha512') => [sha256, sha512].map((d) => isDigest(d, algorithm));
  assert.deepEqual(
    [of('sha256'), of('sha512')],
    [
      [true, false],
      [false, true],
    ],
  );
  const d = parseDigest(sha512);
  assert.equal(`sha512:${newHash(d).update('hello').digest('hex')}`, sha512);
  assert.equal(Buffer.from(digestBytes(d)).toString('hex'), d.hex);
});
