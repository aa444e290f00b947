// Test images for runtime tests: one three-layer busybox image with deletions, a directory
// replaced wholesale, a file turned into a directory, a setuid binary and files only one user
// may read, built by real producers in every layer format a lazy snapshotter serves:
//
//   tar       umoci (its own whiteouts), plain tar+gzip, no index
//   soci      the same tars recompressed, with a SOCI v1 index by `ocifs index --push` (a referrer)
//   estargz   converted by `ctr-remote image convert --estargz --oci` in a private containerd
//   erofs     each layer a directory in overlayfs's form (0/0 whiteout devices, an opaque xattr)
//             made into EROFS by mkfs.erofs, media type application/vnd.oci.image.layer.v1.erofs
//
// All four hold the same tree, which the reference run (containerd's own overlayfs snapshotter
// on the tar image) shows as `treeCommand` prints it.
import { appendFile, chmod, chown, mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { writeBusyboxRootfs } from './busybox-image.js';
import { MT_LAYER_GZIP, putImage, sha256, tagInLayout, type Descriptor } from './oci-layout.js';
import { skopeoPush } from './registry.js';
import { runOk } from './run.js';

/** Owner of the setuid test binary. */
export const SETUID_OWNER = 1234;
/** The user that owns /t/private (mode 0600). */
export const PRIVATE_OWNER = 65534;
/** A user with no file of its own (in /etc/passwd as `other`). */
export const OTHER_USER = 1000;
/** Size of the random file in the base layer that no test command reads. */
export const BIG_FILE_SIZE = 16 << 20;
/** Media type of an EROFS layer that containerd 1.6's pull handlers take for a layer. */
export const MT_LAYER_OCI_EROFS = 'application/vnd.oci.image.layer.v1.erofs';
/** Files in /t/many (one per read of the restart test's loop). */
export const MANY_FILES = 400;

/** Prints the tree under /t inside a container: one line per entry (path, type, mode, owner, size), an md5 per file, one for all of /t/many. */
export const treeCommand = [
  'sh',
  '-c',
  // Directory sizes are the filesystem's own (ext4 says 4096), so only other entries show theirs.
  'find /t ! -path "/t/many/*" ! -type d -exec stat -c "%n|%F|%a|%u|%g|%s" {} + | sort; find /t -type d -exec stat -c "%n|%F|%a|%u|%g" {} + | sort; ' +
    'find /t -type f ! -path "/t/many/*" ! -name euid -exec md5sum {} + | sort; cat /t/many/* | md5sum',
];

/**
 * A static x86-64 ELF that exits with its effective uid (mod 256): geteuid(), then exit(euid).
 * Setuid to {@link SETUID_OWNER} it exits 1234 % 256 = 210 whoever runs it; busybox cannot show
 * this, as it drops setuid privileges for applets that do not need them.
 */
export function euidElf(): Buffer {
  const code = Buffer.from([0xb8, 0x6b, 0, 0, 0, 0x0f, 0x05, 0x89, 0xc7, 0xb8, 0x3c, 0, 0, 0, 0x0f, 0x05]);
  const base = 0x400000;
  const size = 64 + 56 + code.length;
  const b = Buffer.alloc(size);
  b.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0], 0);
  b.writeUInt16LE(2, 16); // ET_EXEC
  b.writeUInt16LE(0x3e, 18); // EM_X86_64
  b.writeUInt32LE(1, 20);
  b.writeBigUInt64LE(BigInt(base + 120), 24); // e_entry
  b.writeBigUInt64LE(64n, 32); // e_phoff
  b.writeUInt16LE(64, 52); // e_ehsize
  b.writeUInt16LE(56, 54); // e_phentsize
  b.writeUInt16LE(1, 56); // e_phnum
  b.writeUInt32LE(1, 64); // PT_LOAD
  b.writeUInt32LE(5, 68); // PF_R | PF_X
  b.writeBigUInt64LE(0n, 72);
  b.writeBigUInt64LE(BigInt(base), 80);
  b.writeBigUInt64LE(BigInt(base), 88);
  b.writeBigUInt64LE(BigInt(size), 96);
  b.writeBigUInt64LE(BigInt(size), 104);
  b.writeBigUInt64LE(0x1000n, 112);
  code.copy(b, 120);
  return b;
}

