/**
 * The snapshotter's semantics, as containerd's snapshot storage defines them (and its
 * overlayfs snapshotter implements them): keys of active snapshots and views, names of
 * committed ones, parents that must be committed, commit consuming the active key, no removal
 * of a snapshot that has children, labels as the only mutable field.
 *
 * One addition: a Prepare whose labels ask for a registry layer (see remote-labels.ts) mounts
 * that layer lazily, records it as the committed snapshot its target label names, and answers
 * AlreadyExists — containerd then takes the layer as unpacked and never downloads it. When
 * that cannot be done the Prepare goes on as a normal one (containerd downloads and unpacks
 * the layer); the fallback is logged with its reason and counted, never silent.
 *
 * @packageDocumentation
 */
import { chown, mkdir, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { readMountInfo } from '../../mount/mountinfo.js';
import { runUnmount } from '../../mount/unmount-command.js';
import { diskUsage, type DiskUsage } from './disk-usage.js';
import { SnapshotError, snapshotExists, snapshotNotFound } from './errors.js';
import { compileFilters } from './filters.js';
import type { MetadataStore, RemoteLayer, SnapshotKind, SnapshotRecord } from './metadata-store.js';
import { snapshotMounts, type SnapshotPaths } from './mounts.js';
import type { WireInfo, WireMount } from './proto.js';
import { remoteLayerRequest, TARGET_SNAPSHOT_LABEL, type RemoteLayerRequest } from './remote-labels.js';

/** Mounts and unmounts registry layers (the layer keeper, through the resolver). */
export interface RemoteLayerSource {
  /** Resolves the layer and mounts it at `mountpoint` (an empty directory). */
  mount(req: RemoteLayerRequest, mountpoint: string): Promise<{ layer: RemoteLayer; format: string }>;
  unmount(mountpoint: string): Promise<void>;
}

/** What the snapshotter reports as it works (log lines, metrics). */
export interface SnapshotterEvents {
  log(message: string): void;
  lazy?(format: string, seconds: number): void;
  fallback?(reason: string): void;
}

/** Options of {@link Snapshotter}. */
export interface SnapshotterOptions {
  root: string;
  store: MetadataStore;
  remote?: RemoteLayerSource;
  events: SnapshotterEvents;
}

const KIND_NAMES: Record<SnapshotKind, WireInfo['kind']> = { view: 'VIEW', active: 'ACTIVE', committed: 'COMMITTED' };

function timestamp(ms: number): { seconds: number; nanos: number } {
  return { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1_000_000 };
}

/** The snapshots service over a {@link MetadataStore} and `ROOT/snapshots/N` directories. */
export class Snapshotter {
  private readonly remoteInFlight = new Map<string, Promise<boolean>>();
  /** Directory numbers of snapshots being made (not yet in the store): Cleanup leaves them. */
  private readonly making = new Set<number>();

  constructor(private readonly o: SnapshotterOptions) {}

  /** `ROOT/snapshots`. */
  get snapshotsDir(): string {
    return join(this.o.root, 'snapshots');
  }

  /** The directories of a snapshot. */
  paths(rec: Pick<SnapshotRecord, 'id'>): SnapshotPaths {
    const dir = join(this.snapshotsDir, String(rec.id));
    return { fs: join(dir, 'fs'), work: join(dir, 'work') };
  }

  private get(key: string): SnapshotRecord {
    const rec = this.o.store.get(key);
    if (!rec) throw snapshotNotFound(key);
    return rec;
  }

  /** The `fs` paths of `parent` and its ancestors, nearest first. */
  private chain(parent: string): string[] {
    const out: string[] = [];
    for (let name = parent; name;) {
      const p = this.o.store.get(name);
      if (!p)
        throw new SnapshotError('not-found', `parent snapshot ${JSON.stringify(name)} does not exist`, {
          data: { key: name },
        });
      out.push(this.paths(p).fs);
      name = p.parent;
    }
    return out;
  }

  private info(rec: SnapshotRecord): WireInfo {
    return {
      name: rec.key,
      parent: rec.parent,
      kind: KIND_NAMES[rec.kind],
      createdAt: timestamp(rec.created),
      updatedAt: timestamp(rec.updated),
      labels: { ...rec.labels },
    };
  }

  /** Prepare: an active snapshot on `parent` — or a lazily mounted registry layer (module comment). */
  async prepare(key: string, parent: string, labels: Record<string, string>): Promise<WireMount[]> {
    const target = labels[TARGET_SNAPSHOT_LABEL];
    const req = target ? remoteLayerRequest(labels) : undefined;
    if (target && req !== undefined && this.o.store.get(key) === undefined) {
      if (typeof req === 'string') this.fallback(target, req);
      else if (await this.prepareRemote(target, parent, labels, req)) throw snapshotExists(target, 'target snapshot');
    }
    return this.create('active', key, parent, labels);
  }

  /** View: a read-only snapshot on `parent`. */
  view(key: string, parent: string, labels: Record<string, string>): Promise<WireMount[]> {
    return this.create('view', key, parent, labels);
  }

  private checkNew(key: string, parent: string): void {
    if (!key) throw new SnapshotError('invalid-argument', 'a snapshot key must not be empty');
    if (this.o.store.get(key)) throw snapshotExists(key);
    if (parent) {
      const p = this.o.store.get(parent);
      if (!p)
        throw new SnapshotError('not-found', `parent snapshot ${JSON.stringify(parent)} does not exist`, {
          data: { key: parent },
        });
      if (p.kind !== 'committed')
        throw new SnapshotError('invalid-argument', `parent ${JSON.stringify(parent)} is not a committed snapshot`, {
          data: { key: parent },
        });
    }
  }

  private async create(
    kind: 'active' | 'view',
    key: string,
    parent: string,
    labels: Record<string, string>,
  ): Promise<WireMount[]> {
    this.checkNew(key, parent);
    const now = Date.now();
    const rec: SnapshotRecord = {
      key,
      id: this.o.store.newId(),
      kind,
      parent,
      labels: { ...labels },
      created: now,
      updated: now,
    };
    const paths = this.paths(rec);
    const parents = this.chain(parent);
    this.making.add(rec.id);
    try {
      await mkdir(paths.fs, { recursive: true, mode: 0o755 });
      if (kind === 'active' && parents.length) {
        await mkdir(paths.work, { mode: 0o700 });
        // The upper directory's owner is the lower root's, as containerd's overlayfs does it.
        const st = await stat(parents[0]);
        await chown(paths.fs, st.uid, st.gid);
      }
      // The key may have been taken while the directories were made.
      this.checkNew(key, parent);
      await this.o.store.put(rec);
    } catch (err) {
      await rm(join(this.snapshotsDir, String(rec.id)), { recursive: true, force: true }).catch(() => {});
      throw err;
    } finally {
      this.making.delete(rec.id);
    }
    return snapshotMounts(kind, paths, parents);
  }

  /** True when the layer is now the committed snapshot `target` (mounted by this or a concurrent call). */
  private prepareRemote(
    target: string,
    parent: string,
    labels: Record<string, string>,
    req: RemoteLayerRequest,
  ): Promise<boolean> {
    const have = this.o.store.get(target);
    if (have) return Promise.resolve(have.kind === 'committed' && have.parent === parent);
    let p = this.remoteInFlight.get(target);
    if (!p) {
      p = this.mountRemote(target, parent, labels, req).finally(() => this.remoteInFlight.delete(target));
      this.remoteInFlight.set(target, p);
    }
    return p;
  }

  private async mountRemote(
    target: string,
    parent: string,
    labels: Record<string, string>,
    req: RemoteLayerRequest,
  ): Promise<boolean> {
    const remote = this.o.remote;
    if (!remote) {
      this.fallback(target, 'remote layers are turned off');
      return false;
    }
    const started = performance.now();
    const now = Date.now();
    const rec: SnapshotRecord = {
      key: target,
      id: this.o.store.newId(),
      kind: 'committed',
      parent,
      labels: { ...labels },
      created: now,
      updated: now,
      usage: { size: 0, inodes: 0 },
    };
    const paths = this.paths(rec);
    this.making.add(rec.id);
    try {
      this.checkNew(target, parent);
      this.chain(parent);
      await mkdir(paths.fs, { recursive: true, mode: 0o755 });
      const { layer, format } = await remote.mount(req, paths.fs);
      rec.remote = layer;
      try {
        this.checkNew(target, parent);
        await this.o.store.put(rec);
      } catch (err) {
        await remote.unmount(paths.fs).catch(() => {});
        throw err;
      }
      const seconds = (performance.now() - started) / 1000;
      this.o.events.lazy?.(format, seconds);
      this.o.events.log(
        `layer ${req.layerDigest} of ${req.ref} mounted lazily (${format}) as ${target} in ${seconds.toFixed(3)} s (labels from ${req.source})`,
      );
      return true;
    } catch (err) {
      await this.removeDir(join(this.snapshotsDir, String(rec.id))).catch(() => {});
      if (err instanceof SnapshotError && err.errorClass === 'already-exists')
        return this.o.store.get(target)?.kind === 'committed';
      this.fallback(target, (err as Error).message ?? String(err));
      return false;
    } finally {
      this.making.delete(rec.id);
    }
  }

  private fallback(target: string, reason: string): void {
    this.o.events.fallback?.(reason);
    this.o.events.log(
      `FALLBACK: ${target} will be downloaded and unpacked by containerd, not mounted lazily: ${reason}`,
    );
  }

  /** Mounts of an active snapshot or a view. */
  mounts(key: string): WireMount[] {
    const rec = this.get(key);
    if (rec.kind === 'committed')
      throw new SnapshotError(
        'failed-precondition',
        `snapshot ${JSON.stringify(key)} is committed; only active snapshots and views have mounts`,
        { data: { key } },
      );
    return snapshotMounts(rec.kind, this.paths(rec), this.chain(rec.parent));
  }

  /** Commit: the active snapshot `key` becomes the committed snapshot `name`. */
  async commit(name: string, key: string, labels: Record<string, string>): Promise<void> {
    const rec = this.get(key);
    if (rec.kind !== 'active')
      throw new SnapshotError('failed-precondition', `snapshot ${JSON.stringify(key)} is not active`, {
        data: { key },
      });
    if (!name) throw new SnapshotError('invalid-argument', 'a snapshot name must not be empty');
    if (this.o.store.get(name)) throw snapshotExists(name);
    const paths = this.paths(rec);
    const usage = await diskUsage(paths.fs);
    if (this.o.store.get(name)) throw snapshotExists(name);
    if (this.o.store.get(key) !== rec) throw snapshotNotFound(key);
    const now = Date.now();
    await this.o.store.commit(key, {
      ...rec,
      key: name,
      kind: 'committed',
      labels: { ...labels },
      created: now,
      updated: now,
      usage,
    });
    await rm(paths.work, { recursive: true, force: true }).catch(() => {});
  }

  /** Remove: forgets the snapshot and frees its directory (unmounting a lazily mounted layer). */
  async remove(key: string): Promise<void> {
    const rec = this.get(key);
    if (this.o.store.hasChildren(key))
      throw new SnapshotError('failed-precondition', `cannot remove snapshot ${JSON.stringify(key)}: it has children`, {
        data: { key },
      });
    await this.o.store.delete(key);
    await this.removeDir(join(this.snapshotsDir, String(rec.id))).catch((err: unknown) =>
      this.o.events.log(`remove ${key}: ${(err as Error).message} (Cleanup retries)`),
    );
  }

  /** Unmounts what is mounted in `dir` (a layer, or anything left there), then deletes it. */
  private async removeDir(dir: string): Promise<void> {
    const under = (await readMountInfo())
      .filter((m) => m.mountpoint === dir || m.mountpoint.startsWith(dir + '/'))
      .reverse();
    for (const m of under) {
      if (this.o.remote && m.mountpoint === join(dir, 'fs')) await this.o.remote.unmount(m.mountpoint);
      else await runUnmount(m.mountpoint, { lazy: true, fuse: m.fstype.startsWith('fuse') });
    }
    const left = (await readMountInfo()).filter((m) => m.mountpoint === dir || m.mountpoint.startsWith(dir + '/'));
    if (left.length) throw new SnapshotError('failed-precondition', `${dir}: still mounted at ${left[0].mountpoint}`);
    await rm(dir, { recursive: true, force: true });
  }

  /** Stat: a snapshot's info. */
  stat(key: string): WireInfo {
    return this.info(this.get(key));
  }

  /** Update: replaces the labels (or the ones `paths` names as `labels.KEY`; an empty value removes one). */
  async update(info: WireInfo, paths: readonly string[]): Promise<WireInfo> {
    if (!info.name) throw new SnapshotError('invalid-argument', 'update needs a snapshot name');
    const rec = this.get(info.name);
    let labels: Record<string, string> = { ...rec.labels };
    if (paths.length === 0) labels = { ...info.labels };
    for (const p of paths) {
      if (p === 'labels') labels = { ...info.labels };
      else if (p.startsWith('labels.')) {
        const k = p.slice('labels.'.length);
        const v = info.labels[k];
        if (v) labels[k] = v;
        // eslint-disable-next-line @typescript-eslint/no-dynamic-delete -- the update's own copy of the labels
        else delete labels[k];
      } else
        throw new SnapshotError(
          'invalid-argument',
          `cannot update ${JSON.stringify(p)} of snapshot ${JSON.stringify(info.name)}`,
          { data: { key: info.name } },
        );
    }
    const next = { ...rec, labels, updated: Date.now() };
    await this.o.store.put(next);
    return this.info(next);
  }

  /** Usage: an active snapshot's upper directory now, a committed one's as of its commit. */
  async usage(key: string): Promise<DiskUsage> {
    const rec = this.get(key);
    if (rec.kind === 'active') return diskUsage(this.paths(rec).fs);
    return rec.usage ?? { size: 0, inodes: 0 };
  }

  /** List: every snapshot that matches one of the filters. */
  list(filters: readonly string[]): WireInfo[] {
    const match = compileFilters(filters);
    return this.o.store
      .all()
      .filter((r) => match({ name: r.key, parent: r.parent, kind: r.kind, labels: r.labels }))
      .map((r) => this.info(r));
  }

  /** Cleanup: frees the directories (and mounts) no snapshot owns. */
  async cleanup(): Promise<void> {
    const owned = new Set(this.o.store.all().map((r) => String(r.id)));
    for (const id of await readdir(this.snapshotsDir).catch(() => [] as string[])) {
      if (owned.has(id) || this.making.has(Number(id))) continue;
      await this.removeDir(join(this.snapshotsDir, id)).catch((err: unknown) =>
        this.o.events.log(`cleanup ${id}: ${(err as Error).message}`),
      );
    }
  }
}
