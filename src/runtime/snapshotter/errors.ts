/**
 * Errors of the snapshotter, each of one of containerd's error classes (`errdefs`): the gRPC
 * server answers with the status code containerd maps back to that class (`errdefs.FromGRPC`),
 * so `errdefs.IsNotFound`, `IsAlreadyExists` … work on containerd's side.
 *
 * @packageDocumentation
 */
import { OcifsError, type OcifsErrorOptions } from '../../errors.js';

/** containerd's error classes that a snapshotter answers with. */
export type SnapshotErrorClass = 'not-found' | 'already-exists' | 'failed-precondition' | 'invalid-argument' | 'unavailable';

/** A snapshot operation refused for one of containerd's reasons. */
export class SnapshotError extends OcifsError {
  constructor(
    /** containerd's class of the error. */
    readonly errorClass: SnapshotErrorClass,
    message: string,
    options: OcifsErrorOptions = {},
  ) {
    super(`ERR_OCIFS_SNAPSHOT_${errorClass.toUpperCase().replace(/-/g, '_')}`, message, options);
  }
}

/** A key or name that names no snapshot. */
export function snapshotNotFound(key: string): SnapshotError {
  return new SnapshotError('not-found', `snapshot ${JSON.stringify(key)} does not exist`, { data: { key } });
}

/** A key or name that is taken. */
export function snapshotExists(key: string, what = 'snapshot'): SnapshotError {
  return new SnapshotError('already-exists', `${what} ${JSON.stringify(key)} already exists`, { data: { key } });
}

/** Another snapshotter (a live process) holds the root directory. */
export class RootBusyError extends OcifsError {
  constructor(root: string, pid: number) {
    super('ERR_OCIFS_SNAPSHOTTER_ROOT_BUSY', `${root}: another ocifs snapshotter (pid ${pid}) is using this root`, { data: { root, pid } });
  }
}
