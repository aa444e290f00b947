// The EROFS reader against images Debian's mkfs.erofs (1.5) makes from make-tree.ts trees, in
// every layout it can write: the manifest read through the reader equals tree-manifest.ts of
// the source tree line for line, and every file, symlink and directory equals what the
// kernel's own EROFS driver shows for the same image (mount -t erofs).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, readFile, readlink, readdir, rm, lstat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileSource } from '../../src/io/file-source.js';
import type { ByteSource } from '../../src/io/byte-source.js';
import { openErofs, type ErofsFileSystem } from '../../src/erofs/index.js';
import { manifestOf, treeManifest, makeTree, assertSameManifest, pythonJson } from '../helpers/fs-manifest.js';
import { run, runOk } from '../helpers/run.js';
import { readAll } from '../unit/erofs-helpers.js';
import { getAttribute, listAttributes } from '@napi-rs/xattr';

let tmp = '';
const trees = new Map<number, string>();
const expected = new Map<number, string[]>();
const mounted = new Set<string>();
const loops = new Set<string>();

/** Extra entries make-tree.ts does not write: devices, a socket, shared xattrs, a big directory. */
async function addExtras(dir: string): Promise<void> {
  await runOk('python3', [
    '-c',
    `
import os, socket, sys
d = sys.argv[1]
s = os.path.join(d, 'special')
os.makedirs(s)
os.mknod(os.path.join(s, 'chr'), 0o20640, os.makedev(1, 3))
os.mknod(os.path.join(s, 'blk'), 0o60600, os.makedev(8, 1))
os.mknod(os.path.join(s, 'bigdev'), 0o20644, os.makedev(4095, 1048575))
sk = socket.socket(socket.AF_UNIX); sk.bind(os.path.join(s, 'sock')); sk.close()
for i in range(12):
    p = os.path.join(s, 'x%d' % i)
    open(p, 'w').write(str(i) * i)
    os.setxattr(p, 'user.shared', b'same value')
    os.setxattr(p, 'trusted.overlay.opaque', b'y')
    os.setxattr(p, 'user.own', str(i).encode() * 40)
os.setxattr(os.path.join(s, 'x1'), 'security.selinux', b'system_u:object_r:x:s0')
f = open(os.path.join(s, 'sparse'), 'wb'); f.seek(100); f.write(b'head'); f.seek(5 << 20); f.write(b'tail'); f.close()
import struct
# A default ACL (version 2): user::rwx user:1000:rw- group::r-x mask::r-x other::r--
acl = struct.pack('<I', 2) + b''.join(struct.pack('<HHI', t, p, i) for t, p, i in ((1, 7, 0xffffffff), (2, 6, 1000), (4, 5, 0xffffffff), (0x10, 5, 0xffffffff), (0x20, 4, 0xffffffff)))
os.setxattr(s, 'system.posix_acl_default', acl)
b = os.path.join(d, 'bigdir')
os.makedirs(b)
for i in range(5000):
    n = ('%05d-' % i) + 'n' * (i % 249)  # up to 254 bytes: mkfs.erofs 1.5 fails on 255-byte names
    open(os.path.join(b, n), 'w').close()
os.utime(b, (1700000000, 1700000000))
`,
    dir,
  ]);
}

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'ocifs-erofs-'));
  for (const seed of [2, 3, 4]) {
    const dir = join(tmp, `tree${seed}`);
    await makeTree(dir, seed);
    if (seed === 3) await addExtras(dir);
    trees.set(seed, dir);
    expected.set(seed, await treeManifest(dir));
  }
});