/** The base layer: a busybox rootfs, a big random file, and the /t tree. */
async function writeBase(dir: string, big: Buffer): Promise<void> {
  await writeBusyboxRootfs(dir, 'ID=ocifs-snapshotter-test\n');
  await appendFile(join(dir, 'etc/passwd'), `other:x:${OTHER_USER}:${OTHER_USER}::/:/bin/sh\n`);
  await mkdir(join(dir, 'big'));
  await writeFile(join(dir, 'big/random'), big);
  const t = join(dir, 't');
  for (const d of ['dir', 'opq', 'sub/deep', 'many']) await mkdir(join(t, d), { recursive: true });
  await writeFile(join(t, 'keep'), 'keep v1\n');
  await writeFile(join(t, 'gone'), 'gone\n');
  await writeFile(join(t, 'dir/a'), 'a\n');
  await writeFile(join(t, 'dir/b'), 'b\n');
  await writeFile(join(t, 'opq/x'), 'x\n');
  await writeFile(join(t, 'opq/y'), 'y\n');
  await writeFile(join(t, 'ftd'), 'file to dir\n');
  await writeFile(join(t, 'sub/deep/f'), 'f\n');
  for (let i = 0; i < MANY_FILES; i++) await writeFile(join(t, `many/f${i}`), `file ${i}\n`.repeat(64));
  await symlink('keep', join(t, 'link'));
  await writeFile(join(t, 'euid'), euidElf());
  await chown(join(t, 'euid'), SETUID_OWNER, SETUID_OWNER);
  await chmod(join(t, 'euid'), 0o4755);
  await writeFile(join(t, 'private'), 'only 65534\n');
  await chown(join(t, 'private'), PRIVATE_OWNER, PRIVATE_OWNER);
  await chmod(join(t, 'private'), 0o600);
}

/** Layer 2 applied to a full tree (umoci diffs it). */
async function applyLayer2(root: string): Promise<void> {
  const t = join(root, 't');
  await rm(join(t, 'gone'));
  await rm(join(t, 'dir/a'));
  await rm(join(t, 'opq'), { recursive: true });
  await mkdir(join(t, 'opq'));
  await writeFile(join(t, 'opq/z'), 'z\n');
  await rm(join(t, 'ftd'));
  await mkdir(join(t, 'ftd'));
  await writeFile(join(t, 'ftd/inner'), 'inner\n');
  await writeFile(join(t, 'new'), 'new in layer 2\n');
}

/** Layer 3 applied to a full tree. */
async function applyLayer3(root: string): Promise<void> {
  await writeFile(join(root, 't/keep'), 'keep v3\n');
  await rm(join(root, 't/sub'), { recursive: true });
}

/** Layer 2 and 3 as overlayfs layer directories (what EROFS layers for overlayfs hold). */
async function writeOverlayLayers(l2: string, l3: string): Promise<void> {
  const wh = (p: string) => runOk('mknod', ['-m', '000', p, 'c', '0', '0']);
  await mkdir(join(l2, 't/dir'), { recursive: true });
  await wh(join(l2, 't/gone'));
  await wh(join(l2, 't/dir/a'));
  await mkdir(join(l2, 't/opq'));
  await runOk('setfattr', ['-n', 'trusted.overlay.opaque', '-v', 'y', join(l2, 't/opq')]);
  await writeFile(join(l2, 't/opq/z'), 'z\n');
  await mkdir(join(l2, 't/ftd'));
  await writeFile(join(l2, 't/ftd/inner'), 'inner\n');
  await writeFile(join(l2, 't/new'), 'new in layer 2\n');
  await mkdir(join(l3, 't'), { recursive: true });
  await writeFile(join(l3, 't/keep'), 'keep v3\n');
  await wh(join(l3, 't/sub'));
}

/** Images pushed to a registry, by variant. */
export interface RuntimeImages {
  /** `HOST/repo:v1` of each variant. */
  tar: string;
  soci: string;
  erofs: string;
  /** Layer descriptors of each variant (bottom first). */
  layers: Record<'tar' | 'soci' | 'erofs', Descriptor[]>;
}

/**
 * Builds the tar (umoci), SOCI and EROFS variants in `work` and pushes them to the registry at
 * `host`. `skip` leaves variants out (their refs are then empty).
 */
export async function buildRuntimeImages(
  work: string,
  host: string,
  skip: ('soci' | 'erofs')[] = [],
): Promise<RuntimeImages> {
  const big = randomBytes(BIG_FILE_SIZE);
  const base = join(work, 'base');
  await writeBase(base, big);

  // tar: umoci, one layer per step; its whiteouts are umoci's own.
  const layout = join(work, 'layout');
  await runOk('umoci', ['init', '--layout', layout]);
  await runOk('umoci', ['new', '--image', `${layout}:v1`]);
  await runOk('umoci', ['insert', '--image', `${layout}:v1`, base, '/']);
  await runOk('umoci', ['config', '--image', `${layout}:v1`, '--config.cmd', '/bin/sh']);
  for (const step of [applyLayer2, applyLayer3]) {
    const bundle = join(work, 'bundle');
    await runOk('umoci', ['unpack', '--image', `${layout}:v1`, bundle]);
    await step(join(bundle, 'rootfs'));
    await runOk('umoci', ['repack', '--image', `${layout}:v1`, bundle]);
    await rm(bundle, { recursive: true, force: true });
  }
  const tarRef = `${host}/snap/tar:v1`;
  await skopeoPush(layout, 'v1', tarRef);
  const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8')) as { manifests: Descriptor[] };
  const tarLayers = await layersOf(layout, index.manifests[0]);
  const tars: Buffer[] = await Promise.all(
    tarLayers.map(async (l) => gunzipSync(await readFile(join(layout, 'blobs/sha256', l.digest.slice(7))))),
  );

  const out: RuntimeImages = { tar: tarRef, soci: '', erofs: '', layers: { tar: tarLayers, soci: [], erofs: [] } };
  if (!skip.includes('soci')) {
    const { ref, layers } = await buildSoci(work, host, tars);
    out.soci = ref;
    out.layers.soci = layers;
  }
  if (!skip.includes('erofs')) {
    const { ref, layers } = await buildErofs(work, host, base);
    out.erofs = ref;
    out.layers.erofs = layers;
  }
  return out;
}

