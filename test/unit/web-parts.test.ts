// The pieces of `ocifs web` below its HTTP layer: the gate's Host rule, content sniffing, the
// ELF reader (against readelf), the tar stream of a directory (extracted by GNU tar), a layer's
// change marks (against the merge rules), the history beside its layers, the view parameter.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileSource } from '../../src/io/file-source.js';
import { MemoryFs, type MemoryEntry } from '../../src/vfs/memory-fs.js';
import { MergedFileSystem } from '../../src/vfs/merge.js';
import { hostAllowed, readCookie, tokenMatches } from '../../src/web/security.js';
import { looksLikeText, sniff } from '../../src/web/sniff.js';
import { readElf } from '../../src/web/elf.js';
import { paxRecord, tarTree } from '../../src/web/tar-stream.js';
import { layerChanges } from '../../src/web/changes.js';
import { announcedFormat, historyDocs } from '../../src/web/api-image.js';
import { parseViewName } from '../../src/web/image-views.js';
import { runOk } from '../helpers/run.js';
import { tinyPng } from '../helpers/web.js';

test('the gate: Host names this server (localhost, an IP, the name it listens on) with its port', () => {
  const e = { port: 8123, listenHost: '127.0.0.1' };
  for (const ok of ['127.0.0.1:8123', 'localhost:8123', '[::1]:8123', '10.1.2.3:8123'])
    assert.equal(hostAllowed(ok, e), true, ok);
  for (const bad of [
    'evil.example:8123',
    '127.0.0.1:8124',
    '127.0.0.1',
    'localhost.evil:8123',
    '[::1]x:8123',
    '[evil]:8123',
    '',
    '127.0.0.1:8123:1',
  ]) {
    assert.equal(hostAllowed(bad, e), false, bad);
  }
  assert.equal(hostAllowed('box.lan:8123', { port: 8123, listenHost: 'box.lan' }), true);
  assert.equal(readCookie('a=1; ocifs_web_1=tok; b=2', 'ocifs_web_1'), 'tok');
  assert.equal(readCookie('xocifs_web_1=tok', 'ocifs_web_1'), undefined);
  assert.equal(tokenMatches('abc', 'abc'), true);
  assert.equal(tokenMatches('abd', 'abc'), false);
  assert.equal(tokenMatches('ab', 'abc'), false);
  assert.equal(tokenMatches(undefined, 'abc'), false);
});

test('sniff: pictures by magic, SVG by its root element, text as UTF-8 without NUL', () => {
  const b = (s: string) => Buffer.from(s);
  assert.equal(sniff(tinyPng(), 100), 'png');
  assert.equal(sniff(Buffer.from([0xff, 0xd8, 0xff, 0xe0]), 4), 'jpeg');
  assert.equal(sniff(b('GIF89a...'), 9), 'gif');
  assert.equal(sniff(b('<?xml version="1.0"?>\n<!-- x -->\n<!DOCTYPE svg>\n<svg width="1"/>'), 60), 'svg');
  assert.equal(sniff(b('<html><svg></svg></html>'), 30), 'text');
  assert.equal(sniff(b('plain text\n'), 11), 'text');
  assert.equal(sniff(Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2]), 5), 'elf');
  assert.equal(sniff(Buffer.from([1, 2, 0, 4]), 4), 'binary');
  assert.equal(sniff(Buffer.alloc(0), 0), 'empty');
  // A multi-byte character cut by the end of the sample is still text; a bad sequence is not.
  assert.equal(looksLikeText(Buffer.from('héllo €', 'utf8').subarray(0, 9)), true);
  assert.equal(looksLikeText(Buffer.from([0x68, 0xc3, 0x28])), false);
  assert.equal(looksLikeText(Buffer.from([0xc0, 0x80])), false);
});

