/**
 * Where ocifs keeps the records of its mounts: `$OCIFS_STATE_DIR` when set, else
 * `$XDG_RUNTIME_DIR/ocifs`, else `/run/ocifs` for root, else `$XDG_CACHE_HOME/ocifs/run`
 * (`~/.cache/ocifs/run`). Runtime directories are right because a mount does not survive a
 * reboot, and neither should its record.
 *
 * @packageDocumentation
 */
import { homedir } from 'node:os';
import { join } from 'node:path';

/** The default state directory (see the module note). */
export function defaultStateDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.OCIFS_STATE_DIR) return env.OCIFS_STATE_DIR;
  if (env.XDG_RUNTIME_DIR) return join(env.XDG_RUNTIME_DIR, 'ocifs');
  if (process.getuid?.() === 0) return '/run/ocifs';
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'ocifs', 'run');
}
