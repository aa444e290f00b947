// The file-tree mode end to end: a MemoryFs built from make-tree.ts's tree is mounted through
// FUSE in this process, and read only by child processes (tree-manifest.ts, stat, cp, tar,
// sha256sum, a binary run from the mount).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { MemoryFs } from '../../src/vfs/memory-fs.js';
import type { FileSystem } from '../../src/vfs/types.js';
import type { ByteSource } from '../../src/io/byte-source.js';
import { NetworkError } from '../../src/registry/errors.js';
import { mountFileSystem } from '../../src/mount/mount-file-system.js';
import type { Mount } from '../../src/mount/mount-options.js';
import { assertSameManifest, makeTree, memoryFsFromDirectory, treeManifest } from '../helpers/fs-manifest.js';
import { EROFS_FIXTURES, fixturePath, seed1Manifest } from '../unit/erofs-helpers.js';
import { openImage } from '../../src/image/index.js';
import {
  cleanupTempDir,
  isMounted,
  mountsLeftUnder,
  mountTempDir,
  runChild,
  runChildOk,
} from '../helpers/mount-safety.js';

const root = mountTempDir();
const src = join(root, 'src');
let fs: MemoryFs;
let expected: string[];

before(async () => {
  await makeTree(src, 1);
  // A real executable, to run from the mount.
  await mkdir(join(src, 'exe'));
  await copyFile('/bin/echo', join(src, 'exe', 'echo'));
  await runChildOk('chmod', ['0755', join(src, 'exe', 'echo')]);
  await runChildOk('touch', ['-h', '-d', '@1700000000', join(src, 'exe', 'echo'), join(src, 'exe'), src]);
  expected = await treeManifest(src);
  fs = await memoryFsFromDirectory(src);
});

after(async () => {
  assert.deepEqual(mountsLeftUnder(root), []);
  cleanupTempDir(root);
});

