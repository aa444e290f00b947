// The additional layer store's namespace (StoreFs over StoreImages), without FUSE: an image
// with a tar layer and an eStargz layer served by the built-in layout registry on loopback,
// looked up the way containers/storage does — reference directory, digest, diff/info/blob, the
// `use` create and the rmdir that takes a use back.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serveLayout, type LayoutRegistry } from '../../src/serve/layout-registry.js';
import { openImage } from '../../src/image/index.js';
import { StoreImages } from '../../src/runtime/store/store-images.js';
import { StoreFs, MAX_IDLE_DIRS } from '../../src/runtime/store/store-fs.js';
import { encodeRef } from '../../src/runtime/store/store-paths.js';
import { FuseErrno } from '../../src/mount/errno.js';
import type { FileSystem, Inode } from '../../src/vfs/types.js';
import { writeImageLayout, MT_LAYER_TAR, MT_LAYER_GZIP, sha256 } from '../helpers/oci-layout.js';
import { buildEstargz, header } from './tar-test-helpers.js';

let tmp: string;
let reg: LayoutRegistry;
let ref: string;
let tarDigest: string;
let esgz: { digest: string; toc: string; diffId: string };
const dec = new TextDecoder();

function tarOf(files: Record<string, string>): Buffer {
  const parts: Uint8Array[] = [];
  for (const [name, text] of Object.entries(files)) {
    const body = Buffer.from(text);
    parts.push(header(name, { size: body.length }), body, Buffer.alloc((512 - (body.length % 512)) % 512));
  }
  return Buffer.concat([...parts, Buffer.alloc(1024)]);
}

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'ocifs-store-fs-'));
  const base = tarOf({ 'etc/os-release': 'ID=base\n', 'etc/gone': 'x' });
  const topTar = tarOf({ 'etc/.wh.gone': '', 'etc/new': 'new\n' });
  const top = await buildEstargz(topTar);
  tarDigest = sha256(base);
  esgz = { digest: sha256(top.blob), toc: top.tocDigest, diffId: sha256(topTar) };
  await writeImageLayout(join(tmp, 'layout'), {
    layers: [
      { bytes: base, mediaType: MT_LAYER_TAR },
      {
        bytes: top.blob,
        mediaType: MT_LAYER_GZIP,
        diffId: esgz.diffId,
        annotations: { 'containerd.io/snapshot/stargz/toc.digest': top.tocDigest },
      },
    ],
  });
  reg = await serveLayout(join(tmp, 'layout'));
  ref = `${reg.hostPort}/test/img:latest`;
});

after(async () => {
  await reg?.close();
  await rm(tmp, { recursive: true, force: true });
});

function newStore(lines: string[] = []): { fs: StoreFs; images: StoreImages } {
  const images = new StoreImages((r) => openImage(r, { cacheDir: join(tmp, 'cache') }));
  return { fs: new StoreFs(images, { log: (l) => lines.push(l) }), images };
}

async function lookupPath(fs: FileSystem, path: string[]): Promise<Inode> {
  let cur = await fs.getattr(fs.rootIno);
  for (const name of path) {
    const next = await fs.lookup(cur.ino, name);
    if (!next) throw new Error(`no ${name}`);
    cur = next;
  }
  return cur;
}

async function names(fs: FileSystem, ino: number): Promise<string[]> {
  const out: string[] = [];
  for await (const e of fs.readdir(ino)) out.push(e.name);
  return out;
}

async function text(fs: FileSystem, ino: number): Promise<string> {
  const s = await fs.openFile(ino);
  return dec.decode(await s.read(0, s.size));
}

