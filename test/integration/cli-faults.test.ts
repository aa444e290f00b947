// The ocifs command against a registry that misbehaves (through the fault proxy): every case
// ends in the right bytes or a clear error, never wrong bytes; kill -9 at random moments loses
// work but never corrupts the cache; two processes reading the same cold blob both get it right.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRegistry, skopeoPush, type TestRegistry } from '../helpers/registry.js';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { writeImageLayout, MT_LAYER_EROFS } from '../helpers/oci-layout.js';
import { assertSameManifest, makeTree, treeManifest } from '../helpers/fs-manifest.js';
import { runOk } from '../helpers/run.js';
import { ocifs, ocifsOk, statsOf, OCIFS_BIN } from '../helpers/cli.js';

let tmp = '';
let reg: TestRegistry;
let proxy: FaultProxy;
let tree = '';
let image: Buffer;
let digest = '';
let ref = '';
let n = 0;
const freshEnv = () => ({ OCIFS_CACHE_DIR: join(tmp, `cache-${n++}`) });
const BLOB_PATH = /\/blobs\/sha256:/;

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'ocifs-faults-'));
  reg = await startRegistry();
  tree = join(tmp, 'tree');
  await makeTree(tree, 6);
  const file = join(tmp, 'img.erofs');
  await runOk('mkfs.erofs', ['--quiet', '-zlz4hc', file, tree]);
  image = await readFile(file);
  digest = 'sha256:' + createHash('sha256').update(image).digest('hex');
  await writeImageLayout(join(tmp, 'layout'), { layers: [{ bytes: image, mediaType: MT_LAYER_EROFS }] }, 'v1');
  await skopeoPush(join(tmp, 'layout'), 'v1', `${reg.host}/faults/img:v1`);
  proxy = await startFaultProxy(reg.url);
  ref = `${proxy.host}/faults/img:v1`;
});

