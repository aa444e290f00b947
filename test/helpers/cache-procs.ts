// Spawns cache-child.ts processes and talks to them (ready / go / result).
import { spawn, type ChildProcess } from 'node:child_process';
import { join, resolve } from 'node:path';
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { originId } from '../../src/cache/origin.js';

const root = resolve(import.meta.dirname, '../..');
const script = resolve(import.meta.dirname, 'cache-child.ts');

export interface CacheChild {
  proc: ChildProcess;
  /** Resolves when the child opened the cache and the blob. */
  ready: Promise<void>;
  /** Resolves with the child's JSON result, or rejects when it fails or is killed. */
  result: Promise<Record<string, unknown>>;
  go(): void;
  kill(): void;
}

/** Starts a child running one cache action (see cache-child.ts for the arguments). */
export function startCacheChild(args: Record<string, unknown>): CacheChild {
  const proc = spawn(process.execPath, ['--import', 'tsx', script, JSON.stringify(args)], {
    cwd: root,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  let onReady!: () => void;
  const ready = new Promise<void>((r) => (onReady = r));
  proc.stdout.on('data', (b: Buffer) => {
    out += b.toString();
    if (out.includes('ready\n')) onReady();
  });
  proc.stderr.on('data', (b: Buffer) => (err += b.toString()));
  proc.stdin.on('error', () => {});
  const result = new Promise<Record<string, unknown>>((resolve, reject) => {
    proc.on('close', (code, signal) => {
      const last = out.trim().split('\n').at(-1) ?? '';
      if (code === 0 && last.startsWith('{')) resolve(JSON.parse(last));
      else reject(new Error(`child exited ${code ?? signal}: ${err.trim()}`));
    });
  });
  result.catch(() => {});
  return {
    proc,
    ready,
    result,
    go: () => proc.stdin.write('go\n'),
    kill: () => proc.kill('SIGKILL'),
  };
}

/**
 * The directory of a blob's instance in a cache: the verified one in `blobs/` when there is one,
 * else the unverified one of `origin` (default: the unnamed origin of sources opened without one).
 */
export function instanceDir(cacheDir: string, digest: string, origin = ''): string {
  const [alg, hex] = digest.split(':');
  const verified = join(cacheDir, 'blobs', alg, hex);
  return existsSync(join(verified, 'map')) ? verified : join(cacheDir, 'partial', alg, hex, originId(origin));
}

/**
 * Checks the cache's central invariant on disk, from outside any cache code: every chunk the
 * map marks present has exactly the blob's bytes in the data file. Returns the present count
 * (or -1 when there is no instance) of the blob's instance ({@link instanceDir}).
 */
export async function checkPresentChunks(cacheDir: string, digest: string, blob: Uint8Array): Promise<number> {
  let map: Buffer;
  let data: Buffer;
  // The instance moves once, from partial/ to blobs/, when it is verified: look again then.
  for (let attempt = 0; ; attempt++) {
    const dir = instanceDir(cacheDir, digest);
    try {
      map = await readFile(resolve(dir, 'map'));
      data = await readFile(resolve(dir, 'data'));
      break;
    } catch {
      if (attempt > 0) return -1;
    }
  }
  if (map.toString('latin1', 0, 8) !== 'OCIFSMAP') throw new Error('bad map magic');
  const chunk = map.readUInt32LE(12);
  const size = Number(map.readBigUInt64LE(16));
  if (size !== blob.length || data.length !== size) throw new Error(`size mismatch ${size} ${data.length}`);
  let present = 0;
  for (let c = 0; 128 + c < map.length; c++) {
    const v = map[128 + c];
    if (v === 0) continue;
    if (v !== 0xa5) throw new Error(`bad presence byte ${v} at chunk ${c}`);
    const a = c * chunk;
    const b = Math.min(size, a + chunk);
    if (!data.subarray(a, b).equals(blob.subarray(a, b)))
      throw new Error(`chunk ${c} is marked present but its bytes are wrong`);
    present++;
  }
  return present;
}