for (const backend of ['raw', 'libfuse'] as const)
  describe(`file-tree mount (${backend} FUSE)`, () => {
    const mnt = join(root, `mnt-${backend}`);
    let mount: Mount | undefined;
    before(async () => {
      await mkdir(mnt);
      mount = await mountFileSystem(fs, mnt, { fsname: 'ocifs-test', backend });
    });
    after(async () => {
      await mount?.unmount();
      assert.equal(isMounted(mnt), false);
    });

    test('tree-manifest.ts of the mount equals the source tree', async () => {
      assertSameManifest(await treeManifest(mnt), expected);
    });

    test('stat shows our inode numbers, shared by hardlinks, with modes, owners and nlink', async () => {
      const r = await runChildOk('stat', [
        '-c',
        '%i %h %a %u %g %s %Y %F',
        join(mnt, 'bin/tool'),
        join(mnt, 'bin/tool-hardlink'),
        join(mnt, 'bin/setuid'),
        mnt,
      ]);
      const [tool, link, setuid, top] = r.stdout.toString().trim().split('\n');
      const toolIno = (await fs.lookup((await fs.lookup(fs.rootIno, 'bin'))!.ino, 'tool'))!.ino;
      assert.equal(tool, `${toolIno} 2 755 1000 1000 20000 1700000000 regular file`);
      assert.equal(link, tool);
      assert.match(setuid, /^\d+ 1 4755 0 0 10 1700000000 regular file$/);
      assert.match(top, new RegExp(`^${fs.rootIno} \\d+ 755 0 0 \\d+ 1700000000 directory$`));
      // Stable across calls.
      const again = await runChildOk('stat', ['-c', '%i', join(mnt, 'bin/tool')]);
      assert.equal(again.stdout.toString().trim(), String(toolIno));
    });

    test('ls -lR lists the tree like the source, with . and ..', async () => {
      const a = await runChildOk('ls', ['-lRan', '--time-style=+%s', mnt]);
      const b = await runChildOk('ls', ['-lRan', '--time-style=+%s', src]);
      const norm = (s: string, base: string) =>
        s
          .split(base)
          .join('ROOT')
          .replace(/ +/g, ' ')
          // Directory sizes and `total` block counts are format-defined; everything else must match.
          .replace(/^total \d+$/gm, 'total')
          .replace(/^(d\S+ \d+ \d+ \d+) \d+/gm, '$1 DIRSIZE')
          // The root's parent is outside the mount.
          .replace(/^ROOT:\ntotal\n(.*\n).*\n/, 'ROOT:\ntotal\n$1');
      assert.equal(norm(a.stdout.toString(), mnt), norm(b.stdout.toString(), src));
    });

    test('cp -a and tar copy the tree exactly', async () => {
      const cpDir = join(root, `cp-${backend}`);
      await runChildOk('cp', ['-a', mnt, cpDir]);
      assertSameManifest(await treeManifest(cpDir), expected, 'cp -a');
      const st = await runChildOk('stat', ['-c', '%i', join(cpDir, 'bin/tool'), join(cpDir, 'bin/tool-hardlink')]);
      const [x, y] = st.stdout.toString().trim().split('\n');
      assert.equal(x, y, 'cp -a keeps the hardlink');
      const tarDir = join(root, `tar-${backend}`);
      await mkdir(tarDir);
      const xattrs = `--xattrs --xattrs-include='user.*' --xattrs-include='trusted.*'`;
      await runChildOk('sh', ['-c', `tar -C "${mnt}" ${xattrs} -cf - . | tar -C "${tarDir}" ${xattrs} -xpf -`]);
      assertSameManifest(await treeManifest(tarDir), expected, 'tar c | tar x');
    });

    test('a binary runs from the mount', async () => {
      // Through sh: spawn() blocks this process until the exec succeeds, and this process serves
      // the exec's open — the shell execs it after spawn() has returned.
      const r = await runChildOk('sh', ['-c', 'exec "$0" "$@"', join(mnt, 'exe/echo'), 'hello', 'from', 'ocifs']);
      assert.equal(r.stdout.toString(), 'hello from ocifs\n');
    });

    test('8 concurrent readers get the right bytes', async () => {
      const files = [
        'big/random-1M.bin',
        'big/text-2M.txt',
        'big/zeros-1M.bin',
        'big/mixed-512K.bin',
        'bin/tool',
        'exe/echo',
        'sizes/f65537',
        'sizes/f4097',
      ];
      const want = await Promise.all(
        files.map(
          async (f) =>
            createHash('sha256')
              .update(await readFile(join(src, f)))
              .digest('hex') +
            '  ' +
            f,
        ),
      );
      const r = await runChildOk('sh', [
        '-c',
        `cd "${mnt}" && printf '%s\\n' ${files.join(' ')} | xargs -P8 -n1 sha256sum`,
      ]);
      assert.deepEqual(r.stdout.toString().trim().split('\n').sort(), want.sort());
    });

    test('writes fail with EROFS; xattrs read back; missing names are ENOENT', async () => {
      const w = await runChild('sh', ['-c', `echo x > "${mnt}/new"`]);
      assert.notEqual(w.code, 0);
      assert.match(w.stderr, /Read-only file system/);
      const t = await runChild('touch', [join(mnt, 'etc/os-release')]);
      assert.match(t.stderr, /Read-only file system/);
      const x = await runChildOk('python3', [
        '-c',
        `import os,sys; print(os.getxattr(sys.argv[1], 'user.ocifs.note').decode())`,
        join(mnt, 'etc/os-release'),
      ]);
      assert.equal(x.stdout.toString(), 'fixture xattr\n');
      const nx = await runChild('python3', [
        '-c',
        `import os,sys; os.getxattr(sys.argv[1], 'user.none')`,
        join(mnt, 'etc/os-release'),
      ]);
      assert.match(nx.stderr, /No data available/);
      const ls = await runChild('ls', [join(mnt, 'no/such')]);
      assert.match(ls.stderr, /No such file or directory/);
      const nd = await runChild('ls', [join(mnt, 'etc/os-release/x')]);
      assert.match(nd.stderr, /Not a directory/);
    });

    test('df shows a read-only filesystem', async () => {
      const r = await runChildOk('findmnt', ['-n', '-o', 'FSTYPE,OPTIONS,SOURCE', mnt]);
      assert.match(r.stdout.toString(), /^fuse\.ocifs\s+ro,/);
      assert.match(r.stdout.toString(), /ocifs-test/);
    });
  });

