// The tar index and TarFileSystem against archives written by GNU tar in every format real
// layers use, compared with what `tar x` extracts (tree-manifest.ts lines, every file's bytes).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, mkdir, writeFile, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileSource } from '../../src/io/file-source.js';
import { MemorySource } from '../../src/io/memory-source.js';
import { scanTar, loadOrScanTar } from '../../src/tar/tar-scan.js';
import { TarFileSystem } from '../../src/tar/tar-fs.js';
import { decodeTarIndex, encodeTarIndex, TAR_INDEX_NAME } from '../../src/tar/tar-index.js';
import { MemoryIndexStore } from '../../src/tar/index-store.js';
import { resolvePath } from '../../src/vfs/path.js';
import { assertSameManifest, makeTree, manifestOf, treeManifest } from '../helpers/fs-manifest.js';
import { run, runOk } from '../helpers/run.js';
import { CountingSource, header } from './tar-test-helpers.js';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ocifs-tar-'));
  await makeTree(join(dir, 'tree'), 1);
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function tarFs(path: string): Promise<{ fs: TarFileSystem; src: FileSource }> {
  const src = await FileSource.open(path);
  const index = await scanTar(src);
  return { fs: new TarFileSystem(index, src), src };
}

async function extractManifest(tarPath: string, name: string, xattrs: boolean): Promise<string[]> {
  const out = join(dir, `x-${name}`);
  await mkdir(out);
  await runOk('tar', [
    '-xf',
    tarPath,
    '-C',
    out,
    '--numeric-owner',
    '-p',
    ...(xattrs ? ['--xattrs', '--xattrs-include=*'] : []),
  ]);
  return treeManifest(out);
}

for (const [format, xattrs] of [
  ['gnu', false],
  ['pax', true],
  ['posix', false],
  ['ustar', false],
] as const) {
  test(`GNU tar --format=${format}${xattrs ? ' --xattrs' : ''}: index + TarFileSystem equal tar x`, async () => {
    const tarPath = join(dir, `${format}.tar`);
    // ustar cannot hold the 300-byte symlink target: GNU tar leaves it out and exits 2.
    const made = await run('tar', [
      '-cf',
      tarPath,
      `--format=${format}`,
      ...(xattrs ? ['--xattrs', '--xattrs-include=*'] : []),
      '-C',
      join(dir, 'tree'),
      '.',
    ]);
    assert.ok(made.code === 0 || (format === 'ustar' && made.code === 2), made.stderr);
    const { fs, src } = await tarFs(tarPath);
    try {
      const expected = await extractManifest(tarPath, format, xattrs);
      assertSameManifest(await manifestOf(fs), expected, format);
      if (xattrs)
        assert.ok(
          expected.some((l) => l.includes('user.ocifs.note')),
          'xattrs made it into the archive',
        );
      // Hardlinks share an inode and count their links.
      const a = await resolvePath(fs, '/bin/tool');
      const b = await resolvePath(fs, '/bin/tool-hardlink');
      assert.equal(a.ino, b.ino);
      assert.equal(a.nlink, 2);
      // The index survives a round trip through its serialised form.
      const again = await decodeTarIndex(await encodeTarIndex(fs.index));
      assert.deepEqual(again, fs.index);
    } finally {
      await src.close();
    }
  });
}

test('listing an uncompressed tar reads little more than its headers', async () => {
  const t = join(dir, 'bigfiles');
  await mkdir(t);
  for (let i = 0; i < 20; i++) await writeFile(join(t, `f${i}`), Buffer.alloc(1 << 20, i));
  const tarPath = join(dir, 'bigfiles.tar');
  await runOk('tar', ['-cf', tarPath, '--format=pax', '-C', t, '.']);
  const file = await FileSource.open(tarPath);
  try {
    const counting = new CountingSource(file);
    const index = await scanTar(counting);
    assert.equal(index.entries.length, 21);
    assert.ok(counting.bytes <= 22 * 16 * 1024, `read ${counting.bytes} of ${file.size} bytes`);
    // Reading one file reads that file only.
    const fs = new TarFileSystem(index, counting);
    const st = await resolvePath(fs, '/f7');
    counting.bytes = 0;
    const bytes = await (await fs.openFile(st.ino)).read(0, st.size);
    assert.deepEqual(Buffer.from(bytes), Buffer.alloc(1 << 20, 7));
    assert.equal(counting.bytes, 1 << 20);
  } finally {
    await file.close();
  }
});

