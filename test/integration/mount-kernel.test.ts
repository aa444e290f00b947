// The kernel mode end to end: EROFS images (made here by mkfs.erofs, and the EROFS fixtures
// with every compression the kernel knows) are served through FUSE as one file by this process
// and mounted by the kernel's EROFS driver; only child processes read the mounts.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FileSource } from '../../src/io/file-source.js';
import { MemorySource } from '../../src/io/memory-source.js';
import { mountKernel, looksLikeErofs } from '../../src/mount/mount-kernel.js';
import { assertSameManifest, makeTree, treeManifest } from '../helpers/fs-manifest.js';
import { EROFS_FIXTURES, fixturePath, seed1Manifest } from '../unit/erofs-helpers.js';
import {
  cleanupTempDir,
  isMounted,
  mountsLeftUnder,
  mountTempDir,
  runChild,
  runChildOk,
} from '../helpers/mount-safety.js';

const root = mountTempDir();
const backing = join(root, 'backing');
let n = 0;

after(() => {
  assert.deepEqual(mountsLeftUnder(root), []);
  cleanupTempDir(root);
});

/** Mounts `image` in kernel mode, runs `fn`, unmounts, and checks nothing is left. */
async function withKernelMount(
  image: string,
  fn: (mnt: string) => Promise<void>,
  via: 'auto' | 'loop' = 'auto',
  backend: 'auto' | 'raw' | 'libfuse' = 'auto',
): Promise<'file' | 'loop'> {
  const mnt = join(root, `mnt-${n++}`);
  await mkdir(mnt);
  const source = await FileSource.open(image);
  const m = await mountKernel(source, mnt, { backingDir: backing, fsname: 'ocifs-test', via, backend });
  try {
    assert.equal(isMounted(mnt), true);
    await fn(mnt);
  } finally {
    await m.unmount();
    await source.close();
  }
  assert.equal(isMounted(mnt), false);
  assert.deepEqual(mountsLeftUnder(root), []);
  assert.deepEqual(await readdir(backing), [], 'the private backing directory is removed');
  return m.via;
}

describe('kernel mount of images made by mkfs.erofs', () => {
  const src = join(root, 'tree');
  let expected: string[];
  before(async () => {
    await makeTree(src, 2);
    await mkdir(join(src, 'exe'));
    await runChildOk('cp', ['/bin/echo', join(src, 'exe/echo')]);
    await runChildOk('touch', ['-h', '-d', '@1700000000', join(src, 'exe/echo'), join(src, 'exe')]);
    expected = await treeManifest(src);
  });

  for (const [name, args, backend] of [
    ['uncompressed', [], 'auto'],
    ['lz4hc', ['-zlz4hc'], 'auto'],
    ['lz4hc, backing file served by libfuse', ['-zlz4hc'], 'libfuse'],
  ] as const) {
    test(`${name}: tree-manifest.ts of the mount equals the source tree, a binary runs, 8 readers agree`, async () => {
      const image = join(root, `${name.replace(/\W+/g, '-')}.erofs`);
      await runChildOk('mkfs.erofs', ['--quiet', ...args, image, src], { timeoutMs: 120_000 });
      const via = await withKernelMount(
        image,
        async (mnt) => {
          assertSameManifest(await treeManifest(mnt), expected);
          const r = await runChildOk('sh', ['-c', 'exec "$0" "$@"', join(mnt, 'exe/echo'), 'kernel', 'mode']);
          assert.equal(r.stdout.toString(), 'kernel mode\n');
          const files = [
            'big/random-1M.bin',
            'big/text-2M.txt',
            'big/zeros-1M.bin',
            'big/mixed-512K.bin',
            'bin/tool',
            'exe/echo',
            'sizes/f65537',
            'sizes/f8193',
          ];
          const want = await runChildOk('sh', ['-c', `cd "${src}" && sha256sum ${files.join(' ')}`]);
          const got = await runChildOk('sh', [
            '-c',
            `cd "${mnt}" && printf '%s\\n' ${files.join(' ')} | xargs -P8 -n1 sha256sum`,
          ]);
          assert.deepEqual(
            got.stdout.toString().trim().split('\n').sort(),
            want.stdout.toString().trim().split('\n').sort(),
          );
          const w = await runChild('touch', [join(mnt, 'new')]);
          assert.match(w.stderr, /Read-only file system/);
          // A file-backed mount: the source is the FUSE-served file, no loop device in between.
          const source = (await runChildOk('findmnt', ['-n', '-o', 'SOURCE', mnt])).stdout.toString().trim();
          assert.match(source, new RegExp(`^${backing}/blob-[^/]+/layer\\.erofs$`));
        },
        'auto',
        backend,
      );
      assert.equal(via, 'file', 'Linux ≥ 6.12 mounts the FUSE-served file directly');
    });
  }
});

