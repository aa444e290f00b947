// Unit tests of the mount layer's pieces that need no FUSE: the operations over a MemoryFs and
// over a blob, errno mapping, mountinfo parsing, records, options and the mount's caches.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { constants } from 'node:os';
import { MemoryFs } from '../../src/vfs/memory-fs.js';
import type { FileSystem } from '../../src/vfs/types.js';
import { MemorySource } from '../../src/io/memory-source.js';
import { NotFoundError, OcifsError } from '../../src/errors.js';
import { NetworkError } from '../../src/registry/errors.js';
import { TreeOps, inodeToStat } from '../../src/mount/tree-ops.js';
import { BlobDirectory } from '../../src/mount/blob-directory.js';
import { errnoOf, FuseErrno } from '../../src/mount/errno.js';
import { parseMountInfo } from '../../src/mount/mountinfo.js';
import { TreeCaches } from '../../src/mount/tree-caches.js';
import { connectionOptions, DEFAULT_CACHE_TIMEOUT, DEFAULT_MAX_READ } from '../../src/mount/mount-options.js';
import {
  processStart,
  readRecord,
  readRecords,
  removeRecord,
  serverAlive,
  writeRecord,
  type MountRecord,
} from '../../src/mount/mount-record.js';
import { defaultStateDir } from '../../src/mount/state-dir.js';
import { looksLikeErofs } from '../../src/mount/mount-kernel.js';
import { allowsUserAllowOther } from '../../src/mount/fuse-conf.js';

const E = constants.errno;
const o = () => ({ signal: new AbortController().signal });

function sampleFs(): MemoryFs {
  return MemoryFs.fromEntries([
    { path: '/', type: 'dir', mode: 0o755, mtimeSec: 1700000000 },
    {
      path: 'etc/hosts',
      type: 'file',
      content: 'hello\n',
      mode: 0o644,
      uid: 7,
      gid: 8,
      mtimeSec: 1700000001,
      mtimeNsec: 250_000_000,
      xattrs: { 'user.a': 'x' },
    },
    { path: 'etc/hosts-link', link: 'etc/hosts' },
    { path: 'bin/sh', type: 'symlink', target: '/bin/busybox' },
    { path: 'bin/suid', type: 'file', content: 'x', mode: 0o4755 },
    { path: 'dev/null', type: 'chardev', rdev: (1 << 8) | 3 },
    { path: 'empty', type: 'dir' },
  ]);
}

/** Runs an operation and returns the errno it fails with (0 when it succeeds). */
async function errnoFrom(p: Promise<unknown>): Promise<number> {
  try {
    await p;
    return 0;
  } catch (err) {
    return errnoOf(err);
  }
}

