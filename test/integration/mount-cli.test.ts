// `ocifs mount / umount / mounts` as a user runs them: real processes, a local EROFS image
// given by a relative path, the background server, --foreground with Ctrl-C, and one-line
// errors for bad input.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { assertSameManifest, treeManifest } from '../helpers/fs-manifest.js';
import { fixturePath, seed1Manifest } from '../unit/erofs-helpers.js';
import { cleanupTempDir, isMounted, mountsLeftUnder, mountTempDir, runChild } from '../helpers/mount-safety.js';

const root = mountTempDir();
const stateDir = join(root, 'state');
const cli = new URL('../helpers/mount-cli.ts', import.meta.url).pathname;
// Absolute, so that the CLI runs from any directory (the tests run it from the temp dir).
const tsx = import.meta.resolve('tsx');
const env = { ...process.env, OCIFS_STATE_DIR: stateDir, OCIFS_CACHE_DIR: join(root, 'cache') };
let expected: string[];

function ocifs(args: string[], cwd = root) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', tsx, cli, ...args], {
      cwd,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

before(async () => {
  expected = seed1Manifest();
  await runChild('cp', [fixturePath('plain-512b'), join(root, 'image.erofs')]);
});

after(async () => {
  await ocifs(['mounts']); // clears anything whose server died
  assert.deepEqual(mountsLeftUnder(root), []);
  cleanupTempDir(root);
});

describe('ocifs mount / mounts / umount', () => {
  for (const kernel of [false, true]) {
    test(`mount ${kernel ? '--kernel ' : ''}./image.erofs, list it, read it, umount it`, async () => {
      const mnt = join(root, kernel ? 'k' : 't');
      await mkdir(mnt);
      const m = await ocifs(['mount', './image.erofs', mnt, ...(kernel ? ['--kernel'] : [])]);
      assert.equal(m.code, 0, m.stderr);
      try {
        assert.match(
          m.stderr,
          new RegExp(
            `^mounted \\./image\\.erofs on ${mnt} \\(${kernel ? 'kernel EROFS mount' : 'file tree'}, server pid \\d+\\)\\n$`,
          ),
        );
        assertSameManifest(await treeManifest(mnt), expected);

        const list = await ocifs(['mounts']);
        assert.equal(list.code, 0);
        const lines = list.stdout.trim().split('\n');
        assert.match(lines[0], /^MOUNTPOINT\s+MODE\s+PID\s+FETCHED\s+SERVED\s+PREFETCH\s+STARTED\s+IMAGE\s+DIGEST$/);
        assert.equal(lines.length, 2);
        assert.ok(lines[1].startsWith(mnt + ' '));
        assert.match(lines[1], new RegExp(`\\s${kernel ? 'kernel' : 'tree'}\\s+\\d+\\s`));
        const json = JSON.parse((await ocifs(['mounts', '--json'])).stdout) as Array<{
          mountpoint: string;
          mode: string;
          pid: number;
        }>;
        assert.deepEqual(
          json.map((r) => [r.mountpoint, r.mode]),
          [[mnt, kernel ? 'kernel' : 'tree']],
        );
      } finally {
        const u = await ocifs(['umount', mnt]);
        assert.equal(u.code, 0, u.stderr);
      }
      assert.equal(isMounted(mnt), false);
      assert.equal((await ocifs(['mounts', '--json'])).stdout.trim(), '[]');
      const again = await ocifs(['umount', mnt]);
      assert.equal(again.code, 1);
      assert.equal(again.stderr, `ocifs: ${mnt}: not mounted\n`);
    });
  }

  test('--foreground serves until SIGINT, then unmounts and exits 0', async () => {
    const mnt = join(root, 'fg');
    await mkdir(mnt);
    const child = spawn(
      process.execPath,
      ['--import', tsx, cli, 'mount', '--foreground', join(root, 'image.erofs'), mnt],
      { env, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    try {
      for (let i = 0; i < 600 && !stderr.includes('mounted'); i++) await sleep(50);
      assert.match(stderr, /^mounted .* Ctrl-C unmounts\n$/);
      assertSameManifest(await treeManifest(mnt), expected);
      child.kill('SIGINT');
      assert.equal(await exited, 0);
      assert.equal(isMounted(mnt), false);
    } finally {
      child.kill('SIGKILL');
    }
  });

  test('bad input: one line on stderr, exit 1, nothing mounted', async () => {
    const missing = await ocifs(['mount', './image.erofs', join(root, 'missing')]);
    assert.equal(missing.code, 1);
    assert.equal(missing.stderr, `ocifs: ${join(root, 'missing')}: mountpoint does not exist\n`);
    const full = join(root, 'full');
    await mkdir(full);
    await writeFile(join(full, 'x'), 'x');
    const busy = await ocifs(['mount', './image.erofs', full]);
    assert.equal(busy.code, 1);
    assert.equal(busy.stderr, `ocifs: ${full}: mountpoint is busy (the directory is not empty)\n`);
    const notErofs = join(root, 'not-erofs');
    await mkdir(notErofs);
    await writeFile(join(root, 'zeros.img'), new Uint8Array(8192));
    const ne = await ocifs(['mount', '--kernel', './zeros.img', notErofs]);
    assert.equal(ne.code, 1);
    assert.equal(
      ne.stderr,
      `ocifs: ${notErofs}: the image layer is not an EROFS filesystem, the kernel mode cannot mount it\n`,
    );
    assert.deepEqual(mountsLeftUnder(root), []);
  });
});
