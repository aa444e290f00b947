// A registry that lies about a layer's bytes (the real distribution registry behind a proxy that
// substitutes a forged blob of the same length: a tar whose header renames bin/tool to bin/evil
// and makes it -rwsrwxrwx root, and whose etc/motd says something else) must not poison the
// cache for anyone: not the same registry's honest answers after the lie was caught (the tar
// index built from the forged headers dies with the forged bytes), not another registry's image
// with the same layer digest (unverified chunks and indexes stay with the origin that fetched
// them), not `--verify-first`, not `cache verify`. The layer is a plain tar written by GNU tar.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, readFile, rm, writeFile, chmod, readdir, lstat } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRegistry, pushBlob, pushManifest, type TestRegistry } from '../helpers/registry.js';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { MT_CONFIG, MT_LAYER_TAR, MT_MANIFEST, sha256 } from '../helpers/oci-layout.js';
import { runOk } from '../helpers/run.js';
import { ocifs, ocifsOk, statsOf } from '../helpers/cli.js';

let tmp = '';
let reg: TestRegistry;
let liar: FaultProxy; // lies about the layer until its rules are cleared
let second: FaultProxy; // another origin in front of the same (honest) registry
let honest: Buffer;
let forged: Buffer;
let layerDigest = '';
const MOTD = 'welcome to the honest image\n';
const env = (cache: string) => ({ OCIFS_CACHE_DIR: cache, PATH: process.env.PATH });

/** Offset of the ustar header whose name field is `name`. */
function headerAt(tar: Buffer, name: string): number {
  for (let off = 0; off + 512 <= tar.length; off += 512) {
    if (
      tar
        .subarray(off, off + 100)
        .toString('latin1')
        .replace(/\0.*$/s, '') === name &&
      tar.toString('latin1', off + 257, off + 262) === 'ustar'
    )
      return off;
  }
  throw new Error(`no header for ${name}`);
}

/** Rewrites a header field and its checksum (as a hostile producer would). */
function setField(tar: Buffer, off: number, at: number, len: number, value: string): void {
  tar.fill(0, off + at, off + at + len);
  tar.write(value, off + at, len, 'latin1');
  tar.fill(0x20, off + 148, off + 156);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += tar[off + i];
  tar.write(sum.toString(8).padStart(6, '0') + '\0 ', off + 148, 'latin1');
}

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'ocifs-poison-'));
  const tree = join(tmp, 'tree');
  await mkdir(join(tree, 'bin'), { recursive: true });
  await mkdir(join(tree, 'etc'));
  await mkdir(join(tree, 'z'));
  await writeFile(join(tree, 'bin/tool'), '#!/bin/sh\necho honest tool\n');
  await chmod(join(tree, 'bin/tool'), 0o755);
  await writeFile(join(tree, 'etc/motd'), MOTD);
  // Big enough that listing leaves the blob partial (its data is skipped, not read).
  await writeFile(join(tree, 'z/big.bin'), randomBytes(6 * 1024 * 1024));
  await runOk('tar', [
    '-C',
    tree,
    '--sort=name',
    '--owner=1000',
    '--group=1000',
    '--numeric-owner',
    '--format=ustar',
    '-cf',
    join(tmp, 'layer.tar'),
    'bin',
    'etc',
    'z',
  ]);
  honest = await readFile(join(tmp, 'layer.tar'));
  forged = Buffer.from(honest);
  const h = headerAt(forged, 'bin/tool');
  setField(forged, h, 0, 100, 'bin/evil');
  setField(forged, h, 100, 8, '0004777\0');
  setField(forged, h, 108, 8, '0000000\0');
  setField(forged, h, 116, 8, '0000000\0');
  const m = headerAt(forged, 'etc/motd') + 512;
  forged.write('welcome to the FORGED image\n', m, 'latin1');
  assert.equal(forged.length, honest.length);

  reg = await startRegistry();
  layerDigest = sha256(honest);
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: {},
      rootfs: { type: 'layers', diff_ids: [layerDigest] },
    }),
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MT_MANIFEST,
      config: { mediaType: MT_CONFIG, digest: sha256(config), size: config.length },
      layers: [{ mediaType: MT_LAYER_TAR, digest: layerDigest, size: honest.length }],
    }),
  );
  await pushBlob(reg.url, 'app', honest, layerDigest);
  await pushBlob(reg.url, 'app', config, sha256(config));
  await pushManifest(reg.url, 'app', 'v1', manifest, MT_MANIFEST);
  liar = await startFaultProxy(reg.url);
  second = await startFaultProxy(reg.url);
});