after(async () => {
  await proxy?.stop();
  await reg?.stop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

const layerDigest = () => digest;

test('a registry that ignores Range: right bytes, the whole blob streamed once and kept', async () => {
  proxy.clearRules();
  proxy.addRule({ path: BLOB_PATH, ranged: true, fault: { kind: 'ignore-range' } });
  const env = freshEnv();
  const r = await ocifsOk(['cat', ref, '/etc/os-release', '/big/text-2M.txt', '--stats'], { env });
  const want = Buffer.concat([
    await readFile(join(tree, 'etc/os-release')),
    await readFile(join(tree, 'big/text-2M.txt')),
  ]);
  assert.ok(r.stdout.equals(want));
  const fetched = statsOf(r).bytesFetched;
  assert.ok(fetched < image.byteLength * 1.2 + 16384, `fetched ${fetched} for a blob of ${image.byteLength}`);
  // The whole body went into the cache: another process reads other files without blob requests.
  const again = await ocifsOk(['cat', ref, '/big/random-1M.bin', '--stats'], { env });
  assert.ok(again.stdout.equals(await readFile(join(tree, 'big/random-1M.bin'))));
  assert.ok(statsOf(again).bytesFetched < 16384, `second run fetched ${statsOf(again).bytesFetched}`);
  proxy.clearRules();
});

for (const [status, retryAfter] of [
  [503, '1'],
  [429, '1'],
  [500, undefined],
  [502, undefined],
] as const) {
  test(`${status}${retryAfter ? ' with Retry-After' : ''} on blob requests: retried, right bytes`, async () => {
    proxy.clearRules();
    proxy.addRule({
      path: BLOB_PATH,
      fault: { kind: 'status', status, ...(retryAfter ? { retryAfter } : {}) },
      times: 2,
    });
    const r = await ocifsOk(['cat', ref, '/big/mixed-512K.bin', '--stats'], { env: freshEnv() });
    assert.ok(r.stdout.equals(await readFile(join(tree, 'big/mixed-512K.bin'))));
    assert.ok(statsOf(r).retries >= 2, JSON.stringify(statsOf(r)));
    proxy.clearRules();
  });
}

test('truncated bodies and connection resets: retried, right bytes', async () => {
  proxy.clearRules();
  proxy.addRule({ path: BLOB_PATH, ranged: true, fault: { kind: 'truncate', after: 1000 }, times: 2 });
  proxy.addRule({ path: BLOB_PATH, ranged: true, fault: { kind: 'reset' }, times: 1 });
  const r = await ocifsOk(['blob', ref, '--layer', '0', '--stats'], { env: freshEnv() });
  assert.ok(r.stdout.equals(image));
  assert.ok(statsOf(r).retries >= 3);
  proxy.clearRules();
});

test('a wrong Content-Range is refused, never served', async () => {
  proxy.clearRules();
  proxy.addRule({ path: BLOB_PATH, ranged: true, fault: { kind: 'shift-content-range', shift: 1 } });
  const r = await ocifs(['blob', ref, '--layer', '0', '--range', '0-4095'], { env: freshEnv() });
  assert.equal(r.code, 1);
  assert.equal(r.stdout.byteLength, 0);
  assert.match(r.stderr.trim(), /^ocifs: .*[Cc]ontent-[Rr]ange/);
  proxy.clearRules();
});

test('a flipped byte: the whole-blob digest check refuses the blob, and a clean retry verifies', async () => {
  proxy.clearRules();
  proxy.addRule({ path: BLOB_PATH, ranged: true, fault: { kind: 'flip', at: 100 }, times: 1 });
  const env = freshEnv();
  const r = await ocifs(['prefetch', ref], { env });
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr.trim(), /^ocifs: .*digest mismatch/);
  const ls = JSON.parse((await ocifsOk(['cache', 'ls', '--json'], { env })).stdout.toString()) as {
    digest: string;
    verified: boolean;
  }[];
  assert.ok(!ls.some((e) => e.digest === layerDigest() && e.verified), JSON.stringify(ls));
  proxy.clearRules();
  await ocifsOk(['prefetch', ref], { env });
  const ok = await ocifsOk(['blob', ref, '--layer', '0'], { env });
  assert.ok(ok.stdout.equals(image));
});

test('--verify-first: a flipped byte never reaches the reader', async () => {
  proxy.clearRules();
  proxy.addRule({ path: BLOB_PATH, ranged: true, fault: { kind: 'flip', at: 10 }, times: 1 });
  const r = await ocifs(['blob', ref, '--layer', '0', '--range', '0-4095', '--verify-first'], { env: freshEnv() });
  proxy.clearRules();
  // Either the blob was refused, or (after a clean refetch) the bytes are right: never wrong bytes.
  if (r.code === 0) assert.ok(r.stdout.equals(image.subarray(0, 4096)));
  else {
    assert.equal(r.stdout.byteLength, 0);
    assert.match(r.stderr, /digest mismatch/);
  }
});

test('kill -9 of a prefetch at 10 random moments, then a rerun completes and verifies', async () => {
  proxy.clearRules();
  // Small chunks (many marks, many flushes) so that kills land mid-download.
  const env = freshEnv();
  for (let i = 0; i < 10; i++) {
    const child = spawn(process.execPath, [OCIFS_BIN, 'prefetch', ref, '--chunk-size', '16K'], {
      env: { ...process.env, ...env },
      stdio: 'ignore',
    });
    // Listen before killing: a prefetch may finish before its kill (then 'close' has passed).
    const closed = new Promise((r) => child.once('close', r));
    await new Promise((r) => setTimeout(r, 60 + Math.floor(Math.random() * 600)));
    child.kill('SIGKILL');
    await closed;
  }
  await ocifsOk(['prefetch', ref], { env });
  const verify = await ocifsOk(['cache', 'verify', layerDigest()], { env });
  assert.match(verify.stdout.toString(), /verified/);
  const r = await ocifsOk(['blob', ref, '--layer', '0'], { env });
  assert.ok(r.stdout.equals(image));
});

test('two processes reading the same cold blob at once both get the right bytes', async () => {
  proxy.clearRules();
  const env = freshEnv();
  const [a, b] = await Promise.all([
    ocifsOk(['blob', ref, '--layer', '0', '--stats'], { env }),
    ocifsOk(['blob', ref, '--layer', '0', '--stats'], { env }),
  ]);
  assert.ok(a.stdout.equals(image));
  assert.ok(b.stdout.equals(image));
  const total = statsOf(a).bytesFetched + statsOf(b).bytesFetched;
  assert.ok(total < image.byteLength * 2 + 65536, `fetched ${total} for ${image.byteLength}`);
});

// A whole-tree extract reads the layer while it streams into the cache, before the cache can
// check the layer's digest (it needs all of it). The layer here is an uncompressed EROFS image
// with 16 MiB of padding behind it that no file uses, and the stream slows down in the padding:
// the extraction has read every file by then. It must still end by checking the digest, and fail.
for (const where of ['inside a file the extraction writes', 'where no file lies'] as const) {
  test(`a cold whole-tree extract whose layer stream has a flipped byte ${where}: exit 1 naming DEST, never a silent tree`, async () => {
    proxy.clearRules();
    const padded = await paddedLayer();
    const at = where === 'where no file lies' ? 10 : padded.fileDataAt + 100;
    proxy.addRule({
      path: new RegExp(padded.digest.slice('sha256:'.length)),
      times: 1,
      fault: { kind: 'flip', at, pause: { at: padded.bytes - (8 << 20), ms: 1500 } },
    });
    const env = freshEnv();
    const dest = join(tmp, `flipped-${n}`);
    const r = await ocifs(['extract', '-q', padded.ref, dest], { env });
    assert.ok(
      proxy.log.some((l) => l.fault === 'flip'),
      'the stream carried the flipped byte',
    );
    proxy.clearRules();
    assert.equal(r.code, 1, `exit ${r.code}: ${r.stderr}`);
    assert.match(
      r.stderr.trim(),
      new RegExp(
        `^ocifs: .*digest mismatch.*files extracted to ${dest.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} may hold wrong bytes`,
      ),
    );
    const ls = JSON.parse((await ocifsOk(['cache', 'ls', '--json'], { env })).stdout.toString()) as {
      digest: string;
      verified: boolean;
    }[];
    assert.ok(!ls.some((e) => e.digest === padded.digest && e.verified), JSON.stringify(ls));
    // Without the fault the same command reproduces the tree.
    const dest2 = join(tmp, `clean-${n}`);
    await ocifsOk(['extract', '-q', padded.ref, dest2], { env });
    assertSameManifest(await treeManifest(dest2), await treeManifest(tree), 'extract after the fault');
  });
}

let padded: Promise<{ ref: string; digest: string; bytes: number; fileDataAt: number }> | undefined;
/** The uncompressed EROFS image of `tree` plus 16 MiB of zeros, pushed once; where a file's data lies in it. */
function paddedLayer(): Promise<{ ref: string; digest: string; bytes: number; fileDataAt: number }> {
  padded ??= (async () => {
    const file = join(tmp, 'plain.erofs');
    await runOk('mkfs.erofs', ['--quiet', file, tree]);
    const bytes = Buffer.concat([await readFile(file), Buffer.alloc(16 << 20)]);
    const fileDataAt = bytes.indexOf((await readFile(join(tree, 'big/random-1M.bin'))).subarray(0, 4096));
    assert.ok(fileDataAt > 0, 'the file lies in the image as it is');
    await writeImageLayout(join(tmp, 'padded-layout'), { layers: [{ bytes, mediaType: MT_LAYER_EROFS }] }, 'v1');
    await skopeoPush(join(tmp, 'padded-layout'), 'v1', `${reg.host}/faults/padded:v1`);
    return {
      ref: `${proxy.host}/faults/padded:v1`,
      digest: 'sha256:' + createHash('sha256').update(bytes).digest('hex'),
      bytes: bytes.byteLength,
      fileDataAt,
    };
  })();
  return padded;
}