// Regression: the raw backend kept its own hard-coded cache sizes and ignored these options.
describe('file-tree mount cache sizes', () => {
  for (const backend of ['raw', 'libfuse'] as const) {
    test(`${backend}: xattrCacheEntries and sourceCacheEntries bound what the mount keeps`, async () => {
      const calls = async (options: { xattrCacheEntries?: number; sourceCacheEntries?: number }) => {
        const counted = await memoryFsFromDirectory(src);
        const mp = join(root, `sizes-${backend}-${Object.keys(options).length}`);
        await mkdir(mp);
        const m = await mountFileSystem(counted, mp, { backend, ...options });
        try {
          const [a, b] = [join(mp, 'etc/os-release'), join(mp, 'bin/tool')];
          counted.calls.listxattr = counted.calls.openFile = 0;
          // The kernel keeps no xattrs: each listxattr reaches the mount.
          await runChildOk('python3', ['-c', 'import os,sys\nfor p in sys.argv[1:]: os.listxattr(p)', a, b, a]);
          // A's pages are dropped from the page cache, so its second read reaches the mount.
          await runChildOk('sh', [
            '-c',
            'cat "$0" "$1" >/dev/null && dd if="$0" iflag=nocache count=0 status=none && cat "$0" >/dev/null',
            a,
            b,
          ]);
          return { listxattr: counted.calls.listxattr, openFile: counted.calls.openFile };
        } finally {
          await m.unmount();
        }
      };
      assert.deepEqual(await calls({}), { listxattr: 2, openFile: 2 }, 'default sizes keep A');
      assert.deepEqual(
        await calls({ xattrCacheEntries: 1, sourceCacheEntries: 1 }),
        { listxattr: 3, openFile: 3 },
        'one entry each: B evicts A',
      );
    });
  }
});

describe('file-tree mount of the EROFS reader (every fixture compression)', () => {
  for (const name of EROFS_FIXTURES) {
    test(`${name}.erofs lists exactly tree-seed1.jsonl`, async () => {
      const expectedSeed1 = seed1Manifest();
      const image = await openImage(fixturePath(name));
      const mp = join(root, `fixture-${name}`);
      await mkdir(mp);
      try {
        const m = await mountFileSystem(await image.openFileSystem(), mp);
        try {
          assertSameManifest(await treeManifest(mp), expectedSeed1);
        } finally {
          await m.unmount();
        }
      } finally {
        await image.close();
      }
      assert.equal(isMounted(mp), false);
    });
  }
});

/** A FileSystem whose file reads fail while `down` is true, like a registry outage. */
class FlakyFs implements FileSystem {
  down = false;
  constructor(private readonly inner: FileSystem) {}
  get rootIno() {
    return this.inner.rootIno;
  }
  getattr: FileSystem['getattr'] = (ino, o) => this.inner.getattr(ino, o);
  lookup: FileSystem['lookup'] = (d, n, o) => this.inner.lookup(d, n, o);
  readdir: FileSystem['readdir'] = (d, o) => this.inner.readdir(d, o);
  readlink: FileSystem['readlink'] = (i, o) => this.inner.readlink(i, o);
  listxattr: FileSystem['listxattr'] = (i, o) => this.inner.listxattr(i, o);
  statfs: FileSystem['statfs'] = () => this.inner.statfs();
  openFile = async (ino: number): Promise<ByteSource> => {
    const s = await this.inner.openFile(ino);
    return {
      size: s.size,
      read: async (off, len, o) => {
        if (this.down) throw new NetworkError('registry is down');
        return s.read(off, len, o);
      },
    };
  };
}

