// MergedFileSystem: the whiteout/opaque/replace rules of the OCI image spec and overlayfs, on
// MemoryFs layers, checked case by case and against an independent model that applies layers
// one after the other the way `umoci unpack` does (random layer stacks).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MergedFileSystem } from '../../src/vfs/merge.js';
import { resolvePath } from '../../src/vfs/path.js';
import { walk } from '../../src/vfs/walk.js';
import type { FileSystem } from '../../src/vfs/types.js';
import { mulberry32 as rng } from '../helpers/prng.js';
import { MemorySource } from '../../src/io/memory-source.js';
import { TarFileSystem } from '../../src/tar/tar-fs.js';
import { scanTar } from '../../src/tar/tar-scan.js';
import { header } from './tar-test-helpers.js';
import { dec, dir, file, layer, model, opq, randomLayer, tree, wh } from '../helpers/layer-stacks.js';

test('OCI whiteout hides a lower file and is itself never shown', async () => {
  const m = new MergedFileSystem([layer(file('a/x'), file('a/y')), layer(wh('a/x'))]);
  assert.deepEqual(await tree(m), { a: 'dir', 'a/y': 'file:a/y' });
  const a = await resolvePath(m, '/a');
  assert.equal(await m.lookup(a.ino, 'x'), undefined);
  assert.equal(await m.lookup(a.ino, '.wh.x'), undefined);
});

test('opaque whiteout hides everything below in that directory, not the directory itself', async () => {
  const m = new MergedFileSystem([
    layer(dir('a', { mode: 0o700 }), file('a/x'), file('a/sub/z'), file('b')),
    layer(dir('a', { mode: 0o750 }), opq('a'), file('a/n')),
  ]);
  assert.deepEqual(await tree(m), { a: 'dir', 'a/n': 'file:a/n', b: 'file:b' });
  assert.equal((await resolvePath(m, '/a')).mode & 0o7777, 0o750);
  assert.equal(await m.lookup((await resolvePath(m, '/a')).ino, '.wh..wh..opq'), undefined);
});

test('an opaque marker at the root hides all lower layers', async () => {
  const m = new MergedFileSystem([layer(file('x'), dir('d')), layer(file('.wh..wh..opq', ''), file('y'))]);
  assert.deepEqual(await tree(m), { y: 'file:y' });
});

test('a file replaces a lower directory and a directory replaces a lower file', async () => {
  const m = new MergedFileSystem([
    layer(file('a/x'), file('b'), dir('c/d')),
    layer(file('a', 'now a file'), file('b/y'), { path: 'c', type: 'symlink', target: '/x' }),
  ]);
  assert.deepEqual(await tree(m), { a: 'file:now a file', b: 'dir', 'b/y': 'file:b/y', c: 'symlink:/x' });
  await assert.rejects(resolvePath(m, '/a/x'), { code: 'ERR_OCIFS_NOT_A_DIRECTORY' });
});

test('deep paths merge through several layers; a whiteout of a directory removes its subtree', async () => {
  const m = new MergedFileSystem([
    layer(file('p/q/r/s/t/f0'), file('p/keep')),
    layer(file('p/q/r/s/t/f1')),
    layer(wh('p/q/r')),
    layer(file('p/q/r/new')),
    layer(file('p/q/r/s/t/f4')),
  ]);
  assert.deepEqual(await tree(m), {
    p: 'dir',
    'p/keep': 'file:p/keep',
    'p/q': 'dir',
    'p/q/r': 'dir',
    'p/q/r/new': 'file:p/q/r/new',
    'p/q/r/s': 'dir',
    'p/q/r/s/t': 'dir',
    'p/q/r/s/t/f4': 'file:p/q/r/s/t/f4',
  });
});

