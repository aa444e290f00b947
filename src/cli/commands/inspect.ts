/**
 * `ocifs inspect REF [--json]`: the resolved manifest — registry, repository, digest, platform,
 * config summary and layers.
 */
import type { Command } from 'commander';
import { formatPlatform } from '../../oci/platform.js';
import type { Image } from '../../image/index.js';
import { addRefOptions, type RefFlags } from '../ref-options.js';
import { withImage } from '../session.js';
import { formatSize } from '../size.js';

/** A layer as `inspect` shows it. */
interface LayerSummary {
  index: number;
  digest: string;
  mediaType: string;
  size: number;
  annotations?: Record<string, string>;
}

/** The inspect document of a local image file. */
interface FileDocument {
  kind: 'file';
  path: string;
  size: number;
}

/** The inspect document of a registry or layout image. */
interface ImageDocument {
  kind?: undefined;
  reference: string;
  registry: string;
  repository: string;
  tag?: string;
  digest: string;
  mediaType: string;
  index?: { digest: string; mediaType: string; manifests: number };
  platform?: string;
  config: {
    digest: string;
    mediaType: string;
    size: number;
    created?: string;
    author?: string;
    user?: string;
    entrypoint?: string[];
    cmd?: string[];
    workingDir?: string;
    env?: string[];
    labels?: Record<string, string>;
    diffIds?: string[];
  };
  layers: LayerSummary[];
  totalSize: number;
}

/** The inspect document (`--json` prints it as is). */
export function inspectDocument(image: Image): FileDocument | ImageDocument {
  const r = image.resolved;
  const layers = image.layers.map((l) => ({
    index: l.index,
    digest: l.digest,
    mediaType: l.mediaType,
    size: l.size,
    ...(l.annotations ? { annotations: l.annotations } : {}),
  }));
  if (!r) return { kind: 'file', path: image.name, size: image.layers[0].size };
  const c = r.config;
  return {
    reference: r.reference.canonical,
    registry: r.registry,
    repository: r.repository,
    ...(r.reference.tag ? { tag: r.reference.tag } : {}),
    digest: r.manifestDigest,
    mediaType: r.mediaType,
    ...(r.index
      ? { index: { digest: r.index.digest, mediaType: r.index.mediaType, manifests: r.index.index.manifests.length } }
      : {}),
    ...(r.platform ? { platform: formatPlatform(r.platform) } : {}),
    config: {
      digest: r.configDigest,
      mediaType: r.configDescriptor.mediaType,
      size: r.configDescriptor.size,
      ...(c
        ? {
            created: c.created,
            author: c.author,
            user: c.config?.User,
            entrypoint: c.config?.Entrypoint,
            cmd: c.config?.Cmd,
            workingDir: c.config?.WorkingDir,
            env: c.config?.Env,
            labels: c.config?.Labels,
            diffIds: c.rootfs.diff_ids,
          }
        : {}),
    },
    layers,
    totalSize: layers.reduce((n, l) => n + l.size, 0),
  };
}

function printHuman(doc: FileDocument | ImageDocument): void {
  const out: string[] = [];
  if (doc.kind === 'file') {
    out.push(`file:     ${doc.path}`, `size:     ${doc.size} (${formatSize(doc.size)})`);
    process.stdout.write(out.join('\n') + '\n');
    return;
  }
  const cfg = doc.config;
  out.push(`reference:  ${doc.reference}`);
  out.push(`registry:   ${doc.registry}`);
  out.push(`repository: ${doc.repository}`);
  out.push(`digest:     ${doc.digest}`);
  out.push(`mediaType:  ${doc.mediaType}`);
  if (doc.index) {
    const i = doc.index;
    out.push(`index:      ${i.digest} (${i.manifests} manifests)`);
  }
  if (doc.platform) out.push(`platform:   ${doc.platform}`);
  out.push(`config:     ${cfg.digest} (${cfg.mediaType}, ${cfg.size} bytes)`);
  for (const [k, label] of [
    ['created', 'created'],
    ['user', 'user'],
    ['workingDir', 'workdir'],
  ] as const) {
    if (cfg[k]) out.push(`  ${label.padEnd(10)}${cfg[k]}`);
  }
  for (const [k, label] of [
    ['entrypoint', 'entrypoint'],
    ['cmd', 'cmd'],
  ] as const) {
    if (cfg[k]) out.push(`  ${label.padEnd(10)}${JSON.stringify(cfg[k])}`);
  }
  for (const e of cfg.env ?? []) out.push(`  env       ${e}`);
  for (const [k, v] of Object.entries(cfg.labels ?? {})) out.push(`  label     ${k}=${v}`);
  const layers = doc.layers;
  out.push(`layers:     ${layers.length} (${formatSize(doc.totalSize)})`);
  for (const l of layers)
    out.push(`  ${String(l.index).padStart(3)}  ${l.digest}  ${String(l.size).padStart(12)}  ${l.mediaType}`);
  process.stdout.write(out.join('\n') + '\n');
}

/** Registers `inspect`. */
export function register(program: Command): void {
  addRefOptions(
    program
      .command('inspect')
      .description('show the resolved manifest: registry, repository, digest, platform, config and layers')
      .argument('<ref>', 'image reference or local image file')
      .option('--json', 'print JSON'),
    false,
  ).action(async (ref: string, flags: RefFlags & { json?: boolean }) => {
    await withImage(
      ref,
      flags,
      async ({ image }) => {
        const doc = inspectDocument(image);
        if (flags.json) process.stdout.write(JSON.stringify(doc, null, 2) + '\n');
        else printHuman(doc);
      },
      { config: true },
    );
  });
}
