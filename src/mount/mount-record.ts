/**
 * One JSON record per live mount in `<state dir>/mounts/`, written by the process that serves
 * the mount (atomically: write a temporary file, then rename) and read by `ocifs mounts` and
 * `ocifs umount`. A record names its server by pid and the process start time, so a recycled
 * pid is never mistaken for the server.
 *
 * @packageDocumentation
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** Progress of a `--prefetch` fill. */
export interface PrefetchProgress {
  state: 'running' | 'done' | 'failed';
  /** Bytes of the blob(s) present in the cache. */
  done: number;
  /** Total bytes to fill. */
  total: number;
  /** Message of the failure, when `state` is `failed`. */
  error?: string;
}

/** What ocifs knows about one of its mounts. */
export interface MountRecord {
  version: 1;
  /** Canonical absolute mountpoint. */
  mountpoint: string;
  mode: 'tree' | 'kernel';
  /** The image reference (or local image path) as given. */
  ref: string;
  /** Digest of the mounted manifest or blob, when known. */
  digest?: string;
  /** Pid of the serving process. */
  pid: number;
  /** Start time of that process (`/proc/PID/stat` field 22), to detect a recycled pid. */
  pidStart: string;
  /** ISO time the mount became ready. */
  started: string;
  /** ISO time of the last update. */
  updated: string;
  /** Bytes fetched from the registry so far, when the source counts them. */
  bytesFetched?: number;
  /** Bytes returned to readers. */
  bytesServed: number;
  /** Read requests served. */
  reads: number;
  /** Kernel mode: the private FUSE directory that holds the backing file. */
  backingDir?: string;
  /** Kernel mode: `file` (file-backed) or `loop`. */
  via?: 'file' | 'loop';
  /** Prefetch progress, when `--prefetch` was asked. */
  prefetch?: PrefetchProgress;
  /** The server's log file (its stderr). */
  log?: string;
}

/** Directory of the records under a state dir. */
export function recordsDir(stateDir: string): string {
  return join(stateDir, 'mounts');
}

/** Path of the record of `mountpoint` (canonical). */
export function recordPath(stateDir: string, mountpoint: string): string {
  const id = createHash('sha256').update(mountpoint).digest('hex').slice(0, 24);
  return join(recordsDir(stateDir), `${id}.json`);
}

/** Writes a record atomically (readers never see half a file). */
export async function writeRecord(stateDir: string, record: MountRecord): Promise<void> {
  const dir = recordsDir(stateDir);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const path = recordPath(stateDir, record.mountpoint);
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(record, null, 2) + '\n', { mode: 0o600 });
  await rename(tmp, path);
}

/** The record of `mountpoint`, or `undefined`. */
export async function readRecord(stateDir: string, mountpoint: string): Promise<MountRecord | undefined> {
  return parseRecord(await readFile(recordPath(stateDir, mountpoint), 'utf8').catch(() => undefined));
}

function parseRecord(text: string | undefined): MountRecord | undefined {
  if (text === undefined) return undefined;
  try {
    const r = JSON.parse(text) as MountRecord;
    if (r && r.version === 1 && typeof r.mountpoint === 'string' && Number.isSafeInteger(r.pid)) return r;
  } catch {
    // A torn or foreign file: ignored.
  }
  return undefined;
}

/** All records in the state dir. */
export async function readRecords(stateDir: string): Promise<MountRecord[]> {
  const dir = recordsDir(stateDir);
  const names = await readdir(dir).catch(() => [] as string[]);
  const out: MountRecord[] = [];
  for (const n of names.filter((n) => n.endsWith('.json')).sort()) {
    const r = parseRecord(await readFile(join(dir, n), 'utf8').catch(() => undefined));
    if (r) out.push(r);
  }
  return out;
}

/** Deletes the record of `mountpoint` (no error when there is none). */
export async function removeRecord(stateDir: string, mountpoint: string): Promise<void> {
  await rm(recordPath(stateDir, mountpoint), { force: true });
}

/** The start time of process `pid` (field 22 of /proc/PID/stat), or `undefined` when it is gone. */
export async function processStart(pid: number): Promise<string | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may hold spaces: split after it.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const state = rest[0];
    if (state === 'Z' || state === 'X') return undefined;
    return rest[19];
  } catch {
    return undefined;
  }
}

/** True when the server named by the record is still running. */
export async function serverAlive(record: Pick<MountRecord, 'pid' | 'pidStart'>): Promise<boolean> {
  return (await processStart(record.pid)) === record.pidStart;
}
