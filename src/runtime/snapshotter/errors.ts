/**
 * Errors of the snapshotter, each of one of containerd's error classes (`errdefs`): the gRPC
 * server answers with the status code containerd maps back to that class (`errdefs.FromGRPC`),
 * so `errdefs.IsNotFound`, `IsAlreadyExists` … work on containerd's side.
 *
 * @packageDocumentation
 */
import { OcifsError, type OcifsErrorCode, type OcifsErrorOptions } from '../../errors.js';

/** containerd's error classes that a snapshotter answers with. */
export type SnapshotErrorClass = 'not-found' | 'already-exists' | 'failed-precondition' | 'invalid-argument';

const SNAPSHOT_CODES = {
  'not-found': 'ERR_OCIFS_SNAPSHOT_NOT_FOUND',
  'already-exists': 'ERR_OCIFS_SNAPSHOT_ALREADY_EXISTS',
  'failed-precondition': 'ERR_OCIFS_SNAPSHOT_FAILED_PRECONDITION',
  'invalid-argument': 'ERR_OCIFS_SNAPSHOT_INVALID_ARGUMENT',
} as const satisfies Record<SnapshotErrorClass, OcifsErrorCode>;

/** A snapshot operation refused for one of containerd's reasons. */
export class SnapshotError extends OcifsError {
  constructor(
    /** containerd's class of the error. */
    readonly errorClass: SnapshotErrorClass,
    message: string,
    options: OcifsErrorOptions = {},
  ) {
    super(SNAPSHOT_CODES[errorClass], message, options);
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
    super('ERR_OCIFS_SNAPSHOTTER_ROOT_BUSY', `${root}: another ocifs snapshotter (pid ${pid}) is using this root`, {
      data: { root, pid },
    });
  }
}

/** The gRPC socket is taken: another server answers on it. */
export class AddressInUseError extends OcifsError {
  constructor(address: string) {
    super('ERR_OCIFS_ADDRESS_IN_USE', `${address}: another server is listening on this socket`, { data: { address } });
  }
}

/** The layer keeper could not be reached, or went away during a request. */
export class KeeperUnavailableError extends OcifsError {
  constructor(message: string, options: OcifsErrorOptions = {}) {
    super('ERR_OCIFS_KEEPER_UNAVAILABLE', message, options);
  }
}

/** The layer keeper got a request it does not know (a snapshotter of another version). */
export class KeeperBadRequestError extends OcifsError {
  constructor(op: unknown) {
    super('ERR_OCIFS_KEEPER_BAD_REQUEST', `unknown request ${JSON.stringify(op)}`, { data: { op } });
  }
}

/** The layer keeper was asked to mount before it was told its settings. */
export class KeeperNotConfiguredError extends OcifsError {
  constructor() {
    super('ERR_OCIFS_KEEPER_NOT_CONFIGURED', 'the layer keeper has no configuration yet (hello first)');
  }
}

/**
 * The layer keeper failed a request with an error that is not an {@link OcifsError}; `data.code` is
 * its code, if any.
 */
export class KeeperFailedError extends OcifsError {
  constructor(message: string, code: string | undefined) {
    super('ERR_OCIFS_KEEPER_FAILED', message, { data: code ? { code } : {} });
  }
}
