// A small runnable image for runtime tests: Debian's static busybox (package busybox-static) and
// a few files, written as a rootfs folder and, with umoci, as a one-layer tar+gzip image in an
// OCI layout that skopeo can push.
import { execFileSync } from 'node:child_process';
import { copyFile, mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runOk } from './run.js';

/** Where Debian's busybox-static puts its binary. */
export const BUSYBOX = '/bin/busybox';

/**
 * Writes a runnable rootfs into `dir`: `/bin/busybox` with a symlink for each applet in /bin,
 * `/etc/os-release`, `/etc/passwd` and `/etc/group` (root and nobody), `/tmp`.
 */
export async function writeBusyboxRootfs(dir: string, osRelease = 'ID=ocifs-test\n'): Promise<void> {
  await mkdir(join(dir, 'bin'), { recursive: true });
  await mkdir(join(dir, 'etc'), { recursive: true });
  await mkdir(join(dir, 'tmp'), { recursive: true, mode: 0o1777 });
  await copyFile(BUSYBOX, join(dir, 'bin', 'busybox'));
  const applets = execFileSync(BUSYBOX, ['--list'])
    .toString()
    .split('\n')
    .filter((a) => a && a !== 'busybox');
  for (const a of applets) await symlink('busybox', join(dir, 'bin', a));
  await writeFile(join(dir, 'etc', 'os-release'), osRelease);
  await writeFile(join(dir, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n');
  await writeFile(join(dir, 'etc', 'group'), 'root:x:0:\nnogroup:x:65534:\n');
}

/**
 * Makes `layout:tag` (an OCI layout) from a rootfs folder with umoci: one tar+gzip layer,
 * cmd `/bin/sh`. Further layers: call umoci unpack/repack, or {@link addLayer}.
 */
export async function umociImage(layout: string, tag: string, rootfs: string): Promise<void> {
  await runOk('umoci', ['init', '--layout', layout]).catch(async (e: unknown) => {
    if (!/already exists/.test((e as Error).message)) throw e;
  });
  await runOk('umoci', ['new', '--image', `${layout}:${tag}`]);
  await runOk('umoci', ['insert', '--image', `${layout}:${tag}`, rootfs, '/']);
  await runOk('umoci', ['config', '--image', `${layout}:${tag}`, '--config.cmd', '/bin/sh']);
}

/** Adds one layer holding `dir`'s contents (inserted at `/`) on top of `layout:tag`. */
export async function addLayer(layout: string, tag: string, dir: string): Promise<void> {
  await runOk('umoci', ['insert', '--image', `${layout}:${tag}`, dir, '/']);
}