describe('TreeOps over a MemoryFs', () => {
  test('getattr reports mode, owner, size, nlink, ino (shared by hardlinks), ms mtime, blocks', async () => {
    const fs = sampleFs();
    const ops = new TreeOps(fs);
    const st = await ops.getattr('/etc/hosts', o());
    const ino = (await fs.lookup((await fs.lookup(fs.rootIno, 'etc'))!.ino, 'hosts'))!.ino;
    assert.deepEqual(st, {
      mode: 0o100644,
      uid: 7,
      gid: 8,
      size: 6,
      nlink: 2,
      ino,
      rdev: 0,
      mtimeMs: 1700000001250,
      blocks: 1,
      blksize: fs.statfs().blockSize,
    });
    assert.deepEqual(await ops.getattr('/etc/hosts-link', o()), st);
    assert.equal((await ops.getattr('/bin/suid', o())).mode, 0o104755);
    assert.equal((await ops.getattr('/dev/null', o())).rdev, 259);
    assert.equal((await ops.getattr('/', o())).ino, fs.rootIno);
    assert.equal(inodeToStat({ ...(await fs.getattr(ino)), size: 513 }, 4096).blocks, 2);
  });

  test('inode numbers of 2^32 and above get distinct 32-bit numbers, stable across calls', () => {
    const ops = new TreeOps(sampleFs());
    assert.equal(ops.fuseIno(12), 12);
    assert.equal(ops.fuseIno(0xffff_fffe), 0xffff_fffe);
    const a = ops.fuseIno(2 ** 40 + 5);
    const b = ops.fuseIno(2 ** 41 + 5);
    assert.ok(a < 2 ** 32 && b < 2 ** 32 && a !== b);
    assert.equal(ops.fuseIno(2 ** 40 + 5), a);
  });

  test('missing names are ENOENT, a file used as a directory ENOTDIR, overlong names ENAMETOOLONG', async () => {
    const ops = new TreeOps(sampleFs());
    assert.equal(await errnoFrom(ops.getattr('/nope', o())), E.ENOENT);
    assert.equal(await errnoFrom(ops.getattr('/etc/hosts/x', o())), E.ENOTDIR);
    assert.equal(await errnoFrom(ops.getattr('/' + 'n'.repeat(300), o())), E.ENAMETOOLONG);
    assert.equal(await errnoFrom(ops.readdir('/etc/hosts', o())), E.ENOTDIR);
    assert.equal(await errnoFrom(ops.readlink('/etc/hosts', o())), E.EINVAL);
  });

  test('resolves each path once (cached, single-flight)', async () => {
    const fs = sampleFs();
    const ops = new TreeOps(fs);
    fs.calls.lookup = 0;
    await Promise.all([
      ops.getattr('/etc/hosts', o()),
      ops.getattr('/etc/hosts', o()),
      ops.getattr('/etc/hosts-link', o()),
    ]);
    await ops.getattr('/etc/hosts', o());
    assert.equal(fs.calls.lookup, 3); // etc, hosts, hosts-link
  });

  test('the path cache is bounded', async () => {
    const fs = sampleFs();
    const ops = new TreeOps(fs, { pathCacheEntries: 2 });
    await ops.getattr('/etc/hosts', o()); // caches /etc and /etc/hosts
    await ops.getattr('/bin/sh', o()); // caches /bin, /bin/sh: /etc entries evicted
    fs.calls.lookup = 0;
    await ops.getattr('/etc/hosts', o());
    assert.equal(fs.calls.lookup, 2);
  });

  test('readdir lists . and .. then the entries with their inode numbers and types', async () => {
    const fs = sampleFs();
    const ops = new TreeOps(fs);
    const etc = (await fs.lookup(fs.rootIno, 'etc'))!.ino;
    const list = await ops.readdir('/etc', o());
    assert.deepEqual(
      list.map((e) => [e.name, e.mode]),
      [
        ['.', 0o040000],
        ['..', 0o040000],
        ['hosts', 0o100000],
        ['hosts-link', 0o100000],
      ],
    );
    assert.equal(list[0].ino, etc);
    assert.equal(list[1].ino, fs.rootIno);
    assert.equal(list[2].ino, list[3].ino);
    assert.deepEqual(
      (await ops.readdir('/empty', o())).map((e) => e.name),
      ['.', '..'],
    );
  });

  test('read: exact bytes, short at the end, 0 past it; directories EISDIR; W_OK is EROFS', async () => {
    const fs = sampleFs();
    const ops = new TreeOps(fs);
    const buf = Buffer.alloc(16);
    assert.equal(await ops.read('/etc/hosts', buf, 16, 0, o()), 6);
    assert.equal(buf.subarray(0, 6).toString(), 'hello\n');
    assert.equal(await ops.read('/etc/hosts', buf, 4, 4, o()), 2);
    assert.equal(buf.subarray(0, 2).toString(), 'o\n');
    assert.equal(await ops.read('/etc/hosts', buf, 16, 6, o()), 0);
    assert.equal(await ops.read('/etc/hosts-link', buf, 16, 0, o()), 6);
    assert.equal(ops.stats.bytesServed, 14);
    assert.equal(fs.calls.openFile, 1, 'one byte source per inode, kept for the next reads');
    assert.equal(await errnoFrom(ops.read('/etc', buf, 16, 0, o())), E.EISDIR);
    assert.equal(await errnoFrom(ops.read('/bin/sh', buf, 16, 0, o())), E.EINVAL);
    assert.equal(await errnoFrom(ops.access('/etc/hosts', 2 /* W_OK */, o())), E.EROFS);
    assert.equal(await errnoFrom(ops.access('/etc/hosts', 4 /* R_OK */, o())), 0);
  });

  test('directory listings and symlink targets are read once', async () => {
    const fs = sampleFs();
    const ops = new TreeOps(fs);
    await ops.readdir('/etc', o());
    await ops.readdir('/etc', o());
    assert.equal(fs.calls.readdir, 1);
    assert.equal(await ops.readlink('/bin/sh', o()), '/bin/busybox');
    assert.equal(await ops.readlink('/bin/sh', o()), '/bin/busybox');
    assert.equal(fs.calls.readlink, 1);
  });

  test('a source that fails is EIO and counted; a short source is EIO, never short bytes', async () => {
    const fs = sampleFs();
    const etc = (await fs.lookup(fs.rootIno, 'etc'))!.ino;
    const hosts = (await fs.lookup(etc, 'hosts'))!.ino;
    const ops = new TreeOps({
      // eslint-disable-next-line @typescript-eslint/no-misused-spread -- its fields; methods are bound below
      ...fs,
      rootIno: fs.rootIno,
      getattr: (i, x) => fs.getattr(i, x),
      lookup: (d, n, x) => fs.lookup(d, n, x),
      readdir: (d, x) => fs.readdir(d, x),
      readlink: (i, x) => fs.readlink(i, x),
      listxattr: (i, x) => fs.listxattr(i, x),
      statfs: () => fs.statfs(),
      openFile: async (i) =>
        i === hosts
          ? { size: 6, read: async () => Promise.reject(new NetworkError('down')) }
          : { size: 1, read: async () => new Uint8Array(0) },
    });
    const buf = Buffer.alloc(8);
    assert.equal(await errnoFrom(ops.read('/etc/hosts', buf, 8, 0, o())), E.EIO);
    assert.equal(ops.stats.errors, 1);
    assert.equal(await errnoFrom(ops.read('/bin/suid', buf, 8, 0, o())), E.EIO);
  });

  test('xattrs: names, values, ENODATA-by-undefined for a missing name', async () => {
    const ops = new TreeOps(sampleFs());
    assert.deepEqual(await ops.listxattr('/etc/hosts', o()), ['user.a']);
    assert.deepEqual(await ops.getxattr('/etc/hosts', 'user.a', o()), new TextEncoder().encode('x'));
    assert.equal(await ops.getxattr('/etc/hosts', 'user.b', o()), undefined);
    assert.deepEqual(await ops.listxattr('/bin', o()), []);
  });

  test('statfs reports the filesystem numbers', async () => {
    const fs = sampleFs();
    const s = fs.statfs();
    assert.deepEqual(await new TreeOps(fs).statfs(), {
      bsize: s.blockSize,
      frsize: s.blockSize,
      blocks: s.blocks,
      files: s.files,
      namemax: s.nameMax,
    });
  });
});