test('a whiteout beside a directory of the same layer: the directory was made anew', async () => {
  const m = new MergedFileSystem([
    layer(file('d/old'), file('x', 'old')),
    layer(wh('d'), file('d/new'), file('x', 'new'), wh('x')),
  ]);
  assert.deepEqual(await tree(m), { d: 'dir', 'd/new': 'file:d/new', x: 'file:new' });
});

test('whiteouts in the bottom layer hide nothing and are not shown', async () => {
  const m = new MergedFileSystem([layer(file('a'), wh('b'), opq('d'))]);
  assert.deepEqual(await tree(m), { a: 'file:a', d: 'dir' });
});

test('hardlinks: shared inode within a layer; replacing one name in an upper layer leaves the other', async () => {
  const l0 = layer(file('h1', 'old'), { path: 'h2', link: 'h1' }, file('h3', 'three'));
  const l1 = layer(file('h1', 'new'), { path: 'h4', link: 'h1' });
  const m = new MergedFileSystem([l0, l1]);
  assert.deepEqual(await tree(m), { h1: 'file:new', h2: 'file:old', h3: 'file:three', h4: 'file:new' });
  const ino = async (p: string) => (await resolvePath(m, p)).ino;
  assert.equal(await ino('/h1'), await ino('/h4'));
  assert.notEqual(await ino('/h1'), await ino('/h2'));
  // Numbers are unique across layers (both layers number their inodes from 1), and stable.
  const seen = new Map<number, string>();
  for await (const e of walk(m)) {
    if (seen.has(e.inode.ino) && !['/h1', '/h4'].includes(e.path))
      assert.fail(`${e.path} shares ${e.inode.ino} with ${seen.get(e.inode.ino)}`);
    seen.set(e.inode.ino, e.path);
    assert.deepEqual(await m.getattr(e.inode.ino), e.inode);
  }
  assert.equal(await ino('/h3'), await ino('/h3'));
  assert.deepEqual(m.origin(await ino('/h3')), { layer: 0, ino: l0.inoOf('h3') });
});

test('overlayfs whiteouts: 0/0 char device, opaque xattr (trusted. and user.), xattrs hidden', async () => {
  const m = new MergedFileSystem([
    layer(file('a/x'), file('a/y'), file('d/z'), file('e/z'), { path: 'a/dev', type: 'chardev', rdev: 0x0103 }),
    layer(
      { path: 'a/x', type: 'chardev', rdev: 0 },
      { path: 'a/dev', type: 'chardev', rdev: 0x0105 },
      dir('d', { xattrs: { 'trusted.overlay.opaque': 'y', 'user.keep': 'k' } }),
      file('d/w'),
      dir('e', { xattrs: { 'user.overlay.opaque': 'y' } }),
      { path: 'gone', type: 'chardev', rdev: 0 },
    ),
  ]);
  assert.deepEqual(await tree(m), {
    a: 'dir',
    'a/dev': 'chardev',
    'a/y': 'file:a/y',
    d: 'dir',
    'd/w': 'file:d/w',
    e: 'dir',
  });
  const d = await resolvePath(m, '/d');
  assert.deepEqual([...(await m.listxattr(d.ino)).keys()], ['user.keep']);
  assert.equal((await resolvePath(m, '/a/dev')).rdev, 0x0105);
  // With OCI-only layers the char device is a real entry.
  const oci = new MergedFileSystem([layer(file('a')), layer({ path: 'a', type: 'chardev', rdev: 0 })], {
    whiteouts: 'oci',
  });
  assert.deepEqual(await tree(oci), { a: 'chardev' });
  // With overlay-only layers `.wh.` names are ordinary files.
  const ovl = new MergedFileSystem([
    { fs: layer(file('a')), whiteouts: 'overlay' },
    { fs: layer(wh('a')), whiteouts: 'overlay' },
  ]);
  assert.deepEqual(await tree(ovl), { '.wh.a': 'file:', a: 'file:a' });
});

