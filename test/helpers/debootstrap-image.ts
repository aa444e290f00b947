// A Debian root filesystem made by debootstrap (bookworm, --variant=minbase: ~200 MiB, ~6800
// entries), built once per machine from the Debian mirror and kept as a tar in the test cache
// (`$TMPDIR/ocifs-test-cache`), so only the first run pays for the download (~3 minutes).
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runOk } from './run.js';

/** Where tests keep inputs that are expensive to make. */
export const TEST_CACHE = join(tmpdir(), 'ocifs-test-cache');
const MIRROR = 'http://deb.debian.org/debian';

/** The path of a tar of a debootstrap minbase root (built on first use). Needs root. */
export async function debootstrapTar(): Promise<string> {
  const final = join(TEST_CACHE, 'debootstrap-bookworm-minbase.tar');
  if (
    await stat(final).then(
      (s) => s.size > 0,
      () => false,
    )
  )
    return final;
  await mkdir(TEST_CACHE, { recursive: true });
  const work = join(TEST_CACHE, `debootstrap-${process.pid}`);
  await rm(work, { recursive: true, force: true });
  try {
    await runOk('debootstrap', ['--variant=minbase', 'bookworm', join(work, 'root'), MIRROR]);
    const tar = join(work, 'root.tar');
    await runOk('tar', [
      '--numeric-owner',
      '--xattrs',
      '--xattrs-include=*',
      '-C',
      join(work, 'root'),
      '-cf',
      tar,
      '.',
    ]);
    await rename(tar, final);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  return final;
}
