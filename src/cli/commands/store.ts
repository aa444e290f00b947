/**
 * `ocifs store [--root DIR]`: the podman / CRI-O additional layer store, served in the
 * foreground (a systemd service) until SIGINT/SIGTERM. Event lines go to stderr.
 */
import type { Command } from 'commander';
import { DEFAULT_STORE_ROOT, serveStore } from '../../runtime/store/serve-store.js';
import { addRefOptions, imageOptionsOf, type RefFlags } from '../ref-options.js';

interface StoreFlags extends RefFlags {
  root: string;
  kernelErofs: boolean;
}

/** Registers `store`. */
export function register(program: Command): void {
  addRefOptions(
    program
      .command('store')
      .description(
        'serve an additional layer store for podman / CRI-O (containers/storage): layers are mounted lazily from the registry (root)',
      )
      .option(
        '--root <dir>',
        'the store directory that storage.conf names in additionallayerstores ("DIR:ref")',
        DEFAULT_STORE_ROOT,
      )
      .option(
        '--no-kernel-erofs',
        'serve EROFS layers through the FUSE tree instead of mounting them with the kernel EROFS driver',
      ),
    false,
    false,
  ).action(async (flags: StoreFlags) => {
    const { stats: _s, signal: _g, ...image } = await imageOptionsOf(flags);
    const log = (line: string) => process.stderr.write(`ocifs store: ${line}\n`);
    await serveStore({
      root: flags.root,
      kernelErofs: flags.kernelErofs,
      image,
      log,
      onReady: (r) =>
        log(`serving ${r.mountpoint} (pid ${r.pid}); storage.conf: additionallayerstores = ["${r.mountpoint}:ref"]`),
    });
  });
}