test('lookups touch only the layers they need', async () => {
  const l0 = layer(file('base/x'), file('shared/lower'));
  const l1 = layer(file('top/f'), file('shared/upper'));
  const m = new MergedFileSystem([l0, l1]);
  const reset = () => Object.keys(l0.calls).forEach((k) => (l0.calls[k as keyof typeof l0.calls] = 0));
  const lowerCalls = () => Object.values(l0.calls).reduce((a, b) => a + b, 0);
  reset();
  const top = await resolvePath(m, '/top');
  assert.ok(await m.lookup(top.ino, 'f'));
  assert.ok(await resolvePath(m, '/shared/upper'));
  assert.equal(lowerCalls(), 0, 'a name the top layer has is found without reading the lower layer');
  assert.equal(await m.lookup(top.ino, 'nope'), undefined);
  assert.ok(lowerCalls() > 0, 'a missing name must be looked for below');
  assert.equal(
    dec.decode(await (await m.openFile((await resolvePath(m, '/shared/lower')).ino)).read(0, 100)),
    'shared/lower',
  );
});

test('directory metadata: the topmost layer, or the next one when the top only implies it', async () => {
  const l0 = layer(dir('a', { mode: 0o700, mtimeSec: 10, xattrs: { 'user.l': '0' } }), file('a/x'));
  const l1 = layer(dir('a', { mode: 0o755, mtimeSec: 20, xattrs: { 'user.l': '1' } }), file('a/y'));
  const m = new MergedFileSystem([l0, l1]);
  const a = await resolvePath(m, '/a');
  assert.equal(a.mtimeSec, 20);
  assert.deepEqual(await m.getattr(a.ino), a);
  const implied = new MergedFileSystem([l0, { fs: l1, impliedDir: (ino) => ino === l1.inoOf('a') }]);
  const b = await resolvePath(implied, '/a');
  assert.equal(b.mtimeSec, 10);
  assert.equal(b.mode & 0o7777, 0o700);
  assert.equal(dec.decode((await implied.listxattr(b.ino)).get('user.l')), '0');
  assert.deepEqual(await tree(implied), { a: 'dir', 'a/x': 'file:a/x', 'a/y': 'file:a/y' });
});

test('bad merged inode numbers and options are refused', async () => {
  const m = new MergedFileSystem([layer(file('f'))]);
  const f = (await resolvePath(m, '/f')).ino;
  await assert.rejects(m.readdir(f)[Symbol.asyncIterator]().next(), { code: 'ERR_OCIFS_NOT_A_DIRECTORY' });
  await assert.rejects(m.getattr(0), { code: 'ERR_OCIFS_NOT_FOUND' });
  assert.throws(() => new MergedFileSystem([]), { code: 'ERR_OCIFS_INVALID_OPTION' });
  assert.throws(() => new MergedFileSystem([layer()], { whiteouts: 'aufs' as never }), {
    code: 'ERR_OCIFS_INVALID_OPTION',
  });
});

test('random layer stacks: merged view equals layers applied in order', async () => {
  const stacks = Number(process.env.OCIFS_VFS_FUZZ_STACKS ?? 400);
  for (let seed = 1; seed <= stacks; seed++) {
    const r = rng(seed);
    const n = 1 + Math.floor(r() * 4);
    const layers = Array.from({ length: n }, (_, li) => randomLayer(r, li));
    const m = new MergedFileSystem(layers.map((l) => layer(...l)));
    const got: Record<string, string> = {};
    for await (const e of walk(m, '/', { includeStart: false })) {
      if (e.inode.type === 'dir') got[e.relPath] = `dir@${e.inode.mtimeSec === 1700000000 ? '?' : e.inode.mtimeSec}`;
      else {
        if (e.inode.type === 'file') {
          const s = await m.openFile(e.inode.ino);
          got[e.relPath] = 'file:' + dec.decode(await s.read(0, s.size));
        } else got[e.relPath] = `${e.inode.type}:${await m.readlink(e.inode.ino)}`;
      }
      // Every name the listing shows is found by lookup, with the same number.
      const parent = await resolvePath(m, e.path.slice(0, e.path.lastIndexOf('/')) || '/');
      assert.equal((await m.lookup(parent.ino, e.name))?.ino, e.inode.ino, `seed ${seed}: lookup ${e.path}`);
    }
    assert.deepEqual(got, model(layers), `seed ${seed}: ${JSON.stringify(layers.map((l) => l.map((e) => e.path)))}`);
  }
});

