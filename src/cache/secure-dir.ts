/**
 * Creating and checking the cache directory so another local user cannot poison it.
 *
 * Policy (see the cache README section):
 * - a missing cache directory is created with its missing parents, each 0700;
 * - an existing cache directory must be owned by us and not writable by group or others; it is
 *   refused otherwise and never chmod-ed (it is the user's directory, not ours);
 * - every ancestor must be owned by us or root and, when group/other-writable, sticky (like
 *   /tmp) — otherwise another user could rename our directory away and put theirs in its place;
 * - the layout directories inside (blobs/, sidecars/, tmp/, trash/) are created 0700, and when
 *   they already exist they must be real directories owned by us and not group/other-writable.
 *
 * @packageDocumentation
 */
import { chmod, lstat, mkdir, realpath, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { CacheInsecureError, CacheIoError } from './errors.js';
import { CACHEDIR_TAG, LAYOUT_DIRS } from './layout.js';

const S_ISVTX = 0o1000;

function euid(): number {
  return typeof process.geteuid === 'function' ? process.geteuid() : 0;
}

/** Creates `dir` and its missing parents 0700; returns the paths it created (outermost first). */
async function createMissing(dir: string): Promise<string[]> {
  const missing: string[] = [];
  for (let p = dir; ; p = dirname(p)) {
    try {
      await stat(p);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new CacheIoError(p, 'stat', err);
      missing.unshift(p);
      if (dirname(p) === p) break;
    }
  }
  for (const p of missing) {
    try {
      await mkdir(p, { mode: 0o700 });
      // The umask may have cleared owner bits; these directories are ours, so set them exactly.
      await chmod(p, 0o700);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new CacheIoError(p, 'mkdir', err);
    }
  }
  return missing;
}

function describeMode(mode: number): string {
  return '0' + (mode & 0o7777).toString(8);
}

/** Throws {@link CacheInsecureError} unless `path` (a directory) is owned by us and not group/other-writable. */
async function checkOwnDir(cacheDir: string, path: string, useLstat: boolean): Promise<void> {
  const st = useLstat ? await lstat(path) : await stat(path);
  const uid = euid();
  if (!st.isDirectory())
    throw new CacheInsecureError(cacheDir, `${path} is not a directory`, { data: { offending: path } });
  if (st.uid !== uid) {
    throw new CacheInsecureError(cacheDir, `${path} is owned by uid ${st.uid}, not by this user (uid ${uid})`, {
      data: { offending: path, owner: st.uid, uid },
    });
  }
  if ((st.mode & 0o022) !== 0) {
    throw new CacheInsecureError(
      cacheDir,
      `${path} is writable by ${st.mode & 0o002 ? 'other users' : 'its group'} (mode ${describeMode(st.mode)}); run chmod go-w on it or choose another --cache-dir`,
      { data: { offending: path, mode: st.mode & 0o7777 } },
    );
  }
}

/** Checks the ancestors of the (real) cache directory path. */
async function checkAncestors(cacheDir: string, real: string): Promise<void> {
  const uid = euid();
  for (let p = dirname(real); ; p = dirname(p)) {
    const st = await stat(p);
    if (st.uid !== uid && st.uid !== 0) {
      throw new CacheInsecureError(cacheDir, `ancestor ${p} is owned by uid ${st.uid}, neither this user nor root`, {
        data: { offending: p, owner: st.uid },
      });
    }
    if ((st.mode & 0o022) !== 0 && (st.mode & S_ISVTX) === 0) {
      throw new CacheInsecureError(
        cacheDir,
        `ancestor ${p} is writable by other users and not sticky (mode ${describeMode(st.mode)}), so the cache directory could be replaced`,
        { data: { offending: p, mode: st.mode & 0o7777 } },
      );
    }
    if (dirname(p) === p) break;
  }
}

/**
 * Creates or checks the cache directory and its layout; returns its real path. Throws
 * {@link CacheInsecureError} when another user could write to it.
 */
export async function prepareCacheDir(dir: string): Promise<string> {
  const abs = resolve(dir);
  const created = await createMissing(abs);
  let real: string;
  try {
    real = await realpath(abs);
  } catch (err) {
    throw new CacheIoError(abs, 'realpath', err);
  }
  await checkAncestors(abs, real);
  await checkOwnDir(abs, real, false);
  for (const sub of LAYOUT_DIRS) {
    const p = join(real, sub);
    try {
      await mkdir(p, { mode: 0o700 });
      await chmod(p, 0o700);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new CacheIoError(p, 'mkdir', err);
    }
    await checkOwnDir(abs, p, true);
  }
  if (created.length > 0 || !(await exists(join(real, 'CACHEDIR.TAG')))) {
    await writeFile(join(real, 'CACHEDIR.TAG'), CACHEDIR_TAG, { mode: 0o600 }).catch(() => {});
  }
  return real;
}

async function exists(p: string): Promise<boolean> {
  try {
    await lstat(p);
    return true;
  } catch {
    return false;
  }
}
