/**
 * Entry script of the layer keeper (`node keeper-main.js --root DIR`), started detached by the
 * snapshotter with its stderr in `ROOT/keeper.log`. One keeper per root (a pid lock); a second
 * one exits at once. SIGTERM/SIGINT unmount every layer and exit.
 *
 * @packageDocumentation
 */
import { join } from 'node:path';
import { acquireLock, releaseLock } from './pid-lock.js';
import { KEEPER_LOCK, KEEPER_SOCKET } from './keeper-protocol.js';
import { clearStaleBacking, keeperLog, LayerKeeper, serveKeeper } from './keeper.js';
import { unlink } from 'node:fs/promises';

async function main(): Promise<void> {
  const i = process.argv.indexOf('--root');
  const root = i >= 0 ? process.argv[i + 1] : undefined;
  if (!root) {
    process.stderr.write('usage: keeper-main --root DIR\n');
    process.exit(2);
  }
  process.chdir('/');
  const lock = join(root, KEEPER_LOCK);
  const holder = await acquireLock(lock);
  if (holder) {
    keeperLog(`another keeper (pid ${holder.pid}) serves ${root}; exiting`);
    return;
  }
  await clearStaleBacking(root);
  const keeper = new LayerKeeper(root);
  const server = await serveKeeper(root, keeper);
  keeperLog(`serving ${join(root, KEEPER_SOCKET)}`);
  let stopping = false;
  const stop = async (why: string) => {
    if (stopping) return;
    stopping = true;
    keeperLog(`${why}: unmounting ${keeper.size} layer(s)`);
    server.close();
    await keeper.shutdown();
    await unlink(join(root, KEEPER_SOCKET)).catch(() => {});
    await releaseLock(lock);
    process.exit(0);
  };
  for (const s of ['SIGTERM', 'SIGINT'] as const) process.on(s, () => void stop(s));
  // The FUSE connections must outlive the snapshotter's session and terminal.
  process.on('SIGHUP', () => {});
  server.on('idle', () => void stop('idle'));
}

main().catch((err: unknown) => {
  keeperLog(`fatal: ${(err as Error)?.stack ?? String(err)}`);
  process.exit(1);
});