after(async () => {
  await liar?.stop();
  await second?.stop();
  await reg?.stop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

function lie(): void {
  liar.clearRules();
  liar.addRule({
    method: 'GET',
    path: new RegExp(`/blobs/${layerDigest}$`),
    fault: { kind: 'substitute', body: forged },
  });
}

async function listing(ref: string, cache: string): Promise<string> {
  return (await ocifsOk(['ls', '-l', ref, '/bin'], { env: env(cache) })).stdout.toString();
}

/** Asserts DEST holds the honest tree: bin/tool 0755 owned by 1000, no bin/evil, the honest motd. */
async function assertHonestTree(dest: string): Promise<void> {
  assert.deepEqual((await readdir(join(dest, 'bin'))).sort(), ['tool']);
  const st = await lstat(join(dest, 'bin/tool'));
  assert.equal(st.mode & 0o7777, 0o755);
  if (process.getuid?.() === 0) assert.equal(st.uid, 1000);
  assert.equal(await readFile(join(dest, 'etc/motd'), 'utf8'), MOTD);
}

test('a tar index built from a lying registry is discarded with its bytes: the re-fetched honest blob lists and extracts bin/tool, never a setuid bin/evil', async () => {
  const cache = join(tmp, 'cache-same-origin');
  const ref = `${liar.host}/app:v1`;
  lie();
  assert.match(
    await listing(ref, cache),
    /-rwsrwxrwx .* evil/,
    'the forged headers were listed (the lie reached the cache)',
  );
  const caught = await ocifs(['prefetch', ref], { env: env(cache) });
  assert.equal(caught.code, 1, caught.stderr);
  assert.match(caught.stderr, /digest/i);
  liar.clearRules(); // the same registry now answers honestly
  const dest = join(tmp, 'dest-same-origin');
  await ocifsOk(['extract', '--verify-first', ref, dest], { env: env(cache) });
  await assertHonestTree(dest);
  assert.match(await listing(ref, cache), /-rwxr-xr-x .* tool\n/);
  assert.doesNotMatch(await listing(ref, cache), /evil/);
  const verify = await ocifsOk(['cache', 'verify'], { env: env(cache) });
  assert.match(verify.stdout.toString(), new RegExp(`${layerDigest}\\s+verified`));
});

test('--verify-first never uses an index or chunks from unverified bytes left by an earlier run: it catches them, and the next run is honest', async () => {
  const cache = join(tmp, 'cache-verify-first');
  const ref = `${liar.host}/app:v1`;
  lie();
  assert.match(await listing(ref, cache), /evil/);
  liar.clearRules();
  // The forged chunks (the headers) are still in the partial instance: --verify-first
  // completes the blob, catches the mismatch and discards it (with the index) before a byte
  // or an entry of it is used.
  const first = await ocifs(['extract', '--verify-first', ref, join(tmp, 'dest-vf-1')], { env: env(cache) });
  assert.equal(first.code, 1, first.stderr);
  assert.match(first.stderr, /digest mismatch/);
  await assert.rejects(lstat(join(tmp, 'dest-vf-1', 'bin/evil')));
  const dest = join(tmp, 'dest-vf-2');
  await ocifsOk(['extract', '--verify-first', ref, dest], { env: env(cache) });
  await assertHonestTree(dest);
});

test("another registry's image with the same layer digest is never served the liar's unverified chunks or index", async () => {
  const cache = join(tmp, 'cache-two-origins');
  lie();
  const lying = `${liar.host}/app:v1`;
  const other = `${second.host}/app:v1`;
  assert.match(await listing(lying, cache), /evil/);
  assert.equal(
    (await ocifsOk(['cat', lying, '/etc/motd'], { env: env(cache) })).stdout.toString(),
    'welcome to the FORGED image\n',
  );
  // Same digest through another origin: its own bytes, partial reads included.
  assert.match(await listing(other, cache), /-rwxr-xr-x .* tool\n/);
  assert.doesNotMatch(await listing(other, cache), /evil/);
  assert.equal((await ocifsOk(['cat', other, '/etc/motd'], { env: env(cache) })).stdout.toString(), MOTD);
  const dest = join(tmp, 'dest-two-origins');
  const extracted = await ocifsOk(['extract', '--stats', other, dest], { env: env(cache) });
  await assertHonestTree(dest);
  // Verifying the blob compared the liar's partial copy with it: reported, and dropped.
  assert.equal(statsOf(extracted).originMismatches, 1);
  // Verified now through the honest origin: shared by every origin, the liar's included
  // (its partial copy, which differed, was dropped).
  const seen = second.log.length;
  assert.match(await listing(lying, cache), /-rwxr-xr-x .* tool\n/);
  assert.equal((await ocifsOk(['cat', lying, '/etc/motd'], { env: env(cache) })).stdout.toString(), MOTD);
  assert.equal(second.log.length, seen);
  const entries = JSON.parse((await ocifsOk(['cache', 'ls', '--json'], { env: env(cache) })).stdout.toString()) as {
    digest: string;
    verified: boolean;
  }[];
  assert.deepEqual(
    entries.filter((e) => e.digest === layerDigest).map((e) => e.verified),
    [true],
  );
});