/** A tar layer (TarFileSystem over its bytes) from ustar members built by hand. */
async function tarLayer(
  members: { name: string; content?: string; type?: string; link?: string }[],
): Promise<FileSystem> {
  const parts: Uint8Array[] = [];
  for (const m of members) {
    const body = Buffer.from(m.content ?? '');
    parts.push(
      header(m.name, { size: body.length, type: m.type, link: m.link }),
      body,
      Buffer.alloc((512 - (body.length % 512)) % 512),
    );
  }
  parts.push(Buffer.alloc(1024));
  const source = new MemorySource(Buffer.concat(parts));
  return new TarFileSystem(await scanTar(source), source);
}

test('a hardlink to a file of a lower layer is accepted and shows that file (as docker and containerd apply it)', async () => {
  const lower = await tarLayer([
    { name: 'usr/bin/tool', content: 'the tool\n' },
    { name: 'etc/shadowed', content: 'old\n' },
  ]);
  const upper = await tarLayer([
    { name: 'usr/bin/alias', type: '1', link: 'usr/bin/tool' },
    { name: 'etc/new', content: 'new\n' },
    { name: 'etc/also', type: '1', link: 'etc/new' },
  ]);
  // The layer alone opens (it was refused whole: "hardlink target not found"); the link reads as what it is.
  const alone = new MergedFileSystem([upper]);
  const st = await resolvePath(alone, '/usr/bin/alias');
  assert.equal(st.type, 'file');
  await assert.rejects(
    alone.openFile(st.ino),
    (e: any) => e.code === 'ERR_OCIFS_EXTERNAL_HARDLINK' && /usr\/bin\/tool/.test(e.message),
  );
  const m = new MergedFileSystem([lower, upper]);
  assert.deepEqual(await tree(m), {
    usr: 'dir',
    'usr/bin': 'dir',
    'usr/bin/tool': 'file:the tool\n',
    'usr/bin/alias': 'file:the tool\n',
    etc: 'dir',
    'etc/shadowed': 'file:old\n',
    'etc/new': 'file:new\n',
    'etc/also': 'file:new\n',
  });
  // One inode for both names, as after the runtime's link(2); readdir and lookup agree on it.
  assert.equal((await resolvePath(m, '/usr/bin/alias')).ino, (await resolvePath(m, '/usr/bin/tool')).ino);
  const bin = await resolvePath(m, '/usr/bin');
  const listed = new Map<string, number>();
  for await (const e of m.readdir(bin.ino)) listed.set(e.name, e.ino);
  assert.equal(listed.get('alias'), listed.get('tool'));
  // Three layers: the link resolves through the middle layer's own link, and a whiteout of the target below hides it.
  const top = await tarLayer([{ name: 'usr/bin/again', type: '1', link: 'usr/bin/alias' }]);
  const three = new MergedFileSystem([lower, upper, top]);
  assert.equal((await resolvePath(three, '/usr/bin/again')).ino, (await resolvePath(three, '/usr/bin/tool')).ino);
  const gone = await tarLayer([{ name: 'etc/.wh.shadowed' }]);
  const dangling = await tarLayer([{ name: 'etc/link', type: '1', link: 'etc/shadowed' }]);
  const d = new MergedFileSystem([lower, gone, dangling]);
  await assert.rejects(d.openFile((await resolvePath(d, '/etc/link')).ino), { code: 'ERR_OCIFS_EXTERNAL_HARDLINK' });
});
