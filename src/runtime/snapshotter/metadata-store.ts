/**
 * The snapshotter's durable metadata: every snapshot containerd was told about (key or name,
 * kind, parent, labels, times, and for a remote layer what to mount again), kept in memory and
 * made durable before an operation answers.
 *
 * On disk: `state.json` (a full copy) and `journal` (one JSON line per change since that copy:
 * put a record, delete a key, or commit — delete one key and put a record in one line). A change
 * is answered only after its line is written and fdatasync-ed; concurrent changes share one
 * flush. Replaying a line is idempotent (a put overwrites, a delete of a missing key does
 * nothing), so the copy can be rewritten (tmp file, fsync, rename, fsync of the directory) and
 * the journal emptied afterwards without any state in between being wrong. A kill -9 or a
 * power cut loses at most changes that were not yet answered; a torn last line is ignored.
 *
 * @packageDocumentation
 */
import { open, readFile, rename, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { debuglog } from 'node:util';
import { OcifsError } from '../../errors.js';

const debug = debuglog('ocifs:snapshotter');

/** Snapshot kinds (containerd's `snapshots.Kind`). */
export type SnapshotKind = 'view' | 'active' | 'committed';

/** A layer served from a registry: what the keeper needs to mount it again. */
export interface RemoteLayer {
  /** The image reference the layer was found through (canonical). */
  ref: string;
  digest: string;
  size: number;
  mediaType: string;
  annotations?: Record<string, string>;
  /** Digest of the image manifest that lists the layer (for its SOCI index). */
  manifestDigest?: string;
  /** Annotations of that manifest (SOCI v2 names its index there). */
  manifestAnnotations?: Record<string, string>;
}

/** One snapshot. */
export interface SnapshotRecord {
  /** Key (active, view) or name (committed). */
  key: string;
  /** Directory number under `snapshots/`; never reused. */
  id: number;
  kind: SnapshotKind;
  /** Name of the parent (a committed snapshot), or empty. */
  parent: string;
  labels: Record<string, string>;
  /** Milliseconds since the epoch. */
  created: number;
  updated: number;
  /** Disk use of a committed snapshot, computed at commit. */
  usage?: { size: number; inodes: number };
  /** Set for a committed snapshot that is a lazily mounted registry layer. */
  remote?: RemoteLayer;
}

type JournalEntry =
  { op: 'put'; rec: SnapshotRecord } | { op: 'del'; key: string } | { op: 'commit'; from: string; rec: SnapshotRecord };

/** The metadata files are damaged beyond a torn last line. */
export class MetadataCorruptError extends OcifsError {
  constructor(path: string, detail: string) {
    super('ERR_OCIFS_SNAPSHOTTER_METADATA_CORRUPT', `${path}: ${detail}`, { data: { path } });
  }
}

/** Journal lines after which the state copy is rewritten and the journal emptied. */
export const COMPACT_AFTER_LINES = 4096;

const STATE = 'state.json';
const JOURNAL = 'journal';

/** The metadata of one snapshotter root (see the module comment). Single process: the root lock guarantees it. */
export class MetadataStore {
  private readonly byKey = new Map<string, SnapshotRecord>();
  private maxId = 0;
  private lines = 0;
  private pending: { line: string; done: (err?: unknown) => void }[] = [];
  private flushing: Promise<void> | undefined;

  private constructor(
    private readonly dir: string,
    private journal: FileHandle,
  ) {}

  /** Loads (and compacts) the metadata in `dir`, creating it when absent. */
  static async open(dir: string): Promise<MetadataStore> {
    const journalPath = join(dir, JOURNAL);
    const fh = await open(journalPath, 'a+', 0o600);
    const store = new MetadataStore(dir, fh);
    try {
      await store.load();
      await store.compact();
    } catch (err) {
      await fh.close();
      throw err;
    }
    return store;
  }

  private async load(): Promise<void> {
    const statePath = join(this.dir, STATE);
    const text = await readFile(statePath, 'utf8').catch((err: unknown) => {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    });
    if (text !== undefined) {
      let state: { version: number; snapshots: SnapshotRecord[] };
      try {
        state = JSON.parse(text) as typeof state;
      } catch (err) {
        throw new MetadataCorruptError(statePath, `not JSON (${(err as Error).message})`);
      }
      if (state.version !== 1 || !Array.isArray(state.snapshots))
        throw new MetadataCorruptError(statePath, 'unknown format');
      for (const r of state.snapshots) this.apply({ op: 'put', rec: r });
    }
    const journal = (await readFile(join(this.dir, JOURNAL))).toString('utf8');
    const lines = journal.split('\n');
    for (let i = 0; i < lines.length; i++) {
      if (!lines[i]) continue;
      let entry: JournalEntry;
      try {
        entry = JSON.parse(lines[i]) as JournalEntry;
      } catch {
        // A torn write at the end (the process died mid-line) loses only that change.
        if (i >= lines.length - 2) {
          debug('journal: ignoring a torn last line');
          break;
        }
        throw new MetadataCorruptError(join(this.dir, JOURNAL), `line ${i + 1} is not JSON`);
      }
      this.apply(entry);
    }
  }

  private apply(e: JournalEntry): void {
    if (e.op === 'del') {
      this.byKey.delete(e.key);
      return;
    }
    if (e.op === 'commit') this.byKey.delete(e.from);
    this.byKey.set(e.rec.key, e.rec);
    this.maxId = Math.max(this.maxId, e.rec.id);
  }

  /** The record of a key or name. */
  get(key: string): SnapshotRecord | undefined {
    return this.byKey.get(key);
  }

  /** Every record, in no particular order. */
  all(): SnapshotRecord[] {
    return [...this.byKey.values()];
  }

  /** True when some snapshot has `name` as its parent. */
  hasChildren(name: string): boolean {
    for (const r of this.byKey.values()) if (r.parent === name) return true;
    return false;
  }

  /** Makes {@link newId} skip `id` (a directory left by a snapshot that was never recorded). */
  noteId(id: number): void {
    if (Number.isSafeInteger(id)) this.maxId = Math.max(this.maxId, id);
  }

  /** A directory number no snapshot has had. */
  newId(): number {
    return ++this.maxId;
  }

  /** Adds or replaces a record; resolves once it is durable. */
  put(rec: SnapshotRecord): Promise<void> {
    return this.change({ op: 'put', rec });
  }

  /** Removes a record; resolves once that is durable. */
  delete(key: string): Promise<void> {
    return this.change({ op: 'del', key });
  }

  /** Replaces the record `from` by `rec` (a commit) in one durable step. */
  commit(from: string, rec: SnapshotRecord): Promise<void> {
    return this.change({ op: 'commit', from, rec });
  }

  /**
   * Applies the change in memory at once (so checks made before it in the same tick stay
   * true for the next caller) and resolves when it is on disk; a failed write undoes it.
   */
  private change(e: JournalEntry): Promise<void> {
    const before = new Map<string, SnapshotRecord | undefined>();
    for (const k of e.op === 'del' ? [e.key] : e.op === 'commit' ? [e.from, e.rec.key] : [e.rec.key])
      before.set(k, this.byKey.get(k));
    this.apply(e);
    return new Promise<void>((resolve, reject) => {
      this.pending.push({
        line: JSON.stringify(e) + '\n',
        done: (err) => {
          if (err === undefined) return resolve();
          for (const [k, v] of before) {
            if (v) this.byKey.set(k, v);
            else this.byKey.delete(k);
          }
          // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- the write's failure, as given
          reject(err);
        },
      });
      this.flushing ??= this.flush();
    });
  }

  private async flush(): Promise<void> {
    while (this.pending.length) {
      const batch = this.pending;
      this.pending = [];
      try {
        await this.journal.write(batch.map((b) => b.line).join(''));
        await this.journal.datasync();
        this.lines += batch.length;
        for (const b of batch) b.done();
      } catch (err) {
        for (const b of batch) b.done(err);
      }
      // Only when memory holds nothing that is not on disk yet.
      if (this.lines >= COMPACT_AFTER_LINES && this.pending.length === 0)
        await this.compact().catch((err: unknown) => debug('compaction failed: %s', err));
    }
    this.flushing = undefined;
  }

  /** Writes the full state durably, then empties the journal. */
  private async compact(): Promise<void> {
    const text = JSON.stringify({ version: 1, snapshots: this.all() });
    const tmp = join(this.dir, `${STATE}.tmp`);
    const fh = await open(tmp, 'w', 0o600);
    try {
      await fh.writeFile(text);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, join(this.dir, STATE));
    await syncDir(this.dir);
    await this.journal.truncate(0);
    await this.journal.sync();
    this.lines = 0;
  }

  /** Waits for pending writes and closes the journal. */
  async close(): Promise<void> {
    await this.flushing;
    await this.journal.close();
  }
}

/** fsync of a directory, so a rename in it is durable. */
export async function syncDir(dir: string): Promise<void> {
  const d = await open(dir, 'r');
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}