test('sparse files in every GNU sparse format read back byte for byte', async () => {
  const t = join(dir, 'sparse');
  await mkdir(t);
  const p = join(t, 'holes.bin');
  await runOk('truncate', ['-s', '20M', p]);
  await runOk('sh', [
    '-c',
    `printf 'head' | dd of=${p} conv=notrunc status=none; printf 'middle' | dd of=${p} bs=1 seek=9000000 conv=notrunc status=none; printf 'tail' | dd of=${p} bs=1 seek=15000000 conv=notrunc status=none`,
  ]);
  const want = await readFile(p);
  for (const [name, args] of [
    ['oldgnu', ['--format=gnu']],
    ['pax-0.0', ['--format=pax', '--sparse-version=0.0']],
    ['pax-0.1', ['--format=pax', '--sparse-version=0.1']],
    ['pax-1.0', ['--format=pax', '--sparse-version=1.0']],
  ] as const) {
    const tarPath = join(dir, `sparse-${name}.tar`);
    await runOk('tar', ['-cf', tarPath, '--sparse', ...args, '-C', t, 'holes.bin']);
    const { fs, src } = await tarFs(tarPath);
    try {
      const e = fs.index.entries.find((x) => x.path === 'holes.bin')!;
      assert.ok(e.sparse && e.sparse.length >= 2, `${name}: stored as sparse`);
      const st = await resolvePath(fs, '/holes.bin');
      assert.equal(st.size, want.length);
      const got = await (await fs.openFile(st.ino)).read(0, st.size);
      assert.ok(Buffer.from(got).equals(want), `${name}: bytes equal`);
      const mid = await (await fs.openFile(st.ino)).read(8999998, 10);
      assert.deepEqual(Buffer.from(mid), want.subarray(8999998, 9000008));
    } finally {
      await src.close();
    }
  }
});

test('GNU base-256 ids, negative mtimes, pax fractional mtimes, devices and fifos', async () => {
  const t = join(dir, 'odd');
  await mkdir(t);
  await writeFile(join(t, 'f'), 'x');
  await runOk('touch', ['-d', '@1700000000.123456789', join(t, 'f')]);
  await runOk('mknod', [join(t, 'null'), 'c', '1', '3']);
  await runOk('mknod', [join(t, 'blk'), 'b', '259', '70000']);
  await runOk('mkfifo', [join(t, 'fifo')]);
  const gnu = join(dir, 'odd-gnu.tar');
  await runOk('tar', [
    '-cf',
    gnu,
    '--format=gnu',
    '--owner=u:3000000',
    '--group=g:3000001',
    '--mtime=@-86400',
    '-C',
    t,
    '.',
  ]);
  let { fs, src } = await tarFs(gnu);
  try {
    const st = await resolvePath(fs, '/f');
    assert.equal(st.uid, 3000000);
    assert.equal(st.gid, 3000001);
    assert.equal(st.mtimeSec, -86400);
    const dev = await resolvePath(fs, '/null');
    assert.equal(dev.type, 'chardev');
    assert.equal(dev.rdev, 0x103);
    const blk = await resolvePath(fs, '/blk');
    assert.equal(blk.type, 'blockdev');
    // makedev(259, 70000): minor's high bits go to bits 20+.
    assert.equal(blk.rdev, (259 << 8) | (70000 & 0xff) | ((70000 & ~0xff) << 12));
    assert.equal((await resolvePath(fs, '/fifo')).type, 'fifo');
  } finally {
    await src.close();
  }
  const pax = join(dir, 'odd-pax.tar');
  await runOk('tar', ['-cf', pax, '--format=pax', '-C', t, 'f']);
  ({ fs, src } = await tarFs(pax));
  try {
    const st = await resolvePath(fs, '/f');
    assert.equal(st.mtimeSec, 1700000000);
    assert.equal(st.mtimeNsec, 123456789);
  } finally {
    await src.close();
  }
});

