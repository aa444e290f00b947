// `ocifs mount` by a user who is not root, as most users run it: FUSE through the setuid
// `fusermount` (libfuse), the mount owned by that user, readable by that user, listed and
// unmounted by that user. Runs as `nobody` through setpriv, so it needs root to start; it is
// skipped (saying why) where that or the tools are missing.
//
// /dev/fuse is 0666 on Debian (udev's rule); this VM's devtmpfs leaves it 0600, which only root
// can open (fusermount opens it as the calling user). The test sets 0666 and restores the mode.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, chownSync, constants, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { readFile } from 'node:fs/promises';
import { assertSameManifest, fixtureToolArgs } from '../helpers/fs-manifest.js';
import { fixturePath, seed1Manifest } from '../unit/erofs-helpers.js';
import { OCIFS_BIN } from '../helpers/cli.js';
import { FUSE_CONF, allowsUserAllowOther } from '../../src/mount/fuse-conf.js';
import { cleanupTempDir, isMounted, mountTempDir, runChild, type ChildResult } from '../helpers/mount-safety.js';

const NOBODY = 65534;
const root = mountTempDir('ocifs-mount-user-');
const home = join(root, 'home');
const mnt = join(root, 'mnt');
let devFuseMode: number | undefined;
let why: string | undefined;

/** Runs a command as nobody, with nobody's own HOME, cache and state directories. */
function asNobody(cmd: string, args: string[]): Promise<ChildResult> {
  const env = [
    `HOME=${home}`,
    `OCIFS_CACHE_DIR=${join(home, 'cache')}`,
    `OCIFS_STATE_DIR=${join(home, 'state')}`,
    `PATH=${process.env.PATH ?? '/usr/bin:/bin'}`,
  ];
  return runChild(
    'setpriv',
    [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', 'env', '-i', ...env, cmd, ...args],
    { cwd: root, timeoutMs: 60_000 },
  );
}

before(async () => {
  if (process.getuid?.() !== 0) return void (why = 'needs root to run a command as nobody');
  for (const tool of ['setpriv', 'fusermount']) {
    if ((await runChild('sh', ['-c', `command -v ${tool}`])).code !== 0) return void (why = `${tool} is not installed`);
  }
  chmodSync(root, 0o755);
  mkdirSync(home, { mode: 0o700 });
  mkdirSync(mnt);
  chownSync(home, NOBODY, NOBODY);
  chownSync(mnt, NOBODY, NOBODY);
  await runChild('cp', [fixturePath('plain-512b'), join(root, 'image.erofs')]);
  chmodSync(join(root, 'image.erofs'), 0o644);
  // The checkout must be readable by nobody (it is not under a 0700 home directory, say).
  const probe = await asNobody(process.execPath, fixtureToolArgs('tree-manifest.ts', [home]));
  if (probe.code !== 0 || (await asNobody('test', ['-r', OCIFS_BIN])).code !== 0)
    return void (why = `nobody cannot read ${OCIFS_BIN} or run the fixture tools: ${probe.stderr.trim()}`);
  devFuseMode = statSync('/dev/fuse').mode & 0o777;
  chmodSync('/dev/fuse', devFuseMode | 0o666);
});

after(() => {
  if (devFuseMode !== undefined) chmodSync('/dev/fuse', devFuseMode);
  assert.deepEqual(cleanupTempDir(root), []);
});

test('a user who is not root mounts an image through fusermount, reads it, lists it and unmounts it', async (t) => {
  if (why) return t.skip(why);
  const expected = seed1Manifest();
  const m = await asNobody(process.execPath, [OCIFS_BIN, 'mount', './image.erofs', mnt]);
  assert.equal(m.code, 0, m.stderr);
  try {
    assert.match(m.stderr, /^mounted \.\/image\.erofs on .* \(file tree, server pid \d+\)\n$/);
    const info = (await readFile('/proc/self/mountinfo', 'utf8')).split('\n').find((l) => l.split(' ')[4] === mnt);
    assert.ok(info, 'the mount is in mountinfo');
    assert.match(info, / fuse\.ocifs /);
    assert.match(info, new RegExp(`user_id=${NOBODY}`));
    // A FUSE mount without allow_other is for its owner alone: read it as nobody.
    const manifest = await asNobody(process.execPath, fixtureToolArgs('tree-manifest.ts', [mnt]));
    assert.equal(manifest.code, 0, manifest.stderr);
    assertSameManifest(manifest.stdout.toString('utf8').trimEnd().split('\n'), expected);
    const list = await asNobody(process.execPath, [OCIFS_BIN, 'mounts', '--json']);
    assert.equal(list.code, 0, list.stderr);
    assert.deepEqual(
      (JSON.parse(list.stdout.toString('utf8')) as Array<{ mountpoint: string; mode: string }>).map((r) => [
        r.mountpoint,
        r.mode,
      ]),
      [[mnt, 'tree']],
    );
  } finally {
    const u = await asNobody(process.execPath, [OCIFS_BIN, 'umount', mnt]);
    assert.equal(u.code, 0, u.stderr);
  }
  assert.equal(isMounted(mnt), false);
  // Its cache and state are the user's own, private.
  assert.equal(statSync(join(home, 'state')).uid, NOBODY);
  assert.equal(statSync(join(home, 'state')).mode & constants.S_IRWXO, 0);
});

test('--allow-other without user_allow_other in /etc/fuse.conf names the cause and the fix', async (t) => {
  if (why) return t.skip(why);
  if (allowsUserAllowOther(await readFile(FUSE_CONF, 'utf8').catch(() => '')))
    return t.skip(`${FUSE_CONF} has user_allow_other on this machine`);
  const m = await asNobody(process.execPath, [OCIFS_BIN, 'mount', '--allow-other', './image.erofs', mnt]);
  assert.equal(m.code, 1, m.stderr);
  const lines = m.stderr.trim().split('\n');
  assert.equal(lines.length, 1, m.stderr);
  assert.match(
    lines[0],
    /^ocifs: .*mount failed: --allow-other needs "user_allow_other" in \/etc\/fuse\.conf .*add that line as root, or mount without --allow-other/,
  );
  assert.equal(isMounted(mnt), false);
});