after(async () => {
  for (const m of mounted) await run('umount', [m]);
  for (const l of loops) await run('losetup', ['-d', l]);
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

interface Variant {
  name: string;
  seed: number;
  args: string[];
  /** Makes a multi-device image with its chunks in a blob. */
  blob?: boolean;
  /** mkfs drops xattrs: compare with the source manifest without them. */
  noXattrs?: boolean;
  /** The mkfs.erofs binary (default: Debian's). */
  mkfs?: string;
  /** The kernel cannot mount it (block size above the page size): skip that comparison. */
  noKernel?: boolean;
}

const variants: Variant[] = [
  { name: 'uncompressed', seed: 2, args: [] },
  { name: 'lz4', seed: 2, args: ['-zlz4'] },
  { name: 'lz4hc', seed: 3, args: ['-zlz4hc'] },
  { name: 'lz4hc 64k pclusters', seed: 3, args: ['-zlz4hc', '-C65536'] },
  { name: 'lz4 legacy (full indexes, no 0padding)', seed: 4, args: ['-zlz4', '-Elegacy-compress'] },
  { name: 'lz4hc ztailpacking', seed: 4, args: ['-zlz4hc', '-Eztailpacking'] },
  { name: 'lz4 ztailpacking 16k pclusters', seed: 3, args: ['-zlz4', '-C16384', '-Eztailpacking'] },
  { name: 'chunked block map', seed: 3, args: ['--chunksize=4096'] },
  { name: 'chunked indexes', seed: 2, args: ['--chunksize=16384', '-Eforce-chunk-indexes'] },
  { name: 'extended inodes, all xattrs shared', seed: 3, args: ['-Eforce-inode-extended', '-x0'] },
  { name: 'compact inodes', seed: 4, args: ['-Eforce-inode-compact', '-T1700000000'] },
  { name: 'no inline data', seed: 2, args: ['-Enoinline_data'] },
  { name: 'no xattrs', seed: 3, args: ['-x-1'], noXattrs: true },
  { name: 'multi-device (blobdev)', seed: 4, args: ['--chunksize=8192'], blob: true },
];

// A newer mkfs.erofs (1.9+) makes the features Debian's 1.5 cannot: set OCIFS_MKFS_EROFS_NEW to
// its path to add these variants (they are skipped otherwise; the EROFS fixtures cover the
// compression formats in the default run).
const newMkfs = process.env.OCIFS_MKFS_EROFS_NEW;
if (newMkfs) {
  const more: [string, string[], boolean?][] = [
    ['1k blocks', ['-b1024']],
    ['2k blocks lzma', ['-b2048', '-zlzma']],
    ['16k blocks', ['-b16384'], true],
    ['64k blocks deflate', ['-b65536', '-zdeflate'], true],
    ['48bit lzma (extent records)', ['-zlzma', '-E48bit']],
    ['48bit deflate 64k pclusters', ['-zdeflate', '-C65536', '-E48bit']],
    ['48bit chunks', ['--chunksize=8192', '-E48bit']],
    ['metabox', ['-zlzma', '-m4096']],
    ['long xattr prefixes', ['--xattr-prefix=trusted.overlay.', '--xattr-prefix=user.sh', '-x1']],
    ['all fragments', ['-zlzma', '-Eall-fragments']],
    ['fragments dedupe ztailpacking', ['-zdeflate', '-Efragments,dedupe,ztailpacking']],
    ['fragdedupe', ['-zlzma', '-Efragments,fragdedupe']],
    ['compressed directories', ['-zlzma', '--zD=1']],
    ['dot omitted', ['-Edot-omitted']],
    ['xattr name filter', ['-Exattr-name-filter']],
    ['two algorithms', ['-zlzma:deflate', '--random-algorithms']],
    ['random pcluster sizes', ['-zdeflate', '-C65536', '--random-pclusterblks']],
    ['legacy deflate', ['-zdeflate', '-Elegacy-compress']],
  ];
  for (const [name, args, noKernel] of more)
    variants.push({ name: `1.9 ${name}`, seed: 3, args, mkfs: newMkfs, noKernel });
}

/** Every path below `dir` of a real tree, with its type. */
async function realTree(dir: string, rel = '', out = new Map<string, string>()): Promise<Map<string, string>> {
  for (const name of await readdir(join(dir, rel))) {
    const p = rel ? `${rel}/${name}` : name;
    const st = await lstat(join(dir, p));
    const type = st.isFile() ? 'file' : st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : 'other';
    out.set(p, type);
    if (type === 'dir') await realTree(dir, p, out);
  }
  return out;
}

/** Compares every entry the reader shows with the kernel's view of the same image at `mnt`. */
async function compareWithKernel(fs: ErofsFileSystem, mnt: string): Promise<number> {
  const kernel = await realTree(mnt);
  const ours = new Map<string, string>();
  let files = 0;
  const visit = async (ino: number, prefix: string): Promise<void> => {
    for await (const e of fs.readdir(ino)) {
      const p = prefix + e.name;
      ours.set(p, ['file', 'dir', 'symlink'].includes(e.type) ? e.type : 'other');
      if (e.type !== 'symlink') {
        // Every xattr the kernel shows (all namespaces: system.posix_acl_*, security.* too).
        const kx = new Map<string, string>();
        for (const k of (await listAttributes(join(mnt, p))).sort())
          kx.set(k, Buffer.from((await getAttribute(join(mnt, p), k))!).toString('hex'));
        const ox = new Map(
          [...(await fs.listxattr(e.ino))].sort().map(([k, v]) => [k, Buffer.from(v).toString('hex')]),
        );
        assert.deepEqual(ox, kx, `${p}: xattrs differ from the kernel's`);
      }
      if (e.type === 'dir') await visit(e.ino, p + '/');
      else if (e.type === 'symlink') assert.equal(await fs.readlink(e.ino), await readlink(join(mnt, p)), p);
      else if (e.type === 'file') {
        const got = await readAll(await fs.openFile(e.ino));
        const want = await readFile(join(mnt, p));
        assert.ok(Buffer.from(got).equals(want), `${p}: content differs from the kernel's`);
        files++;
      }
    }
  };
  await visit(fs.rootIno, '');
  assert.deepEqual([...ours.entries()].sort(), [...kernel.entries()].sort());
  return files;
}

for (const v of variants) {
  test(`mkfs.erofs ${v.name}: manifest equals the source tree, content equals the kernel mount`, async () => {
    const image = join(tmp, `${v.name.replace(/\W+/g, '-')}.erofs`);
    const blob = `${image}.blob`;
    await runOk(v.mkfs ?? 'mkfs.erofs', [
      '--quiet',
      ...v.args,
      ...(v.blob ? [`--blobdev=${blob}`] : []),
      image,
      trees.get(v.seed)!,
    ]);
    const source = await FileSource.open(image);
    const devices: ByteSource[] = v.blob ? [await FileSource.open(blob)] : [];
    try {
      const fs = await openErofs(source, { devices });
      let want = expected.get(v.seed)!;
      if (v.noXattrs) want = want.map((l) => pythonJson({ ...JSON.parse(l), xattrs: undefined }));
      assertSameManifest(await manifestOf(fs), want, v.name);

      if (v.noKernel) return;
      const mnt = `${image}.mnt`;
      await mkdir(mnt);
      let opts = 'ro';
      if (v.blob) {
        const loop = (await runOk('losetup', ['-f', '--show', blob])).stdout.toString().trim();
        loops.add(loop);
        opts += `,device=${loop}`;
      }
      await runOk('mount', ['-t', 'erofs', '-o', opts, image, mnt]);
      mounted.add(mnt);
      try {
        const files = await compareWithKernel(fs, mnt);
        assert.ok(files > 1500, `only ${files} files compared`);
      } finally {
        await runOk('umount', [mnt]);
        mounted.delete(mnt);
      }
      if (v.blob) {
        // Without the blob, chunk reads fail with a clear error instead of wrong bytes.
        const alone = await openErofs(source);
        const big = await alone.lookup((await alone.lookup(alone.rootIno, 'big'))!.ino, 'random-1M.bin');
        await assert.rejects(
          (await alone.openFile(big!.ino)).read(0, 10),
          (e: Error & { code?: string }) => e.code === 'ERR_OCIFS_EROFS_DEVICE_MISSING',
        );
      }
    } finally {
      await source.close();
      for (const d of devices) await d.close?.();
      for (const l of loops) {
        await run('losetup', ['-d', l]);
        loops.delete(l);
      }
    }
  });
}