test('a layer is found by reference and digest; diff, info and blob; the tree shows overlayfs whiteouts', async () => {
  const lines: string[] = [];
  const { fs } = newStore(lines);
  try {
    const root = await fs.getattr(fs.rootIno);
    assert.equal(root.mode, 0o40700);
    assert.deepEqual(await names(fs, fs.rootIno), [], 'nothing in use yet');
    const dir = await lookupPath(fs, [encodeRef(ref), esgz.digest]);
    assert.equal(dir.type, 'dir');
    const info = JSON.parse(await text(fs, (await fs.lookup(dir.ino, 'info'))!.ino));
    assert.deepEqual(info, {
      'compressed-diff-digest': esgz.digest,
      'compressed-size': info['compressed-size'],
      'diff-digest': esgz.diffId,
      compression: 2,
    });
    const blob = (await fs.lookup(dir.ino, 'blob'))!;
    assert.equal(sha256(Buffer.from(await (await fs.openFile(blob.ino)).read(0, blob.size))), esgz.digest);
    const etc = await lookupPath(fs, [encodeRef(ref), esgz.digest, 'diff', 'etc']);
    assert.deepEqual((await names(fs, etc.ino)).sort(), ['gone', 'new']);
    const gone = (await fs.lookup(etc.ino, 'gone'))!;
    assert.equal(gone.type, 'chardev');
    assert.equal(gone.rdev, 0);
    assert.equal(await text(fs, (await fs.lookup(etc.ino, 'new'))!.ino), 'new\n');
    assert.equal(await fs.lookup(dir.ino, 'use'), undefined, 'use never exists');
    assert.ok(
      lines.some((l) => l === `serving ${ref} layer ${esgz.digest} lazily: tar+gzip (estargz)`),
      lines.join('\n'),
    );
    // The root lists the reference, the reference its layer.
    assert.deepEqual(await names(fs, fs.rootIno), [encodeRef(ref)]);
    assert.deepEqual(await names(fs, (await fs.lookup(fs.rootIno, encodeRef(ref)))!.ino), [esgz.digest]);
  } finally {
    await fs.close();
  }
});

test('by TOC digest (containers/storage 1.54+): the same layer, info with toc-digest', async () => {
  const { fs } = newStore();
  try {
    const dir = await lookupPath(fs, [encodeRef(ref), esgz.toc]);
    const info = JSON.parse(await text(fs, (await fs.lookup(dir.ino, 'info'))!.ino));
    assert.equal(info['toc-digest'], esgz.toc);
    assert.deepEqual(info.flags, { 'expected-layer-diffid': esgz.diffId });
    assert.equal(info['compressed-diff-digest'], esgz.digest);
  } finally {
    await fs.close();
  }
});

test('use creates count, rmdirs take back (ENOENT both, as storage expects); at zero the layer is released', async () => {
  const lines: string[] = [];
  const { fs } = newStore(lines);
  const hooks = fs.hooks();
  const errno = async (p: Promise<void>) => {
    try {
      await p;
      return 0;
    } catch (err) {
      assert.ok(err instanceof FuseErrno, String(err));
      return err.errno;
    }
  };
  const signal = new AbortController().signal;
  try {
    const refDir = await lookupPath(fs, [encodeRef(ref)]);
    const dir = await lookupPath(fs, [encodeRef(ref), tarDigest]);
    const diff = (await fs.lookup(dir.ino, 'diff'))!;
    assert.equal(
      await text(fs, (await lookupPath(fs, [encodeRef(ref), tarDigest, 'diff', 'etc', 'os-release'])).ino),
      'ID=base\n',
    );
    for (let i = 0; i < 2; i++) assert.equal(await errno(hooks.create!(dir.ino, 'use', signal)), 2 /* ENOENT */);
    assert.equal(await errno(hooks.create!(dir.ino, 'other', signal)), 30 /* EROFS */);
    assert.deepEqual(fs.inUse(), [{ ref, digest: tarDigest, uses: 2 }]);
    assert.equal(hooks.isVolatile!(dir.ino), true);
    assert.equal(hooks.isVolatile!(diff.ino), true, 'a tree root is looked up afresh');
    const etc = await lookupPath(fs, [encodeRef(ref), tarDigest, 'diff', 'etc']);
    assert.equal(hooks.isVolatile!(etc.ino), false, 'inside a tree everything may be cached');

    assert.equal(await errno(hooks.rmdir!(refDir.ino, tarDigest, signal)), 2);
    assert.deepEqual(fs.inUse(), [{ ref, digest: tarDigest, uses: 1 }]);
    assert.equal(await errno(hooks.rmdir!(refDir.ino, tarDigest, signal)), 2);
    assert.deepEqual(fs.inUse(), []);
    assert.ok(lines.includes(`released ${ref} layer ${tarDigest}`));
    assert.deepEqual(await names(fs, fs.rootIno), []);
    // What the kernel still holds of the released layer is stale; a fresh lookup works again.
    await assert.rejects(fs.getattr(etc.ino), (e: unknown) => e instanceof FuseErrno && e.errno === 116 /* ESTALE */);
    assert.equal(
      await text(fs, (await lookupPath(fs, [encodeRef(ref), tarDigest, 'diff', 'etc', 'os-release'])).ino),
      'ID=base\n',
    );
    // A release below zero (after a restart, storage still holds uses the store forgot) is a release.
    assert.equal(await errno(hooks.rmdir!(refDir.ino, tarDigest, signal)), 2);
    assert.deepEqual(fs.inUse(), []);
  } finally {
    await fs.close();
  }
});