async function layersOf(layout: string, d: Descriptor): Promise<Descriptor[]> {
  return (
    JSON.parse(await readFile(join(layout, 'blobs/sha256', d.digest.slice(7)), 'utf8')) as { layers: Descriptor[] }
  ).layers;
}

/**
 * The tar variant's tars gzipped anew, with zTOCs. The base layer gets one more file outside
 * /t, so that its chain ID differs from the tar variant's: a snapshotter that has one image's
 * layers would otherwise take them for the other's (rightly) and never mount the other.
 */
async function buildSoci(work: string, host: string, tars: Buffer[]): Promise<{ ref: string; layers: Descriptor[] }> {
  const sociLayout = join(work, 'soci-layout');
  tars = [...tars];
  tars[0] = await withExtraFile(tars[0], 'variant', 'soci\n');
  const gz = tars.map((t) => gzipSync(t, { level: 1 }));
  const sociDesc = await putImage(sociLayout, {
    layers: gz.map((b, i) => ({ bytes: b, mediaType: MT_LAYER_GZIP, diffId: sha256(tars[i]) })),
    config: { Cmd: ['/bin/sh'] },
  });
  await tagInLayout(sociLayout, sociDesc, 'v1');
  const sociRef = `${host}/snap/soci:v1`;
  await skopeoPush(sociLayout, 'v1', sociRef);
  await pushSociIndex(sociRef, join(work, 'index-cache'));
  return { ref: sociRef, layers: await layersOf(sociLayout, sociDesc) };
}

/** One mkfs.erofs image per layer directory in overlayfs's form. */
async function buildErofs(work: string, host: string, base: string): Promise<{ ref: string; layers: Descriptor[] }> {
  const l2 = join(work, 'erofs-l2');
  const l3 = join(work, 'erofs-l3');
  await writeOverlayLayers(l2, l3);
  const erofs: Buffer[] = [];
  for (const [i, d] of [base, l2, l3].entries()) {
    const img = join(work, `layer${i}.erofs`);
    await runOk('mkfs.erofs', ['--quiet', '-zlz4hc', img, d]);
    erofs.push(await readFile(img));
  }
  const erofsLayout = join(work, 'erofs-layout');
  const erofsDesc = await putImage(erofsLayout, {
    layers: erofs.map((b) => ({ bytes: b, mediaType: MT_LAYER_OCI_EROFS })),
    config: { Cmd: ['/bin/sh'] },
  });
  await tagInLayout(erofsLayout, erofsDesc, 'v1');
  const erofsRef = `${host}/snap/erofs:v1`;
  await skopeoPush(erofsLayout, 'v1', erofsRef);
  return { ref: erofsRef, layers: await layersOf(erofsLayout, erofsDesc) };
}

/** `tar` with one more regular file at its end (before the end-of-archive blocks). */
async function withExtraFile(tar: Buffer, name: string, content: string): Promise<Buffer> {
  const { header } = await import('../unit/tar-test-helpers.js');
  let end = 0;
  // Walk the headers (every entry, pax and GNU extension headers included, is a header block
  // plus its data rounded up to 512) to the first zero block.
  while (end + 512 <= tar.length && tar.subarray(end, end + 512).some((b) => b !== 0)) {
    const size = parseInt(
      tar
        .toString('latin1', end + 124, end + 136)
        .replace(/\0.*$/, '')
        .trim() || '0',
      8,
    );
    end += 512 + Math.ceil(size / 512) * 512;
  }
  const data = Buffer.alloc(Math.ceil(content.length / 512) * 512);
  data.write(content);
  return Buffer.concat([
    tar.subarray(0, end),
    header(name, { size: Buffer.byteLength(content) }),
    data,
    Buffer.alloc(1024),
  ]);
}

/**
 * Attaches a SOCI v1 index to an image already pushed, with the real producer: `ocifs index
 * --push` (a zTOC for every layer, `span` bytes of tar between checkpoints; the index as a
 * referrer of the image manifest). Returns the bytes of the zTOCs.
 */
export async function pushSociIndex(ref: string, cacheDir: string, span = '256K'): Promise<number> {
  const { ocifsOk } = await import('./cli.js');
  const r = await ocifsOk([
    'index',
    ref,
    '--push',
    '--min-layer-size',
    '0',
    '--span',
    span,
    '--json',
    '--cache-dir',
    cacheDir,
  ]);
  const report = JSON.parse(r.stdout.toString()) as { layers: { ztoc?: { size: number } }[] };
  return report.layers.reduce((n, l) => n + (l.ztoc?.size ?? 0), 0);
}
