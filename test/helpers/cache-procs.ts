// Spawns cache-child.ts processes and talks to them (ready / go / result).
import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { readFile } from 'node:fs/promises';

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
  const proc = spawn(process.execPath, ['--import', 'tsx', script, JSON.stringify(args)], { cwd: root, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  let onReady!: () => void;
  const ready = new Promise<void>((r) => (onReady = r));
  proc.stdout!.on('data', (b: Buffer) => {
    out += b.toString();
    if (out.includes('ready\n')) onReady();
  });
  proc.stderr!.on('data', (b: Buffer) => (err += b.toString()));
  proc.stdin!.on('error', () => {});
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
    go: () => proc.stdin!.write('go\n'),
    kill: () => proc.kill('SIGKILL'),
  };
}

/**
 * Checks the cache's central invariant on disk, from outside any cache code: every chunk the
 * map marks present has exactly the blob's bytes in the data file. Returns the present count
 * (or -1 when there is no instance).
 */
export async function checkPresentChunks(blobDir: string, blob: Uint8Array): Promise<number> {
  let map: Buffer;
  let data: Buffer;
  try {
    map = await readFile(resolve(blobDir, 'map'));
    data = await readFile(resolve(blobDir, 'data'));
  } catch {
    return -1;
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
    if (!data.subarray(a, b).equals(blob.subarray(a, b))) throw new Error(`chunk ${c} is marked present but its bytes are wrong`);
    present++;
  }
  return present;
}