test('names that are no encoded reference or digest do not exist; a layer not in the image fails its diff', async () => {
  const lines: string[] = [];
  const { fs } = newStore(lines);
  try {
    for (const bad of ['nope', 'YWI', encodeRef('repo:bad:tag'), encodeRef('a b')])
      assert.equal(await fs.lookup(fs.rootIno, bad), undefined, bad);
    const refDir = await lookupPath(fs, [encodeRef(ref)]);
    assert.equal(await fs.lookup(refDir.ino, 'diff'), undefined);
    const missing = `sha256:${'0'.repeat(64)}`;
    const dir = await lookupPath(fs, [encodeRef(ref), missing]);
    await assert.rejects(fs.lookup(dir.ino, 'diff'), /no layer with digest or TOC digest/);
    assert.ok(lines.some((l) => l.startsWith(`cannot serve ${ref} layer ${missing}: `)));
    const unknown = `${reg.hostPort}/test/img:no-such-tag`;
    const d2 = await lookupPath(fs, [encodeRef(unknown), tarDigest]);
    await assert.rejects(fs.lookup(d2.ino, 'info'), /not found|unknown/i);
    assert.deepEqual(await names(fs, fs.rootIno), [], 'failed lookups list nothing');
  } finally {
    await fs.close();
  }
});

test('lookups of names nobody uses leave a bounded number of entries', async () => {
  const { fs } = newStore();
  try {
    await lookupPath(fs, [encodeRef(ref), tarDigest, 'diff']);
    for (let i = 0; i < 3 * MAX_IDLE_DIRS; i++) {
      const r = await fs.lookup(fs.rootIno, encodeRef(`${reg.hostPort}/idle/n${i}:v1`));
      await fs.lookup(r!.ino, `sha256:${i.toString(16).padStart(64, '0')}`);
    }
    assert.ok(fs.statfs().files < 3 * MAX_IDLE_DIRS, `${fs.statfs().files} entries`);
    // The layer in use is kept.
    assert.equal(
      await text(fs, (await lookupPath(fs, [encodeRef(ref), tarDigest, 'diff', 'etc', 'os-release'])).ino),
      'ID=base\n',
    );
    assert.deepEqual(await names(fs, fs.rootIno), [encodeRef(ref)]);
  } finally {
    await fs.close();
  }
});

test('a tag that moved resolves again: the new image layers are found, the old ones stay served', async () => {
  const { fs } = newStore();
  const layout = join(tmp, 'layout');
  const index = await readFile(join(layout, 'index.json'), 'utf8');
  try {
    const old = await lookupPath(fs, [encodeRef(ref), tarDigest, 'diff', 'etc', 'os-release']);
    // A new push under the same tag.
    const moved = tarOf({ 'etc/os-release': 'ID=moved\n' });
    await writeImageLayout(layout, { layers: [{ bytes: moved, mediaType: MT_LAYER_TAR }] });
    assert.equal(
      await text(fs, (await lookupPath(fs, [encodeRef(ref), sha256(moved), 'diff', 'etc', 'os-release'])).ino),
      'ID=moved\n',
    );
    assert.equal(await text(fs, old.ino), 'ID=base\n', 'the layer of the old image is still served');
  } finally {
    await fs.close();
    await writeFile(join(layout, 'index.json'), index);
  }
});