describe('kernel mount of the EROFS fixtures (every compression)', () => {
  const expected = seed1Manifest();
  for (const name of EROFS_FIXTURES) {
    test(`${name}.erofs lists exactly tree-seed1.jsonl`, async () => {
      await withKernelMount(fixturePath(name), async (mnt) => {
        assertSameManifest(await treeManifest(mnt), expected);
      });
    });
  }
});

describe('kernel mount through a loop device (the fallback for kernels without file-backed mounts)', () => {
  test('lzma.erofs through a read-only loop device lists tree-seed1.jsonl, and the loop device is freed', async () => {
    const expected = seed1Manifest();
    let device = '';
    const via = await withKernelMount(
      fixturePath('lzma'),
      async (mnt) => {
        assertSameManifest(await treeManifest(mnt), expected);
        device = (await runChildOk('findmnt', ['-n', '-o', 'SOURCE', mnt])).stdout.toString().trim();
        assert.match(device, /^\/dev\/loop\d+$/);
        const ro = await runChildOk('blockdev', ['--getro', device]);
        assert.equal(ro.stdout.toString().trim(), '1');
      },
      'loop',
    );
    assert.equal(via, 'loop');
    const left = await runChild('losetup', ['-n', '-O', 'BACK-FILE', device]);
    assert.doesNotMatch(left.stdout.toString(), /layer\.erofs/);
  });
});

describe('kernel mount refusals', () => {
  test('a blob that is not EROFS is refused before anything is mounted', async () => {
    const mnt = join(root, 'not-erofs');
    await mkdir(mnt);
    const tar = new MemorySource(new Uint8Array(64 * 1024).fill(7));
    assert.equal(await looksLikeErofs(tar), false);
    await assert.rejects(mountKernel(tar, mnt, { backingDir: backing }), { code: 'ERR_OCIFS_NOT_EROFS' });
    assert.deepEqual(mountsLeftUnder(root), []);
  });

  test('a blob with the EROFS magic that the kernel refuses fails with the mount error, nothing left', async () => {
    const mnt = join(root, 'bad-erofs');
    await mkdir(mnt);
    const bytes = new Uint8Array(64 * 1024);
    new DataView(bytes.buffer).setUint32(1024, 0xe0f5e1e2, true);
    await assert.rejects(mountKernel(new MemorySource(bytes), mnt, { backingDir: backing }), {
      code: 'ERR_OCIFS_MOUNT_FAILED',
    });
    assert.deepEqual(mountsLeftUnder(root), []);
    assert.deepEqual(await readdir(backing), []);
  });

  test('a busy mountpoint is refused', async () => {
    const mnt = join(root, 'busy');
    await mkdir(mnt);
    await writeFile(join(mnt, 'x'), 'x');
    const image = await FileSource.open(fixturePath('plain-512b'));
    try {
      await assert.rejects(mountKernel(image, mnt, { backingDir: backing }), { code: 'ERR_OCIFS_MOUNTPOINT_BUSY' });
    } finally {
      await image.close();
    }
    assert.deepEqual(mountsLeftUnder(root), []);
  });
});