test('readElf agrees with readelf on the host’s binaries and libraries', async () => {
  for (const path of ['/bin/true', '/usr/bin/node', '/usr/lib/x86_64-linux-gnu/libc.so.6']) {
    const exists = await stat(path).then(
      () => true,
      () => false,
    );
    if (!exists) continue;
    const file = await FileSource.open(path);
    try {
      const elf = (await readElf(file))!;
      const out = (
        await runOk('readelf', ['-h', '-l', '-W', path], { env: { ...process.env, LC_ALL: 'C' } })
      ).stdout.toString();
      assert.equal(elf.class, /Class:\s+ELF64/.test(out) ? 64 : 32, path);
      assert.equal(elf.entry, /Entry point address:\s+(0x[0-9a-f]+)/.exec(out)![1], path);
      assert.equal(elf.interpreter, /Requesting program interpreter: ([^\]]+)\]/.exec(out)?.[1], path);
      assert.match(elf.type, new RegExp(`^${/Type:\s+(\w+)/.exec(out)![1]} `), path);
      assert.equal(elf.machine, /Machine:\s+Advanced Micro Devices X86-64/.test(out) ? 'x86-64' : elf.machine, path);
    } finally {
      await file.close();
    }
  }
  const notElf = await FileSource.open('/etc/hostname');
  try {
    assert.equal(await readElf(notElf), undefined);
  } finally {
    await notElf.close();
  }
});

test('a pax record’s length counts itself, across digit boundaries', () => {
  for (const n of [1, 5, 6, 7, 85, 86, 87, 88, 95, 96, 990, 994, 995, 996, 1000, 5000]) {
    const r = paxRecord('path', 'x'.repeat(n));
    assert.equal(Number(r.slice(0, r.indexOf(' '))), Buffer.byteLength(r), `value of ${n}`);
  }
});

