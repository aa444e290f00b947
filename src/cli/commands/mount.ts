/**
 * `ocifs mount REF MOUNTPOINT`, `ocifs umount MOUNTPOINT`, `ocifs mounts [--json]`: thin
 * commands over `src/mount`. `mount` returns once the mount is ready while a background server
 * serves it (`--foreground` serves from this process until Ctrl-C).
 */
import { Option, type Command } from 'commander';
import { startMountDaemon } from '../../mount/daemon.js';
import { listMounts, unmount } from '../../mount/manage.js';
import { serveMount, type MountSpec } from '../../mount/serve-mount.js';
import type { MountRecord } from '../../mount/mount-record.js';
import { addRefOptions, imageOptionsOf, selectorOf, type RefFlags } from '../ref-options.js';
import { formatSize } from '../size.js';

interface MountFlags extends RefFlags {
  kernel?: boolean;
  foreground?: boolean;
  prefetch?: boolean;
  allowOther?: boolean;
}

/** The spec a mount command serves. */
async function specOf(ref: string, mountpoint: string, flags: MountFlags): Promise<MountSpec> {
  const { stats: _s, signal: _g, ...image } = await imageOptionsOf(flags, {}, ref);
  const selector = selectorOf(flags);
  return {
    mountpoint,
    mode: flags.kernel ? 'kernel' : 'tree',
    ref,
    source: { kind: 'image', ref, image, ...(selector ? { selector } : {}) },
    ...(flags.prefetch ? { prefetch: true } : {}),
    options: flags.allowOther ? { allowOther: true } : {},
  };
}

function describeMount(r: MountRecord): string {
  return `${r.ref} on ${r.mountpoint} (${r.mode === 'kernel' ? `kernel EROFS mount${r.via === 'loop' ? ' via a loop device' : ''}` : 'file tree'}, server pid ${r.pid})`;
}

function prefetchText(r: MountRecord): string {
  const p = r.prefetch;
  if (!p) return '-';
  if (p.state === 'failed') return 'failed';
  const pct = p.total > 0 ? Math.floor((p.done / p.total) * 100) : 100;
  return p.state === 'done' ? 'done' : `${pct}%`;
}

/** Registers `mount`, `umount` and `mounts`. */
export function register(program: Command): void {
  addRefOptions(
    program
      .command('mount')
      .description(
        'mount an image read-only: a FUSE file tree, or (--kernel, root) the kernel EROFS driver over the layer blob',
      )
      .argument('<ref>', 'image reference or local image file')
      .argument('<mountpoint>', 'an existing empty directory')
      .option('--kernel', 'let the kernel EROFS driver mount the layer blob (root; one EROFS layer)')
      .option('--foreground', 'serve from this process until interrupted, instead of a background server')
      .option('--prefetch', 'download the rest of the image in the background (reads go first)')
      .addOption(new Option('--allow-other', 'let other users access the mount (FUSE allow_other)')),
  ).action(async (ref: string, mountpoint: string, flags: MountFlags) => {
    const spec = await specOf(ref, mountpoint, flags);
    if (flags.foreground) {
      await serveMount(spec, {
        onReady: (r) => process.stderr.write(`mounted ${describeMount(r)}; Ctrl-C unmounts\n`),
      });
      return;
    }
    const r = await startMountDaemon(spec);
    process.stderr.write(`mounted ${describeMount(r)}\n`);
  });

  program
    .command('umount')
    .alias('unmount')
    .description('unmount an ocifs mount and stop its server')
    .argument('<mountpoint>', 'where the image is mounted')
    .action(async (mountpoint: string) => {
      await unmount(mountpoint);
    });

  program
    .command('mounts')
    .description('list what ocifs has mounted (mounts whose server died are cleared)')
    .option('--json', 'one JSON array of mount records')
    .action(async (flags: { json?: boolean }) => {
      const mounts = await listMounts();
      if (flags.json) {
        process.stdout.write(JSON.stringify(mounts, null, 2) + '\n');
        return;
      }
      const rows = [['MOUNTPOINT', 'MODE', 'PID', 'FETCHED', 'SERVED', 'PREFETCH', 'STARTED', 'IMAGE', 'DIGEST']];
      for (const m of mounts) {
        rows.push([
          m.mountpoint,
          m.mode,
          String(m.pid),
          m.bytesFetched === undefined ? '-' : formatSize(m.bytesFetched),
          formatSize(m.bytesServed),
          prefetchText(m),
          m.started.replace(/\.\d+Z$/, 'Z'),
          m.ref,
          m.digest ?? '-',
        ]);
      }
      const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
      for (const r of rows)
        process.stdout.write(r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  ') + '\n');
    });
}
