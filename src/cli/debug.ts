/**
 * `--debug`: turns the library's debug channels on in this process. They read `NODE_DEBUG` when
 * first used (`io/debug-log.ts`), so setting it before the command runs is enough; the processes
 * the command starts (the mount server) inherit it.
 */

/** The NODE_DEBUG channels `--debug` turns on. */
export const DEBUG_CHANNELS = 'ocifs:*';

/** When `--debug` is on the command line, adds {@link DEBUG_CHANNELS} to `NODE_DEBUG`; returns whether it is. */
export function setUpDebug(argv: string[] = process.argv): boolean {
  if (!argv.slice(2).includes('--debug')) return false;
  const current = process.env.NODE_DEBUG;
  if (!(current ?? '').split(',').includes(DEBUG_CHANNELS)) {
    process.env.NODE_DEBUG = [current, DEBUG_CHANNELS].filter(Boolean).join(',');
  }
  return true;
}