test('tarTree: GNU tar extracts the subtree exactly (long and non-ASCII names, links, devices)', async () => {
  const long = 'd'.repeat(90) + '/' + 'n'.repeat(120);
  const fs = MemoryFs.fromEntries([
    { path: 'top/a.txt', type: 'file', content: 'alpha\n', mode: 0o640, uid: 1234, gid: 4321 },
    { path: `top/${long}`, type: 'file', content: 'deep\n' },
    { path: 'top/ünïcödé €.txt', type: 'file', content: 'utf8\n' },
    { path: 'top/link', type: 'symlink', target: '../outside/x' },
    { path: 'top/hard', link: 'top/a.txt' },
    { path: 'top/big-id', type: 'file', content: 'id\n', uid: 3_000_000, gid: 3_000_001 },
    { path: 'top/fifo', type: 'fifo' },
    { path: 'top/sock', type: 'socket' },
    { path: 'top/empty', type: 'dir', mode: 0o700 },
    { path: 'outside/x', type: 'file', content: 'not in the download\n' },
  ] as MemoryEntry[]);
  const tmp = await mkdtemp(join(tmpdir(), 'ocifs-tar-'));
  try {
    const chunks: Uint8Array[] = [];
    for await (const c of tarTree(fs, '/top', 'top')) chunks.push(c);
    const tar = Buffer.concat(chunks);
    assert.equal(tar.byteLength % 512, 0);
    await writeFile(join(tmp, 't.tar'), tar);
    await runOk('tar', ['-xf', join(tmp, 't.tar'), '-C', tmp, '--same-owner', '--numeric-owner']);
    assert.equal(await readFile(join(tmp, 'top/a.txt'), 'utf8'), 'alpha\n');
    assert.equal(await readFile(join(tmp, 'top', long), 'utf8'), 'deep\n');
    assert.equal(await readFile(join(tmp, 'top/ünïcödé €.txt'), 'utf8'), 'utf8\n');
    assert.equal(await readlink(join(tmp, 'top/link')), '../outside/x');
    const a = await stat(join(tmp, 'top/a.txt'));
    const hard = await stat(join(tmp, 'top/hard'));
    assert.equal(hard.ino, a.ino);
    assert.equal(a.mode & 0o7777, 0o640);
    if (process.getuid?.() === 0) {
      assert.deepEqual([a.uid, a.gid], [1234, 4321]);
      const big = await stat(join(tmp, 'top/big-id'));
      assert.deepEqual([big.uid, big.gid], [3_000_000, 3_000_001]);
    }
    assert.ok((await stat(join(tmp, 'top/fifo'))).isFIFO());
    assert.equal((await stat(join(tmp, 'top/empty'))).mode & 0o7777, 0o700);
    await assert.rejects(stat(join(tmp, 'top/sock')));
    await assert.rejects(stat(join(tmp, 'outside')));
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
});

test('layerChanges: added, changed and deleted as a layer made them (OCI and overlayfs whiteouts, opaque)', async () => {
  const f = (path: string, content = path): MemoryEntry => ({ path, type: 'file', content });
  const lower = MemoryFs.fromEntries([
    f('a/keep'),
    f('a/old'),
    f('a/gone'),
    { path: 'a/sub/x', type: 'file', content: 'x' },
    f('b/one'),
    f('b/two'),
    f('c/ov'),
  ]);
  const top = MemoryFs.fromEntries([
    f('a/old', 'new content'),
    f('a/fresh'),
    f('a/.wh.gone', ''),
    f('a/.wh.sub', ''),
    f('b/.wh..wh..opq', ''),
    f('b/two', 'again'),
    { path: 'c/ov', type: 'chardev', rdev: 0 },
  ]);
  const below = new MergedFileSystem([lower]);
  const a = await layerChanges(top, below, '/a');
  assert.deepEqual(Object.fromEntries(a.marks), { old: 'changed', fresh: 'added' });
  assert.deepEqual(a.deleted.map((d) => [d.name, d.inode.type]).sort(), [
    ['gone', 'file'],
    ['sub', 'dir'],
  ]);
  const b = await layerChanges(top, below, '/b');
  assert.deepEqual(Object.fromEntries(b.marks), { two: 'changed' });
  assert.deepEqual(
    b.deleted.map((d) => d.name),
    ['one'],
  );
  const c = await layerChanges(top, below, '/c');
  assert.deepEqual(
    c.deleted.map((d) => d.name),
    ['ov'],
  );
  const root = await layerChanges(top, below, '/');
  assert.deepEqual(Object.fromEntries(root.marks), { a: 'changed', b: 'changed', c: 'changed' });
  // The bottom layer added everything; a directory the layer does not have changed nothing.
  assert.deepEqual(Object.fromEntries((await layerChanges(lower, undefined, '/a')).marks), {
    keep: 'added',
    old: 'added',
    gone: 'added',
    sub: 'added',
  });
  assert.deepEqual((await layerChanges(top, below, '/a/sub')).marks.size, 0);
});

test('history steps sit beside the layers they made; formats are announced by media type', () => {
  const docs = historyDocs(
    [{ created_by: 'a' }, { created_by: 'cfg', empty_layer: true }, { created_by: 'b' }, { created_by: 'c' }],
    2,
  );
  assert.deepEqual(
    docs.map((d) => [d.createdBy, d.layer, d.emptyLayer]),
    [
      ['a', 0, false],
      ['cfg', undefined, true],
      ['b', 1, false],
      ['c', undefined, false],
    ],
  );
  assert.equal(
    announcedFormat('application/vnd.oci.image.layer.v1.tar+gzip', {
      'containerd.io/snapshot/stargz/toc.digest': 'sha256:x',
    }),
    'tar+gzip (eStargz)',
  );
  assert.equal(announcedFormat('application/vnd.docker.image.rootfs.diff.tar.gzip', undefined), 'tar+gzip');
  assert.equal(announcedFormat('application/vnd.oci.image.layer.v1.tar+zstd', undefined), 'tar+zstd');
  assert.equal(announcedFormat('application/vnd.erofs.layer.v1', undefined), 'erofs');
  assert.equal(announcedFormat('application/octet-stream', undefined), 'unknown until read');
  assert.equal(parseViewName(null, 3), 'merged');
  assert.equal(parseViewName('-1', 3), 2);
  assert.equal(parseViewName('0', 3), 0);
  for (const bad of ['3', '-4', 'x', '1.5', '9999999'])
    assert.throws(() => parseViewName(bad, 3), { code: 'ERR_OCIFS_NO_SUCH_LAYER' });
});
