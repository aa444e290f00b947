// OverlayLayerFileSystem: one OCI layer shown with overlayfs whiteouts (0/0 character devices,
// trusted.overlay.opaque), case by case, and on random layer stacks: the layers converted and
// merged with overlayfs rules give the same tree as the OCI layers merged with OCI rules (and as
// the model that applies layers in order).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { MergedFileSystem } from '../../src/vfs/merge.js';
import { overlayLayerView, OVERLAY_OPAQUE_XATTR } from '../../src/vfs/overlay-layer.js';
import { resolvePath } from '../../src/vfs/path.js';
import { walk } from '../../src/vfs/walk.js';
import type { FileSystem } from '../../src/vfs/types.js';
import { mulberry32 as rng } from '../helpers/prng.js';
import { dec, dir, file, layer, model, opq, randomLayer, wh } from '../helpers/layer-stacks.js';

async function listing(fs: FileSystem, path: string): Promise<string[]> {
  const d = await resolvePath(fs, path);
  const out: string[] = [];
  for await (const e of fs.readdir(d.ino)) out.push(`${e.name}:${e.type}`);
  return out.sort();
}

test('a .wh. entry becomes a 0/0 character device of the hidden name, found by lookup and listed', async () => {
  const v = overlayLayerView(layer(file('a/keep'), wh('a/gone'), wh('top')));
  assert.deepEqual(await listing(v, '/a'), ['gone:chardev', 'keep:file']);
  assert.deepEqual(await listing(v, '/'), ['a:dir', 'top:chardev']);
  const a = await resolvePath(v, '/a');
  const gone = (await v.lookup(a.ino, 'gone'))!;
  assert.equal(gone.type, 'chardev');
  assert.equal(gone.rdev, 0);
  assert.equal(gone.mode, 0o020000);
  assert.equal(gone.size, 0);
  // getattr of the same number (what FUSE asks next) says the same; it has no xattrs.
  assert.deepEqual(await v.getattr(gone.ino), gone);
  assert.deepEqual(await v.listxattr(gone.ino), new Map());
  // The OCI names themselves are never visible.
  assert.equal(await v.lookup(a.ino, '.wh.gone'), undefined);
});

test('an opaque marker makes its directory carry trusted.overlay.opaque=y and is not shown', async () => {
  const v = overlayLayerView(layer(dir('d', { xattrs: { 'user.k': 'v' } }), opq('d'), file('d/new'), dir('plain')));
  assert.deepEqual(await listing(v, '/d'), ['new:file']);
  const d = await resolvePath(v, '/d');
  const xs = await v.listxattr(d.ino);
  assert.equal(dec.decode(xs.get(OVERLAY_OPAQUE_XATTR)), 'y');
  assert.equal(dec.decode(xs.get('user.k')), 'v');
  assert.equal(await v.lookup(d.ino, '.wh..wh..opq'), undefined);
  assert.equal((await v.listxattr((await resolvePath(v, '/plain')).ino)).has(OVERLAY_OPAQUE_XATTR), false);
});

test('a directory deleted and made anew in the same layer (.wh.NAME beside NAME) is opaque, not a whiteout', async () => {
  const v = overlayLayerView(layer(wh('d'), dir('d'), file('d/x')));
  assert.deepEqual(await listing(v, '/'), ['d:dir']);
  const d = (await v.lookup(v.rootIno, 'd'))!;
  assert.equal(d.type, 'dir');
  assert.equal(dec.decode((await v.listxattr(d.ino)).get(OVERLAY_OPAQUE_XATTR)), 'y');
});

test('aufs metadata entries are hidden; overlayfs-style whiteouts pass through', async () => {
  const v = overlayLayerView(
    layer(file('.wh..wh.plnk/x', ''), file('.wh..wh.aufs', ''), { path: 'ow', type: 'chardev', rdev: 0 }, file('f')),
  );
  assert.deepEqual(await listing(v, '/'), ['f:file', 'ow:chardev']);
});

test('random layer stacks: overlayfs-style layers merged with overlayfs rules equal the OCI merge and the model', async () => {
  const stacks = Number(process.env.OCIFS_VFS_FUZZ_STACKS ?? 300);
  for (let seed = 1; seed <= stacks; seed++) {
    const r = rng(seed);
    const n = 1 + Math.floor(r() * 4);
    const entries = Array.from({ length: n }, (_, li) => randomLayer(r, li));
    const oci = new MergedFileSystem(
      entries.map((l) => layer(...l)),
      { whiteouts: 'both' },
    );
    const ovl = new MergedFileSystem(
      entries.map((l) => overlayLayerView(layer(...l))),
      { whiteouts: 'overlay' },
    );
    const dump = async (m: FileSystem) => {
      const out: Record<string, string> = {};
      for await (const e of walk(m, '/', { includeStart: false })) {
        if (e.inode.type === 'dir') out[e.relPath] = `dir@${e.inode.mtimeSec === 1700000000 ? '?' : e.inode.mtimeSec}`;
        else if (e.inode.type === 'file') {
          const s = await m.openFile(e.inode.ino);
          out[e.relPath] = 'file:' + dec.decode(await s.read(0, s.size));
        } else out[e.relPath] = `${e.inode.type}:${await m.readlink(e.inode.ino)}`;
      }
      return out;
    };
    const got = await dump(ovl);
    assert.deepEqual(got, await dump(oci), `seed ${seed}`);
    assert.deepEqual(got, model(entries), `seed ${seed}`);
  }
});

test('xattrFree: a tar layer without xattrs or opaque directories says so; one with either, or any other filesystem, does not', async () => {
  const { execFileSync } = await import('node:child_process');
  const { mkdtempSync, mkdirSync, writeFileSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { MemorySource } = await import('../../src/io/memory-source.js');
  const { openTarLayer } = await import('../../src/tar/index.js');
  const dir = mkdtempSync(join(tmpdir(), 'ocifs-xattr-free-'));
  try {
    const layerOf = async (setup: (root: string) => void, tarArgs: string[] = []) => {
      const root = join(dir, String(Math.random()));
      mkdirSync(join(root, 'd'), { recursive: true });
      writeFileSync(join(root, 'd/f'), 'f');
      setup(root);
      const tar = execFileSync('tar', ['-c', '--format=pax', ...tarArgs, '-C', root, '.']);
      return overlayLayerView((await openTarLayer(new MemorySource(tar))).fs);
    };
    assert.equal((await layerOf(() => {})).xattrFree(), true);
    assert.equal(
      (await layerOf((r) => writeFileSync(join(r, 'd/.wh.gone'), ''))).xattrFree(),
      true,
      'a plain whiteout needs no xattr',
    );
    assert.equal((await layerOf((r) => writeFileSync(join(r, 'd/.wh..wh..opq'), ''))).xattrFree(), false);
    assert.equal(
      (await layerOf((r) => writeFileSync(join(r, '.wh.d'), ''))).xattrFree(),
      false,
      'd deleted and made anew: opaque',
    );
    const withXattr = await layerOf(
      (r) => execFileSync('setfattr', ['-n', 'user.k', '-v', 'v', join(r, 'd/f')]),
      ['--xattrs', '--xattrs-include=*'],
    );
    assert.equal(withXattr.xattrFree(), false);
    assert.equal(overlayLayerView(layer(file('a'))).xattrFree(), false, 'unknown for other filesystems');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
