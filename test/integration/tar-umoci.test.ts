// Real tar+gzip layers written by umoci (a tree, then a layer that deletes and replaces files,
// so it holds OCI whiteouts): every layer opened by openTarLayer lists exactly what `tar x`
// extracts from the blob (whiteouts included, as plain `.wh.` entries), byte for byte.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, mkdir, readFile, writeFile, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileSource } from '../../src/io/file-source.js';
import { MemoryIndexStore } from '../../src/tar/index-store.js';
import { openTarLayer } from '../../src/tar/open-layer.js';
import { resolvePath } from '../../src/vfs/path.js';
import { assertSameManifest, makeTree, manifestOf, treeManifest, withoutEmptyXattrs } from '../helpers/fs-manifest.js';
import { run, runOk } from '../helpers/run.js';

let dir: string;
let layers: { digest: string; mediaType: string }[] = [];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ocifs-umoci-'));
  const L = join(dir, 'L');
  await makeTree(join(dir, 'tree'), 1);
  await runOk('umoci', ['init', '--layout', L]);
  await runOk('umoci', ['new', '--image', `${L}:t`]);
  await runOk('umoci', ['insert', '--image', `${L}:t`, join(dir, 'tree'), '/']);
  await runOk('umoci', ['unpack', '--image', `${L}:t`, join(dir, 'b')]);
  const rootfs = join(dir, 'b', 'rootfs');
  await rm(join(rootfs, 'wide'), { recursive: true });
  await unlink(join(rootfs, 'etc', 'os-release'));
  await writeFile(join(rootfs, 'bin', 'tool'), 'replaced\n');
  await mkdir(join(rootfs, 'new'));
  await writeFile(join(rootfs, 'new', 'file'), 'new\n');
  await runOk('umoci', ['repack', '--image', `${L}:t`, join(dir, 'b')]);
  const index = JSON.parse(await readFile(join(L, 'index.json'), 'utf8'));
  const blob = (d: string) => join(L, 'blobs', 'sha256', d.slice(7));
  const manifest = JSON.parse(await readFile(blob(index.manifests[0].digest), 'utf8'));
  layers = manifest.layers;
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('umoci layers (with whiteouts) read exactly as tar x extracts them', async () => {
  assert.equal(layers.length, 2);
  const store = new MemoryIndexStore();
  for (const [i, l] of layers.entries()) {
    const path = join(dir, 'L', 'blobs', 'sha256', l.digest.slice(7));
    const out = join(dir, `x${i}`);
    await mkdir(out);
    // umoci 0.4.7 ends its layers right after the last file's data (no padding, no
    // end-of-archive blocks): GNU tar extracts everything, then exits 2 with "Unexpected EOF".
    const x = await run('tar', ['-xzf', path, '-C', out, '--numeric-owner', '-p', '--xattrs', '--xattrs-include=*']);
    const problems = x.stderr
      .split('\n')
      .filter((line) => line && !/Removing leading|Unexpected EOF|Error is not recoverable/.test(line));
    assert.ok(x.code === 0 || (x.code === 2 && problems.length === 0), x.stderr);
    const src = await FileSource.open(path);
    try {
      const layer = await openTarLayer(src, { mediaType: l.mediaType, store });
      assert.equal(layer.format, 'gzip');
      const lines = await manifestOf(layer.fs);
      // Layer 0 is the inserted tree itself. (GNU tar gets its last file wrong: it stops at the
      // missing end of the archive and leaves that file empty.)
      // Directories the layer does not contain (umoci repack leaves out unchanged parents) get the
      // extraction time from tar x and mtime 0 from us.
      const want: string[] = [];
      // umoci leaves out the tree's empty-valued xattrs when it writes the layer.
      for (const line of withoutEmptyXattrs(await treeManifest(i === 0 ? join(dir, 'tree') : out))) {
        const e = JSON.parse(line);
        const implicit =
          e.type === 'dir' && layer.fs.entry((await resolvePath(layer.fs, '/' + e.path)).ino) === undefined;
        want.push(implicit ? line.replace(`"mtime": ${e.mtime}`, '"mtime": 0') : line);
      }
      assertSameManifest(lines, want, `layer ${i}`);
      if (i === 1) {
        assert.ok(
          lines.some((x) => x.includes('"path": "wide/.wh..wh..opq"') || x.includes('"path": ".wh.wide"')),
          'the deleted directory is whited out',
        );
        assert.ok(
          lines.some((x) => x.includes('"path": "etc/.wh.os-release"')),
          'the deleted file is whited out',
        );
      }
    } finally {
      await src.close();
    }
  }
});
