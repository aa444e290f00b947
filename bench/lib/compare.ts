// Side-by-side measurement helpers for the image benchmarks: interleaved best-of-N runs of
// ocifs and its peer, scratch directories on a real disk, registry pushes of image files.
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { skopeoPush, type TestRegistry } from '../../test/helpers/registry.js';
import { writeImageLayout } from '../../test/helpers/oci-layout.js';
import { dropCaches, timed, timedShell, type Timed } from './measure.js';

/** One contender of a side-by-side measurement. */
export interface Contender<T extends { seconds: number }> {
  /** Untimed: clean up the previous run, make the state the measurement is defined for. */
  prepare?: () => Promise<void>;
  run: () => Promise<T>;
}

/**
 * Runs the two contenders `runs` times each, alternating which goes first (so neither always
 * gets the machine right after the other's writeback), and keeps the best (fastest) run of each.
 */
export async function interleaved<A extends { seconds: number }, B extends { seconds: number }>(
  runs: number,
  a: Contender<A>,
  b: Contender<B>,
): Promise<{ a: A; b: B; allA: number[]; allB: number[] }> {
  let bestA: A | undefined;
  let bestB: B | undefined;
  const allA: number[] = [];
  const allB: number[] = [];
  const doA = async () => {
    await a.prepare?.();
    const r = await a.run();
    allA.push(r.seconds);
    if (!bestA || r.seconds < bestA.seconds) bestA = r;
  };
  const doB = async () => {
    await b.prepare?.();
    const r = await b.run();
    allB.push(r.seconds);
    if (!bestB || r.seconds < bestB.seconds) bestB = r;
  };
  for (let i = 0; i < runs; i++) {
    if (i % 2 === 0) {
      await doA();
      await doB();
    } else {
      await doB();
      await doA();
    }
  }
  return { a: bestA!, b: bestB!, allA, allB };
}

/** Removes `paths`, flushes dirty pages, and (for cold runs) drops the page cache. */
export async function cleanSlate(paths: string[], cold: boolean): Promise<void> {
  for (const p of paths) if (p) await rm(p, { recursive: true, force: true });
  if (cold) await dropCaches();
  else await timedShell('sync');
}

/**
 * The clean state of a warm run: `paths` removed, dirty pages written, the page cache dropped
 * (writing a tree right after deleting one of the same size ran 2.5x slower for ocifs and
 * fsck.erofs alike than after a drop), then the inputs read back into the page cache: every
 * file under each of `inputs` (an image file, or an ocifs cache directory).
 */
export async function warmSlate(paths: string[], inputs: string[]): Promise<void> {
  await cleanSlate(paths, true);
  for (const input of inputs) await timedShell(`find ${q(input)} -type f -exec cat {} + > /dev/null`);
}

/** Pushes a one-layer image whose layer is the file `image` (e.g. an EROFS image). */
export async function pushImageFile(
  reg: TestRegistry,
  scratch: string,
  image: string,
  mediaType: string,
  repoTag: string,
): Promise<string> {
  const layout = join(scratch, `layout-${repoTag.replace(/\W+/g, '-')}`);
  await rm(layout, { recursive: true, force: true });
  await writeImageLayout(layout, { layers: [{ bytes: await readFile(image), mediaType }] }, 'v1');
  const ref = `${reg.host}/${repoTag}`;
  await skopeoPush(layout, 'v1', ref);
  await rm(layout, { recursive: true, force: true });
  return ref;
}

/** `skopeo copy docker://REF dir:DEST` (plain HTTP, loopback). */
export function skopeoPull(ref: string, dest: string): Promise<Timed> {
  return timed('skopeo', ['copy', '--quiet', '--src-tls-verify=false', `docker://${ref}`, `dir:${dest}`]);
}

/** A shell-quoted argument. */
export const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** Makes a directory and returns it. */
export async function dir(path: string): Promise<string> {
  await mkdir(path, { recursive: true });
  return path;
}

/**
 * A cheap fingerprint of an extracted tree (sorted `type size mode owner path` of every entry;
 * directory sizes left out, they depend on the host filesystem's history), to check that ocifs
 * and the peer produced the same tree.
 */
export async function treeListing(root: string): Promise<string[]> {
  const r = await timed(
    'find',
    [
      root,
      '-mindepth',
      '1',
      '(',
      '-type',
      'd',
      '-printf',
      '%y - %m %U:%G %P\\n',
      ')',
      '-o',
      '-printf',
      '%y %s %m %U:%G %P\\n',
    ],
    { keepStdout: true, env: { ...process.env, LC_ALL: 'C' } },
  );
  return r.stdout.toString().split('\n').filter(Boolean).sort();
}

/** How two listings differ, in a few words (or undefined when equal). */
export function listingDiff(a: string[], b: string[], names: [string, string]): string | undefined {
  const sa = new Set(a);
  const sb = new Set(b);
  const onlyA = a.filter((x) => !sb.has(x));
  const onlyB = b.filter((x) => !sa.has(x));
  if (!onlyA.length && !onlyB.length) return undefined;
  return `${onlyA.length} entries only in ${names[0]} (e.g. ${onlyA.slice(0, 3).join('; ')}), ${onlyB.length} only in ${names[1]} (e.g. ${onlyB.slice(0, 3).join('; ')})`;
}

/**
 * `ocifs ARGS --stats` like measure.ts's `ocifs()`, but started through a fork of a small shell.
 * Linux carries the peak RSS of the address space a process had before exec into its own
 * `ru_maxrss`, and a child forked from this bench process starts with a copy of its address
 * space: with a 566 MiB image buffer alive here, `ocifs inspect` reported 586 MiB of peak RSS
 * (75 MiB when started from a shell). `sh -c '…; exit $?'` forks node from the small shell
 * (the trailing command stops dash from exec-ing in place), so the figure is ocifs's own.
 */