describe('file-tree mount error paths', () => {
  test('a failing source gives EIO, and the same read works once it recovers', async () => {
    const dir = mountTempDir();
    try {
      const flaky = new FlakyFs(MemoryFs.fromEntries([{ path: 'f', type: 'file', content: 'payload\n' }]));
      await mkdir(join(dir, 'm'));
      const m = await mountFileSystem(flaky, join(dir, 'm'));
      try {
        flaky.down = true;
        const bad = await runChild('cat', [join(dir, 'm/f')]);
        assert.notEqual(bad.code, 0);
        assert.match(bad.stderr, /Input\/output error/);
        assert.ok(m.stats.errors >= 1, 'the failed read is counted');
        flaky.down = false;
        // A new open: kernel_cache keeps pages that were read, and none were.
        const good = await runChildOk('cat', [join(dir, 'm/f')]);
        assert.equal(good.stdout.toString(), 'payload\n');
      } finally {
        await m.unmount();
      }
      assert.equal(isMounted(join(dir, 'm')), false);
    } finally {
      cleanupTempDir(dir);
    }
  });

  test('a read the source never answers fails with EIO after operationTimeoutMs, and the mount stays usable', async () => {
    const dir = mountTempDir();
    try {
      const inner = MemoryFs.fromEntries([
        { path: 'stuck', type: 'file', content: 'never' },
        { path: 'ok', type: 'file', content: 'fine\n' },
      ]);
      const fs: FileSystem = new FlakyFs(inner);
      const stuckIno = (await inner.lookup(inner.rootIno, 'stuck'))!.ino;
      const openFile = fs.openFile.bind(fs);
      fs.openFile = async (ino, o) =>
        ino === stuckIno ? { size: 5, read: () => new Promise<Uint8Array>(() => {}) } : openFile(ino, o);
      await mkdir(join(dir, 'm'));
      const m = await mountFileSystem(fs, join(dir, 'm'), { operationTimeoutMs: 500 });
      try {
        const t0 = Date.now();
        const r = await runChild('cat', [join(dir, 'm/stuck')], { timeoutMs: 20_000 });
        assert.equal(r.timedOut, false);
        assert.match(r.stderr, /Input\/output error/);
        assert.ok(Date.now() - t0 < 10_000);
        assert.equal((await runChildOk('cat', [join(dir, 'm/ok')])).stdout.toString(), 'fine\n');
      } finally {
        await m.unmount();
      }
    } finally {
      cleanupTempDir(dir);
    }
  });

  test('permissions: without allow_other only the mounting user gets in; with it, mode bits apply', async () => {
    const dir = mountTempDir();
    try {
      const fs = MemoryFs.fromEntries([
        { path: 'public', type: 'file', content: 'everyone\n', mode: 0o644 },
        { path: 'secret', type: 'file', content: 'root only\n', mode: 0o600 },
      ]);
      for (const allowOther of [false, true]) {
        const mnt = join(dir, `m-${allowOther}`);
        await mkdir(mnt);
        await runChildOk('chmod', ['755', dir]);
        const m = await mountFileSystem(fs, mnt, { allowOther });
        try {
          const pub = await runChild('setpriv', [
            '--reuid=65534',
            '--regid=65534',
            '--clear-groups',
            'cat',
            join(mnt, 'public'),
          ]);
          const sec = await runChild('setpriv', [
            '--reuid=65534',
            '--regid=65534',
            '--clear-groups',
            'cat',
            join(mnt, 'secret'),
          ]);
          if (allowOther) {
            assert.equal(pub.stdout.toString(), 'everyone\n');
            assert.match(sec.stderr, /Permission denied/);
          } else {
            assert.match(pub.stderr, /Permission denied/);
          }
          assert.equal((await runChildOk('cat', [join(mnt, 'secret')])).stdout.toString(), 'root only\n');
        } finally {
          await m.unmount();
        }
      }
    } finally {
      cleanupTempDir(dir);
    }
  });

  test('bad mountpoints are refused with one clear error and nothing is mounted', async () => {
    const dir = mountTempDir();
    try {
      const tiny = MemoryFs.fromEntries([{ path: 'f', type: 'file', content: 'x' }]);
      await assert.rejects(mountFileSystem(tiny, join(dir, 'missing')), { code: 'ERR_OCIFS_MOUNTPOINT_MISSING' });
      await writeFile(join(dir, 'file'), 'x');
      await assert.rejects(mountFileSystem(tiny, join(dir, 'file')), { code: 'ERR_OCIFS_MOUNTPOINT_NOT_A_DIRECTORY' });
      await mkdir(join(dir, 'full'));
      await writeFile(join(dir, 'full/x'), 'x');
      await assert.rejects(mountFileSystem(tiny, join(dir, 'full')), {
        code: 'ERR_OCIFS_MOUNTPOINT_BUSY',
        message: /not empty/,
      });
      await mkdir(join(dir, 'm'));
      const m = await mountFileSystem(tiny, join(dir, 'm'));
      try {
        await assert.rejects(mountFileSystem(tiny, join(dir, 'm')), {
          code: 'ERR_OCIFS_MOUNTPOINT_BUSY',
          message: /already mounted/,
        });
      } finally {
        await m.unmount();
      }
      assert.deepEqual(mountsLeftUnder(dir), []);
    } finally {
      cleanupTempDir(dir);
    }
  });
});
