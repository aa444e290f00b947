// Runnable container images of a directory tree, in every layer format the snapshotter bench
// compares, pushed to a local registry:
//
//   gzip     tar+gzip layers (GNU tar | pigz), no index — also the image containerd's own
//            overlayfs snapshotter pulls and unpacks (the peer)
//   soci     the same layers, with a SOCI v1 index by `ocifs index --push` (soci's 4 MiB span)
//   estargz  converted from gzip by the real producer, `ctr-remote image convert --estargz`
//   erofs    `mkfs.erofs -zlz4hc` of each layer, media type application/vnd.oci.image.layer.v1.erofs
//
// A tree that cannot run a command by itself (the bench's rootfs of host directories) gets a
// second layer with a static busybox in /bin. Layer files are cached under `home` by name.
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { skopeoPush, type TestRegistry } from '../../test/helpers/registry.js';
import { putImage, tagInLayout, MT_LAYER_GZIP, type Descriptor } from '../../test/helpers/oci-layout.js';
import { MT_LAYER_OCI_EROFS, pushSociIndex } from '../../test/helpers/runtime-images.js';
import { startContainerd } from '../../test/helpers/containerd.js';
import { timedShell, timed } from './measure.js';

/** Layer formats of an image set. */
export const VARIANTS = ['erofs', 'soci', 'estargz', 'gzip'] as const;
export type Variant = (typeof VARIANTS)[number];

/** soci-snapshotter's default span between zTOC checkpoints (also `ocifs index`'s). */
export const SOCI_SPAN = '4M';

/** One image in every format. */
export interface ImageSet {
  name: string;
  refs: Record<Variant, string>;
  /** Bytes of each variant's layers. */
  layerBytes: Record<Variant, number>;
  /** Bytes of metadata a lazy reader fetches before any file: the zTOCs (soci), the TOCs (estargz). */
  metadataBytes: Record<Variant, number>;
}

async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return `sha256:${h.digest('hex')}`;
}

/** A directory holding only /bin/busybox and its applets. */
async function busyboxTree(dir: string): Promise<void> {
  await mkdir(join(dir, 'bin'), { recursive: true });
  await mkdir(join(dir, 'tmp'), { recursive: true, mode: 0o1777 });
  await copyFile('/bin/busybox', join(dir, 'bin/busybox'));
  const applets = execFileSync('/bin/busybox', ['--list'])
    .toString()
    .split('\n')
    .filter((a) => a && a !== 'busybox');
  for (const a of applets) await symlink('busybox', join(dir, 'bin', a));
}

interface LayerFiles {
  tar: string;
  gz: string;
  erofs: string;
  diffId: string;
}

/** The tar (for its digest), tar+gzip and EROFS forms of one layer directory, cached in `home`. */
async function layerFiles(home: string, name: string, dir: string): Promise<LayerFiles> {
  const f = {
    tar: join(home, `${name}.tar`),
    gz: join(home, `${name}.tar.gz`),
    erofs: join(home, `${name}.erofs`),
    id: join(home, `${name}.diffid`),
  };
  if (!existsSync(f.id)) {
    process.stderr.write(`snapshotter bench: layer files of ${dir}…\n`);
    await timedShell(
      `tar --numeric-owner --xattrs --xattrs-include='*' -C '${dir}' -cf '${f.tar}' . && pigz -6 -c '${f.tar}' > '${f.gz}'`,
    );
    await rm(f.erofs, { force: true });
    await timed('mkfs.erofs', ['--quiet', '-zlz4hc', f.erofs, dir]);
    await writeFile(f.id, await sha256File(f.tar));
  }
  return { tar: f.tar, gz: f.gz, erofs: f.erofs, diffId: (await readFile(f.id, 'utf8')).trim() };
}

async function push(
  layout: string,
  ref: string,
  layers: { path: string; mediaType: string; diffId: string }[],
): Promise<Descriptor> {
  await rm(layout, { recursive: true, force: true });
  const desc = await putImage(layout, {
    layers: await Promise.all(
      layers.map(async (l) => ({ bytes: await readFile(l.path), mediaType: l.mediaType, diffId: l.diffId })),
    ),
    config: { Cmd: ['/bin/sh'] },
  });
  await tagInLayout(layout, desc, 'v1');
  await skopeoPush(layout, 'v1', ref);
  return desc;
}