describe('BlobDirectory (the kernel mode backing files)', () => {
  test("read-only files of their sources' sizes, exact ranges through TreeOps, nothing else", async () => {
    const bytes = new Uint8Array(10000).map((_, i) => i % 251);
    const fs = new BlobDirectory();
    fs.add('layer.erofs', new MemorySource(bytes));
    const ops = new TreeOps(fs);
    const st = await ops.getattr('/layer.erofs', o());
    assert.equal(st.size, 10000);
    assert.equal(st.mode, 0o100400);
    assert.equal((await ops.getattr('/', o())).mode, 0o040500);
    assert.deepEqual(
      (await ops.readdir('/', o())).map((e) => e.name),
      ['.', '..', 'layer.erofs'],
    );
    const buf = Buffer.alloc(4096);
    assert.equal(await ops.read('/layer.erofs', buf, 4096, 8192, o()), 1808);
    assert.deepEqual(new Uint8Array(buf.subarray(0, 1808)), bytes.subarray(8192));
    assert.equal(await ops.read('/layer.erofs', buf, 4096, 10000, o()), 0);
    assert.equal(await errnoFrom(ops.getattr('/other', o())), E.ENOENT);
    assert.equal(await errnoFrom(ops.getattr('/layer.erofs/x', o())), E.ENOTDIR);
    assert.deepEqual(await ops.listxattr('/layer.erofs', o()), []);
    assert.throws(() => fs.add('a/b', new MemorySource(bytes)));
  });

  test('files come and go while mounted; a name or an inode number is never used twice', async () => {
    const fs = new BlobDirectory();
    fs.add('a', new MemorySource(new Uint8Array(3)));
    const a = (await fs.lookup(fs.rootIno, 'a'))!;
    fs.add('b', new MemorySource(new Uint8Array(5)));
    fs.remove('a');
    assert.equal(await fs.lookup(fs.rootIno, 'a'), undefined);
    await assert.rejects(fs.getattr(a.ino), /not found/);
    assert.throws(() => fs.add('a', new MemorySource(new Uint8Array(1))), /used before/);
    fs.add('c', new MemorySource(new Uint8Array(7)));
    const inos = [];
    for await (const e of fs.readdir(fs.rootIno)) inos.push([e.name, e.ino]);
    assert.deepEqual(
      inos.map(([n]) => n),
      ['b', 'c'],
    );
    assert.ok(!inos.some(([, i]) => i === a.ino));
    assert.equal(fs.size, 2);
    assert.equal(fs.statfs().blocks, 2);
  });
});

