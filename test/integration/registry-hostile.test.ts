// The ocifs command against a registry that lies (test/helpers/hostile-registry.ts): redirect
// games (file://, loops, cloud metadata and other private addresses with and without
// --deny-private-redirects), wrong digests, a manifest that refers to itself, oversized
// manifests, forged Content-Range, short bodies and rate limits. Each ends with one clear line and
// the right exit code, and no more requests than the lie deserves.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startHostileRegistry, type HostileRegistry } from '../helpers/hostile-registry.js';
import { ocifs } from '../helpers/cli.js';
import {
  MT_INDEX,
  MT_LAYER_TAR,
  putJson,
  putImage,
  tagInLayout,
  writeImageLayout,
  type Descriptor,
} from '../helpers/oci-layout.js';
import { header } from '../unit/tar-test-helpers.js';

let tmp = '';
let layout = '';
let reg: HostileRegistry;
/** A second registry on another port (another origin) serving the same layout: redirect targets. */
let storage: HostileRegistry;
let layer: Descriptor;
let ref = '';
const content = Buffer.from('hello from a layer that a registry lies about\n'.repeat(200));

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'ocifs-hostile-'));
  layout = join(tmp, 'layout');
  const tar = Buffer.concat([
    header('hello.txt', { size: content.length }),
    content,
    Buffer.alloc((512 - (content.length % 512)) % 512),
    Buffer.alloc(1024),
  ]);
  const manifest = await writeImageLayout(layout, { layers: [{ bytes: tar, mediaType: MT_LAYER_TAR }] }, 'v1');
  // An index that lists a manifest the registry will answer with the index itself.
  const other = await putImage(layout, { layers: [{ bytes: tar, mediaType: MT_LAYER_TAR }], config: { Env: ['X=1'] } });
  const index = await putJson(
    layout,
    {
      schemaVersion: 2,
      mediaType: MT_INDEX,
      manifests: [{ ...other, platform: { os: 'linux', architecture: 'amd64' } }],
    },
    MT_INDEX,
  );
  await tagInLayout(layout, index, 'self');
  const m = JSON.parse(await readFile(join(layout, 'blobs', 'sha256', manifest.digest.slice(7)), 'utf8'));
  layer = m.layers[0];
  reg = await startHostileRegistry(layout);
  storage = await startHostileRegistry(layout);
  ref = `${reg.host}/hostile/app:v1`;
});