test('long names and link targets (GNU ././@LongLink and pax path/linkpath)', async () => {
  const t = join(dir, 'long');
  const deep = 'd'.repeat(120) + '/' + 'e'.repeat(150);
  await mkdir(join(t, deep), { recursive: true });
  await writeFile(join(t, deep, 'f'.repeat(200)), 'long');
  await runOk('ln', ['-s', 't'.repeat(250), join(t, 'sym')]);
  await runOk('ln', [join(t, deep, 'f'.repeat(200)), join(t, 'hard')]);
  for (const format of ['gnu', 'pax']) {
    const tarPath = join(dir, `long-${format}.tar`);
    await runOk('tar', ['-cf', tarPath, `--format=${format}`, '-C', t, '.']);
    const { fs, src } = await tarFs(tarPath);
    try {
      const st = await resolvePath(fs, `/${deep}/${'f'.repeat(200)}`);
      assert.equal(Buffer.from(await (await fs.openFile(st.ino)).read(0, 10)).toString(), 'long');
      assert.equal(await fs.readlink((await resolvePath(fs, '/sym', { followFinal: false })).ino), 't'.repeat(250));
      assert.equal((await resolvePath(fs, '/hard')).ino, st.ino);
      assert.deepEqual(await manifestOf(fs), await extractManifest(tarPath, `long-${format}`, false));
    } finally {
      await src.close();
    }
  }
});

test('a stored index is reused, and a damaged one is rebuilt, never used', async () => {
  const tarPath = join(dir, 'pax.tar');
  const src = await FileSource.open(tarPath);
  try {
    const store = new MemoryIndexStore();
    const first = await loadOrScanTar(src, store);
    const stored = store.map.get(TAR_INDEX_NAME)!;
    assert.ok(stored.length < src.size / 20, `index ${stored.length} bytes for a ${src.size}-byte tar`);
    const counting = new CountingSource(src);
    assert.deepEqual(await loadOrScanTar(counting, store), first);
    assert.equal(counting.bytes, 0, 'no rescan');
    for (const at of [0, 9, 20, stored.length - 1]) {
      const bad = stored.slice();
      bad[at] ^= 0x55;
      await store.put(TAR_INDEX_NAME, bad);
      await assert.rejects(decodeTarIndex(bad), { code: 'ERR_OCIFS_CORRUPT_INDEX' });
      assert.deepEqual(await loadOrScanTar(src, store), first);
    }
  } finally {
    await src.close();
  }
});

function archive(...parts: Uint8Array[]): MemorySource {
  return new MemorySource(Buffer.concat([...parts, Buffer.alloc(1024)]));
}