describe('errno mapping', () => {
  test('content errors keep their meaning, everything else is EIO', () => {
    assert.equal(errnoOf(new NotFoundError('x')), E.ENOENT);
    assert.equal(errnoOf(new OcifsError('ERR_OCIFS_NOT_A_DIRECTORY', 'x')), E.ENOTDIR);
    assert.equal(errnoOf(new OcifsError('ERR_OCIFS_CORRUPT_EROFS', 'x')), E.EIO);
    assert.equal(errnoOf(new OcifsError('ERR_OCIFS_DIGEST_MISMATCH', 'x')), E.EIO);
    assert.equal(errnoOf(new Error('boom')), E.EIO);
    assert.equal(errnoOf('weird'), E.EIO);
    assert.equal(errnoOf(new FuseErrno(E.EROFS)), E.EROFS);
  });
});

describe('mountinfo', () => {
  test('parses fields, optional tags and octal escapes', () => {
    const text = [
      '36 35 98:0 /mnt1 /mnt/with\\040space rw,noatime master:1 - ext3 /dev/root rw,errors=continue',
      '42 27 0:39 / /tmp/x/mnt ro,nosuid,nodev,relatime - fuse.ocifs ocifs:docker.io/library/alpine ro,user_id=0',
      '43 27 7:0 / /tmp/k ro,relatime shared:5 - erofs /run/ocifs/backing/blob-1/layer.erofs ro',
      'garbage line',
    ].join('\n');
    const m = parseMountInfo(text);
    assert.equal(m.length, 3);
    assert.deepEqual(m[0], {
      mountId: 36,
      parentId: 35,
      device: '98:0',
      mountpoint: '/mnt/with space',
      options: 'rw,noatime',
      fstype: 'ext3',
      source: '/dev/root',
    });
    assert.equal(m[1].fstype, 'fuse.ocifs');
    assert.equal(m[2].source, '/run/ocifs/backing/blob-1/layer.erofs');
  });
});

