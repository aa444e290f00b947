// `ls --json`, `stat --json` and `ls -l` on a local tar file made by Python's tarfile with
// devices at the edges of Linux's numbers (a 20-bit minor and one past it, as a BSD or macOS
// tar can write): one JSON shape for both commands, and the device numbers the header holds.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runOk } from '../helpers/run.js';
import { ocifsOk } from '../helpers/cli.js';

let tmp = '';
let tar = '';

const MAKE_TAR = String.raw`
import sys, tarfile, io
with tarfile.open(sys.argv[1], 'w', format=tarfile.GNU_FORMAT) as t:
    def add(name, type, mode, **kw):
        i = tarfile.TarInfo(name); i.type = type; i.mode = mode; i.mtime = 1700000000; i.uid = 7; i.gid = 8
        data = kw.pop('data', None)
        for k, v in kw.items(): setattr(i, k, v)
        if data is not None: i.size = len(data)
        t.addfile(i, io.BytesIO(data) if data is not None else None)
    add('dev', tarfile.DIRTYPE, 0o755)
    add('dev/null', tarfile.CHRTYPE, 0o666, devmajor=1, devminor=3)
    add('dev/edge', tarfile.BLKTYPE, 0o600, devmajor=4095, devminor=(1 << 20) - 1)
    add('dev/wide', tarfile.CHRTYPE, 0o600, devmajor=0, devminor=1 << 20)
    add('dev/bsd', tarfile.CHRTYPE, 0o600, devmajor=21, devminor=0xffffff)
    add('suid', tarfile.REGTYPE, 0o4755, data=b'hello\n')
    add('link', tarfile.SYMTYPE, 0o777, linkname='suid')
`;

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'ocifs-inode-'));
  tar = join(tmp, 'devices.tar');
  await runOk('python3', ['-c', MAKE_TAR, tar]);
});

after(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

const env = () => ({ OCIFS_CACHE_DIR: join(tmp, 'cache') });

async function lsJson(path: string): Promise<Record<string, unknown>[]> {
  const r = await ocifsOk(['ls', '--json', tar, path], { env: env() });
  return r.stdout
    .toString()
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
}

async function statJson(path: string): Promise<Record<string, unknown>> {
  return JSON.parse((await ocifsOk(['stat', '--json', tar, path], { env: env() })).stdout.toString());
}

test('ls --json and stat --json print the same inode document', async () => {
  for (const dir of ['/', '/dev']) {
    for (const entry of await lsJson(dir)) {
      const { xattrs, ...stat } = await statJson(entry.path as string);
      assert.deepEqual(xattrs, {});
      assert.deepEqual(entry, stat, String(entry.path));
    }
  }
  const [suid] = await lsJson('/suid');
  assert.deepEqual(suid, {
    path: '/suid',
    type: 'file',
    mode: '04755',
    modeString: '-rwsr-xr-x',
    uid: 7,
    gid: 8,
    size: 6,
    mtime: '2023-11-14T22:13:20.000000000Z',
    nlink: 1,
    ino: suid.ino,
  });
  const link = (await lsJson('/')).find((e) => e.path === '/link');
  assert.equal(link?.target, 'suid');
  assert.equal(link?.mode, '0777');
});

test('device numbers: "major:minor" in JSON and "major, minor" in ls -l, past 20-bit minors too', async () => {
  const want = { '/dev/null': '1:3', '/dev/edge': '4095:1048575', '/dev/wide': '0:1048576', '/dev/bsd': '21:16777215' };
  const listed = Object.fromEntries((await lsJson('/dev')).map((e) => [e.path, e.rdev]));
  assert.deepEqual(listed, want);
  const long = (await ocifsOk(['ls', '-l', tar, '/dev'], { env: env() })).stdout.toString();
  for (const [path, rdev] of Object.entries(want)) {
    const [major, minor] = rdev.split(':');
    assert.match(long, new RegExp(`^[bc]rw\\S* +1 +7 +8 +${major}, ${minor} .* ${path.slice(5)}$`, 'm'));
  }
  const text = (await ocifsOk(['stat', tar, '/dev/wide'], { env: env() })).stdout.toString();
  assert.match(text, /device: 0:1048576$/m);
});
