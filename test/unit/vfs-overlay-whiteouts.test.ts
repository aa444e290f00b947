// OverlayWhiteoutFs: one layer's OCI whiteouts shown as overlayfs whiteouts (0/0 character
// devices, trusted.overlay.opaque=y), case by case, and on random stacks: merging the converted
// layers as overlayfs would (overlay whiteouts only) gives exactly the tree that merging the
// original OCI layers gives.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryFs, type MemoryEntry } from '../../src/vfs/memory-fs.js';
import { MergedFileSystem } from '../../src/vfs/merge.js';
import { OverlayWhiteoutFs, OVERLAY_OPAQUE_XATTR } from '../../src/vfs/overlay-whiteouts.js';
import { resolvePath } from '../../src/vfs/path.js';
import { walk } from '../../src/vfs/walk.js';
import type { FileSystem } from '../../src/vfs/types.js';
import { mulberry32 as rng } from '../helpers/prng.js';
import { dir, file, opq, randomLayer, tree, wh } from '../helpers/random-layers.js';

const dec = new TextDecoder();
const layer = (...entries: MemoryEntry[]) => new OverlayWhiteoutFs(MemoryFs.fromEntries(entries));

/** path → "type mode rdev [opaque]" of every entry below the root, from the listings. */
async function shape(fs: FileSystem): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for await (const e of walk(fs, '/', { includeStart: false })) {
    const x = await fs.listxattr(e.inode.ino);
    const opaque = x.get(OVERLAY_OPAQUE_XATTR);
    out[e.relPath] = `${e.inode.type} ${e.inode.mode.toString(8)} ${e.inode.rdev}${opaque ? ' opaque=' + dec.decode(opaque) : ''}`;
  }
  return out;
}

test('a .wh.NAME entry is shown as NAME, a 0/0 character device, by listing, lookup and getattr', async () => {
  const fs = layer(dir('etc'), wh('etc/passwd'), file('etc/hosts'));
  assert.deepEqual(await shape(fs), { etc: 'dir 40755 0', 'etc/hosts': 'file 100644 0', 'etc/passwd': 'chardev 20000 0' });
  const etc = await resolvePath(fs, '/etc');
  const w = await fs.lookup(etc.ino, 'passwd');
  assert.equal(w?.type, 'chardev');
  assert.equal(w?.mode, 0o020000);
  assert.equal(w?.rdev, 0);
  assert.equal(w?.size, 0);
  assert.equal((await fs.getattr(w!.ino)).type, 'chardev');
  assert.equal(await fs.lookup(etc.ino, '.wh.passwd'), undefined, 'the OCI name is hidden');
});

test('.wh..wh..opq makes its directory opaque and is not shown', async () => {
  const fs = layer(dir('var'), dir('var/cache'), opq('var/cache'), file('var/cache/new'));
  assert.deepEqual(await shape(fs), { var: 'dir 40755 0', 'var/cache': 'dir 40755 0 opaque=y', 'var/cache/new': 'file 100644 0' });
  const cache = await resolvePath(fs, '/var/cache');
  assert.equal(await fs.lookup(cache.ino, '.wh..wh..opq'), undefined);
  // Asked directly, as overlayfs does (getxattr after a lookup), not only after a listing.
  const fresh = layer(dir('var'), dir('var/cache'), opq('var/cache'));
  const c2 = await resolvePath(fresh, '/var/cache');
  assert.deepEqual([...(await fresh.listxattr(c2.ino))], [[OVERLAY_OPAQUE_XATTR, new Uint8Array([0x79])]]);
});

test('a directory beside a .wh. of its own name was made anew: opaque, and no whiteout is shown', async () => {
  for (const viaLookup of [false, true]) {
    const fs = layer(wh('opt'), dir('opt'), file('opt/only-new'));
    if (viaLookup) {
      const opt = await fs.lookup(fs.rootIno, 'opt');
      assert.equal(opt?.type, 'dir');
      assert.equal(dec.decode((await fs.listxattr(opt!.ino)).get(OVERLAY_OPAQUE_XATTR)), 'y');
    } else {
      assert.deepEqual(await shape(fs), { opt: 'dir 40755 0 opaque=y', 'opt/only-new': 'file 100644 0' });
    }
  }
});

test('a layer already in overlay form passes through unchanged', async () => {
  const fs = layer({ path: 'gone', type: 'chardev', rdev: 0, mode: 0 }, dir('d', { xattrs: { 'trusted.overlay.opaque': 'y', 'user.x': '1' } }), file('d/f'));
  assert.deepEqual(await shape(fs), { gone: 'chardev 20000 0', d: 'dir 40755 0 opaque=y', 'd/f': 'file 100644 0' });
  const d = await resolvePath(fs, '/d');
  assert.deepEqual([...(await fs.listxattr(d.ino)).keys()].sort(), ['trusted.overlay.opaque', 'user.x']);
});

test('random layer stacks: the converted layers merged as overlayfs would equal the OCI merge', async () => {
  const stacks = Number(process.env.OCIFS_VFS_FUZZ_STACKS ?? 300);
  for (let seed = 1; seed <= stacks; seed++) {
    const r = rng(seed);
    const n = 1 + Math.floor(r() * 4);
    const layers = Array.from({ length: n }, (_, li) => randomLayer(r, li));
    const oci = new MergedFileSystem(layers.map((l) => ({ fs: MemoryFs.fromEntries(l) })), { whiteouts: 'both' });
    const overlay = new MergedFileSystem(layers.map((l) => ({ fs: layer(...l), whiteouts: 'overlay' as const })));
    assert.deepEqual(await tree(overlay), await tree(oci), `seed ${seed}`);
  }
});