describe('mount records', () => {
  test('write atomically, read back, list, remove; liveness by pid and start time', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ocifs-records-'));
    try {
      const rec: MountRecord = {
        version: 1,
        mountpoint: '/mnt/a',
        mode: 'tree',
        ref: 'r',
        pid: process.pid,
        pidStart: (await processStart(process.pid))!,
        started: '2026-01-01T00:00:00.000Z',
        updated: '2026-01-01T00:00:00.000Z',
        bytesServed: 1,
        reads: 1,
      };
      await writeRecord(dir, rec);
      await writeRecord(dir, { ...rec, mountpoint: '/mnt/b', pidStart: 'not-the-start-time' });
      assert.deepEqual(await readRecord(dir, '/mnt/a'), rec);
      assert.deepEqual((await readRecords(dir)).map((r) => r.mountpoint).sort(), ['/mnt/a', '/mnt/b']);
      assert.equal(await serverAlive(rec), true);
      assert.equal(
        await serverAlive({ pid: rec.pid, pidStart: 'not-the-start-time' }),
        false,
        'a recycled pid is not the server',
      );
      assert.equal(await serverAlive({ pid: 2 ** 22 + 12345, pidStart: '1' }), false);
      await removeRecord(dir, '/mnt/a');
      await removeRecord(dir, '/mnt/a');
      assert.equal(await readRecord(dir, '/mnt/a'), undefined);
      assert.ok((await readdir(join(dir, 'mounts'))).every((n) => !n.endsWith('.tmp')));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('the state dir follows OCIFS_STATE_DIR, then XDG_RUNTIME_DIR', () => {
    assert.equal(defaultStateDir({ OCIFS_STATE_DIR: '/x' }), '/x');
    assert.equal(defaultStateDir({ XDG_RUNTIME_DIR: '/run/user/1000' }), '/run/user/1000/ocifs');
    if (process.getuid?.() === 0) assert.equal(defaultStateDir({}), '/run/ocifs');
  });
});

describe('options and helpers', () => {
  test('defaults, and bad values refused by name', () => {
    const c = connectionOptions({});
    assert.equal(c.cacheTimeout, DEFAULT_CACHE_TIMEOUT);
    assert.equal(c.maxRead, DEFAULT_MAX_READ);
    assert.equal(c.allowOther, false);
    assert.throws(() => connectionOptions({ maxRead: 0 }), /invalid option maxRead/);
    assert.throws(() => connectionOptions({ cacheTimeout: 1.5 }), /invalid option cacheTimeout/);
    assert.throws(() => connectionOptions({ operationTimeoutMs: -1 }), /invalid option operationTimeoutMs/);
    assert.throws(() => connectionOptions({ fsname: '' }), /invalid option fsname/);
  });

  test('the mount caches keep as many entries as their options say, least recently used out first', async () => {
    const fs = sampleFs();
    const [hosts, suid] = await Promise.all(
      ['etc/hosts', 'bin/suid'].map(
        async (p) => (await fs.lookup((await fs.lookup(fs.rootIno, p.split('/')[0]))!.ino, p.split('/')[1]))!.ino,
      ),
    );
    const c = new TreeCaches<string, string[]>(fs, {
      xattrCacheEntries: 1,
      sourceCacheEntries: 2,
      pathCacheEntries: 2,
    });
    for (const ino of [hosts, suid, hosts]) await c.listxattr(ino, o());
    assert.equal(fs.calls.listxattr, 3, 'one xattr list kept');
    for (const ino of [hosts, suid, hosts]) await c.openFile(ino, o());
    assert.equal(fs.calls.openFile, 2, 'two sources kept');
    for (const k of ['a', 'b', 'c']) c.entries.set(k, await fs.getattr(hosts));
    assert.deepEqual([...c.entries.keys()], ['c', 'b']);
    // Defaults, and bad sizes refused by the option's name.
    assert.equal(new TreeCaches(fs).entries.max, 65_536);
    for (const name of [
      'pathCacheEntries',
      'xattrCacheEntries',
      'sourceCacheEntries',
      'dirCacheEntries',
      'symlinkCacheEntries',
    ] as const) {
      assert.throws(() => new TreeCaches(fs, { [name]: 0 }), new RegExp(`invalid option ${name}`));
    }
  });

  test('the mount caches share one load among concurrent misses and do not keep a failed one', async () => {
    const fs = sampleFs();
    const bin = (await fs.lookup(fs.rootIno, 'bin'))!.ino;
    const sh = (await fs.lookup(bin, 'sh'))!.ino;
    const suid = (await fs.lookup(bin, 'suid'))!.ino;
    const c = new TreeCaches<number, string[]>(fs);
    assert.deepEqual(await Promise.all([c.readlink(sh, o()), c.readlink(sh, o())]), ['/bin/busybox', '/bin/busybox']);
    assert.equal(fs.calls.readlink, 1);
    let fail = true;
    const flakyFs: FileSystem = {
      rootIno: fs.rootIno,
      statfs: () => fs.statfs(),
      getattr: (i, x) => fs.getattr(i, x),
      lookup: (d, n, x) => fs.lookup(d, n, x),
      readdir: (d, x) => fs.readdir(d, x),
      readlink: (i, x) => fs.readlink(i, x),
      listxattr: (i, x) => fs.listxattr(i, x),
      openFile: (i, x) => (fail ? Promise.reject(new OcifsError('ERR_OCIFS_NETWORK', 'down')) : fs.openFile(i, x)),
    };
    const flaky = new TreeCaches<number, string[]>(flakyFs);
    await assert.rejects(flaky.openFile(suid, o()), /down/);
    fail = false;
    assert.equal((await flaky.openFile(suid, o())).size, 1);
  });

  test('looksLikeErofs checks the superblock magic', async () => {
    const b = new Uint8Array(4096);
    assert.equal(await looksLikeErofs(new MemorySource(b)), false);
    new DataView(b.buffer).setUint32(1024, 0xe0f5e1e2, true);
    assert.equal(await looksLikeErofs(new MemorySource(b)), true);
    assert.equal(await looksLikeErofs(new MemorySource(b.subarray(0, 1100))), false);
  });
});

test('fuse.conf: user_allow_other counts only on a line of its own, not commented out', () => {
  assert.equal(allowsUserAllowOther('# comment\nuser_allow_other\n'), true);
  assert.equal(allowsUserAllowOther('  user_allow_other   # allow it\n'), true);
  assert.equal(allowsUserAllowOther('#user_allow_other\n'), false);
  assert.equal(allowsUserAllowOther('mount_max = 1000\nuser_allow_other_not\n'), false);
  assert.equal(allowsUserAllowOther(''), false);
});