after(async () => {
  await reg?.stop();
  await storage?.stop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

/** Runs ocifs with a fresh cache; returns the result and the blob requests the registry saw. */
async function run(args: string[], rule?: Parameters<HostileRegistry['addRule']>[0]) {
  reg.clearRules();
  storage.clearRules();
  if (rule) reg.addRule(rule);
  reg.log.length = 0;
  storage.log.length = 0;
  const cache = await mkdtemp(join(tmp, 'cache-'));
  const r = await ocifs([...args, '--cache-dir', cache]);
  const lines = r.stderr.trim().split('\n');
  return {
    r,
    code: r.code,
    err: lines[lines.length - 1] ?? '',
    lines,
    blobRequests: reg.log.filter((e) => e.path.includes('/blobs/')).length,
  };
}

test('a redirect to file:// fails at once: not retried', async () => {
  const { code, err, lines, blobRequests } = await run(['blob', ref, '--layer', '0', '-o', join(tmp, 'out.bin')], {
    what: 'blob',
    lie: { kind: 'redirect', to: 'file:///etc/passwd' },
  });
  assert.equal(code, 1);
  assert.equal(lines.length, 1, lines.join('\n'));
  assert.match(err, /^ocifs: .*redirect to unsupported URL scheme file:/);
  assert.equal(blobRequests, 1, 'one request, no retries');
});

test('a redirect loop is not retried either', async () => {
  const loop = await run(['blob', ref, '--layer', '0', '-o', join(tmp, 'out.bin')], {
    what: 'blob',
    lie: { kind: 'redirect', to: 'self' },
  });
  assert.equal(loop.code, 1);
  assert.match(loop.err, /more than 10 redirects/);
  assert.equal(loop.blobRequests, 11, 'the first request and ten redirects, once');
});

test('--deny-private-redirects refuses redirects to metadata, loopback and private addresses; the same origin is fine', async () => {
  const targets = [
    `http://169.254.169.254/latest/meta-data/iam/security-credentials/`,
    'http://[fd00:ec2::254]/latest/meta-data/',
    'http://100.100.100.200/latest/meta-data/',
    'http://10.1.2.3/v2/',
    `${storage.url}/v2/hostile/app/blobs/${layer.digest}`,
    `http://localhost:${storage.url.split(':')[2]}/v2/hostile/app/blobs/${layer.digest}`,
  ];
  for (const to of targets) {
    const { code, err, lines, blobRequests } = await run(
      ['blob', ref, '--digest', layer.digest, '--deny-private-redirects'],
      { what: 'blob', lie: { kind: 'redirect', to } },
    );
    assert.equal(code, 1, `${to}: ${err}`);
    assert.equal(lines.length, 1, lines.join('\n'));
    assert.match(err, /refusing a redirect to .*a private or link-local address \(--deny-private-redirects\)/, to);
    assert.equal(blobRequests, 1, `${to}: not retried`);
    assert.equal(storage.log.length, 0, `${to}: nothing reached the target`);
  }
  // Without the flag the registry's redirect to its storage (another origin) is followed.
  const followed = await run(['blob', ref, '--digest', layer.digest], {
    what: 'blob',
    lie: { kind: 'redirect', to: targets[4] },
  });
  assert.equal(followed.code, 0, followed.err);
  assert.equal(followed.r.stdout.length, layer.size);
  assert.ok(storage.log.length >= 1);
  // A redirect within the registry's own origin is not a private redirect.
  const own = await run(['cat', ref, '/hello.txt', '--deny-private-redirects'], {
    what: 'blob',
    times: 1,
    lie: { kind: 'redirect', to: `${reg.url}/v2/other/name/blobs/${layer.digest}` },
  });
  assert.equal(own.code, 0, own.err);
  assert.equal(own.r.stdout.toString(), content.toString());
});

test('denyPrivateRedirects in the config file does the same', async () => {
  const config = join(tmp, 'config.json');
  await writeFile(config, JSON.stringify({ denyPrivateRedirects: true }));
  const { code, err } = await run(['blob', ref, '--digest', layer.digest, '--config', config], {
    what: 'blob',
    lie: { kind: 'redirect', to: 'http://169.254.169.254/' },
  });
  assert.equal(code, 1);
  assert.match(err, /--deny-private-redirects/);
  await writeFile(config, JSON.stringify({ denyPrivateRedirects: 'yes' }));
  const bad = await run(['blob', ref, '--digest', layer.digest, '--config', config]);
  assert.equal(bad.code, 1);
  assert.match(bad.err, /denyPrivateRedirects: expected true or false/);
});

test('lies about content end with a clear error: wrong digest, self-referring manifest, oversized manifest, forged range, short body', async () => {
  const corrupt = await run(['prefetch', ref], { what: 'blob', reference: layer.digest, lie: { kind: 'corrupt' } });
  assert.equal(corrupt.code, 1);
  assert.match(corrupt.err, /digest mismatch|does not match/i);

  // The index lists a manifest; asked for it by digest, the registry answers with the index.
  const self = await run(['ls', `${reg.host}/hostile/app:self`, '/'], {
    what: 'manifest',
    reference: (await indexChild()).digest,
    lie: { kind: 'serve-as', digest: await tagDigest('self') },
  });
  assert.equal(self.code, 1);
  assert.match(self.err, /digest|mismatch/i);

  const big = await run(['ls', ref, '/'], {
    what: 'manifest',
    lie: { kind: 'oversized-manifest', size: 5 * 1024 * 1024 },
  });
  assert.equal(big.code, 1);
  assert.match(big.err, /manifest.*(larger|too large|exceeds|4 MiB)/i);

  const range = await run(['cat', ref, '/hello.txt'], {
    what: 'blob',
    ranged: true,
    lie: { kind: 'content-range', shift: 7 },
  });
  assert.equal(range.code, 1);
  assert.match(range.err, /Content-Range/i);

  const short = await run(['blob', ref, '--digest', layer.digest], {
    what: 'blob',
    lie: { kind: 'short-body', after: 100 },
  });
  assert.equal(short.code, 1);
  assert.match(short.err, /ended|short|closed/i);
  assert.equal(short.blobRequests, 5, 'retried four times, then given up');
});

test('a rate limit with Retry-After is waited out and then served', async () => {
  const { code, r, blobRequests } = await run(['blob', ref, '--digest', layer.digest], {
    what: 'blob',
    times: 1,
    lie: { kind: 'status', status: 429, retryAfter: '1' },
  });
  assert.equal(code, 0, r.stderr);
  assert.equal(r.stdout.length, layer.size);
  assert.equal(blobRequests, 2);
});

async function tagDigest(tag: string): Promise<string> {
  const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8')) as { manifests: Descriptor[] };
  return index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === tag)!.digest;
}

async function indexChild(): Promise<Descriptor> {
  const d = await tagDigest('self');
  const idx = JSON.parse(await readFile(join(layout, 'blobs', 'sha256', d.slice(7)), 'utf8')) as {
    manifests: Descriptor[];
  };
  return idx.manifests[0];
}
