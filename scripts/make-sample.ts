// Regenerates sample/: a small OCI image layout holding one EROFS layer (lz4hc) of a small,
// deterministic root filesystem. The demo (`ocifs demo`) serves it with the built-in registry.
// Needs Debian's erofs-utils. Usage: node --import tsx scripts/make-sample.ts
import { mkdtemp, mkdir, writeFile, readFile, rm, symlink, link, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { createHash } from 'node:crypto';
import { runOk } from '../test/helpers/run.js';
import { writeImageLayout, MT_LAYER_EROFS } from '../test/helpers/oci-layout.js';

const root = new URL('..', import.meta.url).pathname;
const out = join(root, 'sample', 'layout');

/** Deterministic bytes: SHA-256 in counter mode over a label. */
function noise(label: string, size: number): Buffer {
  const out = Buffer.alloc(size);
  for (let i = 0, off = 0; off < size; i++, off += 32) {
    createHash('sha256').update(`${label}:${i}`).digest().copy(out, off);
  }
  return out;
}

/** Deterministic, compressible text. */
function text(lines: number): string {
  const words = [
    'block',
    'layer',
    'chunk',
    'range',
    'digest',
    'cache',
    'mount',
    'image',
    'registry',
    'inode',
    'extent',
    'lazy',
  ];
  const h = noise('words', lines * 8);
  let s = '';
  for (let i = 0; i < lines; i++) {
    s += `${i.toString().padStart(6, '0')}: ${Array.from({ length: 8 }, (_, j) => words[h[i * 8 + j] % words.length]).join(' ')}\n`;
  }
  return s;
}

const files: Record<string, string | Buffer> = {
  'etc/os-release': 'PRETTY_NAME="ocifs sample"\nNAME="ocifs-sample"\nID=ocifs-sample\nVERSION_ID=1\n',
  'etc/hostname': 'sample\n',
  'etc/motd': 'This file came out of a container image, fetched on demand by ocifs.\n',
  'usr/bin/hello': '#!/bin/sh\necho "hello from an on-demand image"\n',
  'usr/share/doc/ocifs-sample/README': [
    'ocifs sample image',
    '==================',
    '',
    'This EROFS image is bundled with ocifs for its offline demo. The demo serves it from a',
    'built-in registry on 127.0.0.1, then lists a directory and prints this file: only the',
    "superblock, the directories on the path, the inode and this file's blocks are fetched,",
    'a small fraction of the image.',
    '',
  ].join('\n'),
  'usr/share/dict/words.txt': text(40_000),
  'var/lib/sample/noise-1.bin': noise('noise-1', 1 << 20),
  'var/lib/sample/noise-2.bin': noise('noise-2', 1 << 20),
  'var/lib/sample/noise-3.bin': noise('noise-3', 1 << 20),
};

const tmp = await mkdtemp(join(tmpdir(), 'ocifs-sample-'));
try {
  const tree = join(tmp, 'rootfs');
  for (const [path, content] of Object.entries(files)) {
    await mkdir(dirname(join(tree, path)), { recursive: true });
    await writeFile(join(tree, path), content);
  }
  await chmod(join(tree, 'usr/bin/hello'), 0o755);
  await symlink('../share/doc/ocifs-sample/README', join(tree, 'usr/bin/README'));
  await link(join(tree, 'etc/motd'), join(tree, 'etc/issue'));
  const image = join(tmp, 'sample.erofs');
  await runOk('mkfs.erofs', [
    '--quiet',
    '-zlz4hc',
    '-T1700000000',
    '-U6f636966-732d-7361-6d70-6c6500000001',
    '--all-root',
    image,
    tree,
  ]);
  await rm(out, { recursive: true, force: true });
  const bytes = await readFile(image);
  const desc = await writeImageLayout(
    out,
    {
      layers: [{ bytes, mediaType: MT_LAYER_EROFS }],
      config: { Labels: { 'org.opencontainers.image.title': 'ocifs sample' } },
    },
    'latest',
  );
  console.log(`sample/layout: image ${desc.digest}, EROFS layer ${bytes.byteLength} bytes`);
} finally {
  await rm(tmp, { recursive: true, force: true });
}
