/**
 * What `/etc/fuse.conf` lets users do. `fusermount` (setuid root) refuses `allow_other` to a
 * user unless the file has a line `user_allow_other`; libfuse then reports only "fuse failed".
 * Checking first lets the mount fail with the cause and the fix.
 *
 * @packageDocumentation
 */
import { readFile } from 'node:fs/promises';

/** Where fusermount reads its configuration. */
export const FUSE_CONF = '/etc/fuse.conf';

/**
 * True when `conf` (fuse.conf's text) has `user_allow_other` on a line by itself (blanks around it
 * allowed, `#` starts a comment).
 */
export function allowsUserAllowOther(conf: string): boolean {
  return conf.split('\n').some((line) => line.replace(/#.*/, '').trim() === 'user_allow_other');
}

/**
 * The reason a user's `allow_other` mount would be refused, or undefined when it is allowed (or the
 * caller is root).
 */
export async function allowOtherRefusal(path = FUSE_CONF): Promise<string | undefined> {
  if (process.getuid?.() === 0) return undefined;
  const conf = await readFile(path, 'utf8').catch(() => '');
  if (allowsUserAllowOther(conf)) return undefined;
  return `--allow-other needs "user_allow_other" in ${path} for users other than root (fusermount refuses allow_other without it): add that line as root, or mount without --allow-other`;
}
