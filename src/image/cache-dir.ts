/**
 * Where the blob cache lives by default: `$OCIFS_CACHE_DIR`, else `$XDG_CACHE_HOME/ocifs`,
 * else `~/.cache/ocifs`.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';

/** The default cache directory for an environment. */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.OCIFS_CACHE_DIR) return env.OCIFS_CACHE_DIR;
  if (env.XDG_CACHE_HOME) return join(env.XDG_CACHE_HOME, 'ocifs');
  return join(env.HOME || homedir(), '.cache', 'ocifs');
}
