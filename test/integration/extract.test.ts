// extractTree reproduces a real tree: a make-tree.ts tree (plus devices, odd modes, trusted and
// security xattrs, sub-second and old mtimes) is loaded into a MemoryFs, extracted, and
// tree-manifest.ts must print the same lines for the copy as for the source.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, chown, lstat, mkdir, mkdtemp, rm, symlink, utimes, lutimes, writeFile, link } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getAttribute, setAttribute } from '@napi-rs/xattr';
import { extractTree } from '../../src/extract/extract.js';
import {
  assertSameManifest,
  makeTree,
  manifestOf,
  memoryFsFromDirectory,
  treeManifest,
} from '../helpers/fs-manifest.js';
import { runOk } from '../helpers/run.js';

const isRoot = process.getuid?.() === 0;
let tmp: string;
before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'ocifs-extract-'));
});
after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

/** Adds what make-tree.ts does not make: devices, setgid/sticky dirs, read-only dirs, more xattrs and times. */
async function addExtras(dir: string): Promise<void> {
  const p = (x: string) => join(dir, x);
  await mkdir(p('extra/ro'), { recursive: true });
  await writeFile(p('extra/ro/inside'), 'in a read-only directory\n');
  await writeFile(p('extra/setuid-owned'), '#!/bin/sh\n');
  await mkdir(p('extra/setgid-dir'));
  await mkdir(p('extra/sticky'));
  await symlink('/etc/passwd', p('extra/abs-link'));
  if (isRoot) {
    await runOk('mknod', [p('extra/null'), 'c', '1', '3']);
    await runOk('mknod', [p('extra/blk'), 'b', '259', '70000']);
    await chown(p('extra/setuid-owned'), 1234, 5678);
    await setAttribute(p('extra/setgid-dir'), 'trusted.overlay.opaque', Buffer.from('y'));
    await setAttribute(p('extra/setuid-owned'), 'trusted.t', Buffer.from([0, 1, 2, 255]));
    // A file capability (v2: cap_net_bind_service), which chown would clear if set before it.
    await setAttribute(
      p('extra/setuid-owned'),
      'security.capability',
      Buffer.from('0100000200040000000000000000000000000000', 'hex'),
    );
    await chown(p('extra/sticky'), 42, 43);
    await runOk('chown', ['-h', '7:8', p('extra/abs-link')]);
  }
  await setAttribute(p('extra/sticky'), 'user.dir-attr', Buffer.from('on a directory'));
  await link(p('extra/setuid-owned'), p('extra/setuid-hardlink'));
  await chmod(p('extra/setuid-owned'), 0o6750);
  await chmod(p('extra/setgid-dir'), 0o2775);
  await chmod(p('extra/sticky'), 0o1777);
  await utimes(p('extra/ro/inside'), 1234567890.5, 1234567890.5);
  await utimes(p('extra/setuid-owned'), 1600000000.123456, 1600000000.123456);
  await lutimes(p('extra/abs-link'), 1000000000, 1000000000);
  await utimes(p('extra/sticky'), 1500000000, 1500000000);
  await utimes(p('extra/setgid-dir'), 1500000001, 1500000001);
  await chmod(p('extra/ro'), 0o555);
  await utimes(p('extra/ro'), 1400000000, 1400000000);
  await utimes(p('extra'), 1300000000, 1300000000);
}

for (const seed of [1, 3]) {
  test(`extract of a MemoryFs of make-tree.ts --seed ${seed} reproduces tree-manifest.ts line for line`, async () => {
    const src = join(tmp, `src-${seed}`);
    const dest = join(tmp, `dest-${seed}`);
    await makeTree(src, seed);
    await addExtras(src);
    const fs = await memoryFsFromDirectory(src);
    const expected = await treeManifest(src);
    // manifestOf agrees with the script on the source, so the comparison below is meaningful.
    assertSameManifest(await manifestOf(fs), expected, 'manifestOf(source)');
    const progress: number[] = [];
    const warnings: string[] = [];
    const result = await extractTree(fs, dest, {
      onProgress: (p) => progress.push(p.bytes),
      onWarning: (w) => warnings.push(`${w.kind}: ${w.message}`),
    });
    assertSameManifest(await treeManifest(dest), expected, `tree-manifest.ts of the extracted seed-${seed} tree`);
    assert.deepEqual(warnings, []);
    // Every name of a hardlinked inode but its first.
    assert.equal(
      result.hardlinks,
      expected.filter((l) => ![undefined, JSON.parse(l).path].includes(JSON.parse(l).hardlink)).length,
    );
    assert.ok(progress.length > 0 && progress[progress.length - 1] === result.bytes);
    // Hardlinks are hardlinks, not copies.
    const a = await lstat(join(dest, 'bin/tool'));
    const b = await lstat(join(dest, 'bin/tool-hardlink'));
    assert.equal(a.ino, b.ino);
    assert.equal(a.nlink, 2);
    if (isRoot) {
      assert.deepEqual(
        await getAttribute(join(dest, 'extra/setuid-owned'), 'security.capability'),
        await getAttribute(join(src, 'extra/setuid-owned'), 'security.capability'),
      );
      const dev = await lstat(join(dest, 'extra/blk'));
      assert.ok(dev.isBlockDevice());
    }
    // Sub-second mtimes are kept to the microsecond (Node's utimes resolution).
    const st = await lstat(join(dest, 'extra/setuid-owned'), { bigint: true });
    assert.equal(st.mtimeNs / 1000n, 1600000000123456n);
  });
}

test('extract of a subtree and of a single file', async () => {
  const src = join(tmp, 'src-sub');
  await makeTree(src, 2);
  const fs = await memoryFsFromDirectory(src);
  const dest = join(tmp, 'dest-sub');
  await extractTree(fs, dest, { path: '/deep/d00/d01' });
  assertSameManifest(await treeManifest(dest), await treeManifest(join(src, 'deep/d00/d01')), 'subtree');
  const one = join(tmp, 'dest-one');
  await extractTree(fs, one, { path: '/bin/os-release-link' }); // followed inside the image
  const target = (await treeManifest(join(src, 'etc'))).filter((l) => JSON.parse(l).path === 'os-release');
  assertSameManifest(await treeManifest(one), target, 'single file');
});