/** Builds and pushes `tree` (plus a busybox layer when `busybox`) as `bench/NAME-VARIANT:v1`. */
export async function buildImageSet(
  reg: TestRegistry,
  work: string,
  name: string,
  tree: string,
  busybox: boolean,
): Promise<ImageSet> {
  const home = join(work, `snapimg-${name}`);
  await mkdir(home, { recursive: true });
  const dirs = [tree];
  if (busybox) {
    const bb = join(home, 'busybox-tree');
    if (!existsSync(join(bb, 'bin/busybox'))) await busyboxTree(bb);
    dirs.push(bb);
  }
  const files: LayerFiles[] = [];
  for (const [i, d] of dirs.entries()) files.push(await layerFiles(home, `layer${i}`, d));
  const refs = {} as Record<Variant, string>;
  const layerBytes = {} as Record<Variant, number>;
  const metadataBytes = { erofs: 0, soci: 0, estargz: 0, gzip: 0 } as Record<Variant, number>;
  const size = async (paths: string[]) =>
    (await Promise.all(paths.map((p) => stat(p)))).reduce((n, s) => n + s.size, 0);
  const scratch = join(home, 'layouts');

  refs.gzip = `${reg.host}/bench/${name}-gzip:v1`;
  await push(
    join(scratch, 'gzip'),
    refs.gzip,
    files.map((f) => ({ path: f.gz, mediaType: MT_LAYER_GZIP, diffId: f.diffId })),
  );
  layerBytes.gzip = await size(files.map((f) => f.gz));

  refs.soci = `${reg.host}/bench/${name}-soci:v1`;
  await push(
    join(scratch, 'soci'),
    refs.soci,
    files.map((f) => ({ path: f.gz, mediaType: MT_LAYER_GZIP, diffId: f.diffId })),
  );
  process.stderr.write(`snapshotter bench: ocifs index --push of ${name}…\n`);
  layerBytes.soci = layerBytes.gzip;
  metadataBytes.soci = await pushSociIndex(refs.soci, join(home, 'index-cache'), SOCI_SPAN);

  refs.erofs = `${reg.host}/bench/${name}-erofs:v1`;
  await push(
    join(scratch, 'erofs'),
    refs.erofs,
    await Promise.all(
      files.map(async (f) => ({ path: f.erofs, mediaType: MT_LAYER_OCI_EROFS, diffId: await sha256File(f.erofs) })),
    ),
  );
  layerBytes.erofs = await size(files.map((f) => f.erofs));
  await rm(scratch, { recursive: true, force: true });

  // eStargz by its own producer, in a private containerd.
  refs.estargz = `${reg.host}/bench/${name}-estargz:v1`;
  process.stderr.write(`snapshotter bench: ctr-remote convert --estargz of ${name}…\n`);
  const conv = await startContainerd();
  try {
    await conv.ctrOk(['content', 'fetch', '--plain-http', refs.gzip], { timeoutMs: 900_000 });
    const c = await conv.ctrRemote(['image', 'convert', '--estargz', '--oci', refs.gzip, refs.estargz], {
      timeoutMs: 1_800_000,
    });
    if (c.code !== 0) throw new Error(`ctr-remote convert: ${c.stderr}`);
    await conv.ctrOk(['image', 'push', '--plain-http', refs.estargz, refs.estargz], { timeoutMs: 900_000 });
  } finally {
    await conv.stop();
  }
  const m = (await (
    await fetch(`${reg.url}/v2/bench/${name}-estargz/manifests/v1`, {
      headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
    })
  ).json()) as {
    layers: { digest: string; size: number }[];
  };
  layerBytes.estargz = m.layers.reduce((n, l) => n + l.size, 0);
  metadataBytes.estargz = await estargzTocBytes(reg, `bench/${name}-estargz`, m.layers);
  return { name, refs, layerBytes, metadataBytes };
}

/** Compressed bytes of the eStargz TOCs (from each layer's footer to its end). */
async function estargzTocBytes(
  reg: TestRegistry,
  repo: string,
  layers: { digest: string; size: number }[],
): Promise<number> {
  const { parseEstargzFooter, ESTARGZ_FOOTER_SIZE } = await import('../../src/tar/estargz.js');
  let n = 0;
  for (const l of layers) {
    const r = await fetch(`${reg.url}/v2/${repo}/blobs/${l.digest}`, {
      headers: { range: `bytes=${l.size - ESTARGZ_FOOTER_SIZE}-${l.size - 1}` },
    });
    const footer = parseEstargzFooter(new Uint8Array(await r.arrayBuffer()));
    if (footer) n += l.size - footer.tocOffset;
  }
  return n;
}