test("hostile archives: bad checksums, impossible sizes, .. names are refused; a dangling hardlink is a lower layer's file", async () => {
  const bad = header('a');
  bad[0] ^= 1;
  await assert.rejects(
    scanTar(archive(bad)),
    (e: any) => e.code === 'ERR_OCIFS_CORRUPT_TAR' && /checksum/.test(e.message) && e.data.offset === 0,
  );
  await assert.rejects(
    scanTar(archive(header('big', { size: 1 << 30 }))),
    (e: any) => e.code === 'ERR_OCIFS_CORRUPT_TAR' && /past the end/.test(e.message) && e.data.entry === 'big',
  );
  await assert.rejects(
    scanTar(archive(header('../etc/passwd'))),
    (e: any) => e.code === 'ERR_OCIFS_CORRUPT_TAR' && /unsafe/.test(e.message),
  );
  await assert.rejects(scanTar(archive(header('a/../../b'))), { code: 'ERR_OCIFS_CORRUPT_TAR' });
  await assert.rejects(scanTar(archive(header('x', { type: '1', link: '../../etc/shadow' }))), {
    code: 'ERR_OCIFS_CORRUPT_TAR',
  });
  const dangling = await scanTar(archive(header('x', { type: '1', link: 'nothing' })));
  // Docker and containerd link it to the file of a lower layer: the layer opens, reading the link alone says why it cannot.
  const alone = new TarFileSystem(dangling, archive(header('x', { type: '1', link: 'nothing' })));
  const x = (await alone.lookup(alone.rootIno, 'x'))!;
  assert.equal(x.type, 'file');
  assert.equal(alone.lowerLink(x.ino), 'nothing');
  await assert.rejects(alone.openFile(x.ino), { code: 'ERR_OCIFS_EXTERNAL_HARDLINK' });
  // A self-referencing hardlink is not a loop: it keeps what the path had.
  const selfSrc = archive(
    header('a', { size: 3 }),
    Buffer.from('abc'.padEnd(512, '\0')),
    header('a', { type: '1', link: 'a' }),
  );
  const self = new TarFileSystem(await scanTar(selfSrc), selfSrc);
  const a = await resolvePath(self, '/a');
  assert.equal(a.nlink, 1);
  assert.equal(Buffer.from(await (await self.openFile(a.ino)).read(0, 3)).toString(), 'abc');
  // Absolute names are made relative; truncation inside a member is an error.
  const abs = await scanTar(archive(header('/abs/file')));
  assert.equal(abs.entries[0].path, 'abs/file');
  const trunc = Buffer.concat([header('t', { size: 1000 }), Buffer.alloc(600)]);
  await assert.rejects(scanTar(new MemorySource(trunc)), { code: 'ERR_OCIFS_CORRUPT_TAR' });
  // Regression (found by scripts/fuzz-tar.ts): GNU sparse records on a directory.
  const rec = '22 GNU.sparse.major=1\n';
  const paxDir = archive(
    header('PaxHeaders/d', { type: 'x', size: rec.length }),
    Buffer.from(rec.padEnd(512, '\0')),
    header('d/', { type: '5' }),
  );
  await assert.rejects(
    scanTar(paxDir),
    (e: any) => e.code === 'ERR_OCIFS_CORRUPT_TAR' && /sparse records on a dir/.test(e.message),
  );
  // Regression (umoci 0.4.7 insert): the archive stops right after the last member's data.
  const unpadded = Buffer.concat([
    header('a', { size: 3 }),
    Buffer.from('abc'.padEnd(512, '\0')),
    header('t', { size: 1000 }),
    Buffer.alloc(1000, 7),
  ]);
  const idx = await scanTar(new MemorySource(unpadded));
  assert.deepEqual(
    idx.entries.map((e) => [e.path, e.size]),
    [
      ['a', 3],
      ['t', 1000],
    ],
  );
});

test('tar semantics: later members replace earlier ones, implicit parents, whiteouts are plain entries', async () => {
  const body = (s: string) => Buffer.from(s.padEnd(512, '\0'));
  const src = archive(
    header('d/f', { size: 3 }),
    body('one'),
    header('d/f', { size: 3 }),
    body('two'),
    header('x/y/z', { size: 1 }),
    body('z'),
    header('x', { type: '5', mode: 0o700 }),
    header('d/.wh.gone', { size: 0 }),
    header('d/.wh..wh..opq', { size: 0 }),
    header('s', { type: '2', link: '/etc/passwd' }),
  );
  const fs = new TarFileSystem(await scanTar(src), src);
  const f = await resolvePath(fs, '/d/f');
  assert.equal(Buffer.from(await (await fs.openFile(f.ino)).read(0, 3)).toString(), 'two');
  const x = await resolvePath(fs, '/x');
  assert.equal(x.mode, 0o40700, 'a later directory member updates the implicit directory');
  const y = await resolvePath(fs, '/x/y');
  assert.deepEqual([y.mode, y.uid, y.gid, y.mtimeSec], [0o40755, 0, 0, 0]);
  const names: string[] = [];
  for await (const e of fs.readdir((await resolvePath(fs, '/d')).ino)) names.push(e.name);
  assert.deepEqual(names, ['f', '.wh.gone', '.wh..wh..opq']);
  assert.equal(await fs.readlink((await resolvePath(fs, '/s', { followFinal: false })).ino), '/etc/passwd');
});
