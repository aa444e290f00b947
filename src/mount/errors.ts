/**
 * Errors of the mount layer. Each one is a one-line message the CLI can print as is, with a
 * stable `ERR_OCIFS_*` code and the mountpoint in its data.
 *
 * @packageDocumentation
 */
import { OcifsError, type OcifsErrorCode, type OcifsErrorOptions } from '../errors.js';
import { NotErofsError } from '../erofs/errors.js';

/** Base class of every mount error; `data.mountpoint` names the directory concerned. */
export class MountError extends OcifsError {
  protected constructor(
    code: OcifsErrorCode,
    message: string,
    mountpoint: string | undefined,
    options: OcifsErrorOptions = {},
  ) {
    super(code, message, { ...options, data: { mountpoint, ...options.data } });
  }
}

/** The mountpoint does not exist. */
export class MountpointMissingError extends MountError {
  constructor(mountpoint: string, options: OcifsErrorOptions = {}) {
    super('ERR_OCIFS_MOUNTPOINT_MISSING', `${mountpoint}: mountpoint does not exist`, mountpoint, options);
  }
}

/** The mountpoint is not a directory. */
export class MountpointNotDirectoryError extends MountError {
  constructor(mountpoint: string, options: OcifsErrorOptions = {}) {
    super('ERR_OCIFS_MOUNTPOINT_NOT_A_DIRECTORY', `${mountpoint}: mountpoint is not a directory`, mountpoint, options);
  }
}

/**
 * The mountpoint is busy: something is mounted on it already, or it is not empty. Like docker
 * and libfuse's default, ocifs refuses to hide what is there.
 */
export class MountpointBusyError extends MountError {
  constructor(mountpoint: string, reason: string, options: OcifsErrorOptions = {}) {
    super('ERR_OCIFS_MOUNTPOINT_BUSY', `${mountpoint}: mountpoint is busy (${reason})`, mountpoint, {
      ...options,
      data: { reason, ...options.data },
    });
  }
}

/** FUSE cannot be used here: no `/dev/fuse`, or the binding or libfuse2 does not load. */
export class FuseUnavailableError extends MountError {
  constructor(reason: string, options: OcifsErrorOptions = {}) {
    super('ERR_OCIFS_FUSE_UNAVAILABLE', `FUSE is not available: ${reason}`, undefined, {
      ...options,
      data: { reason, ...options.data },
    });
  }
}

/** The kernel mode needs root (mounting a filesystem image is a privileged operation). */
export class NotRootError extends MountError {
  constructor(mountpoint: string, options: OcifsErrorOptions = {}) {
    super('ERR_OCIFS_NOT_ROOT', `${mountpoint}: a kernel (--kernel) mount needs root`, mountpoint, options);
  }
}

/** The blob given to the kernel mode is not an EROFS image (bad or missing superblock magic). */
export class KernelNotErofsError extends NotErofsError {
  constructor(mountpoint: string, options: OcifsErrorOptions = {}) {
    super('the kernel mode cannot mount it', { ...options, data: { mountpoint, ...options.data } });
    this.message = `${mountpoint}: the image layer is not an EROFS filesystem, the kernel mode cannot mount it`;
  }
}

/** The mount itself failed (the kernel, libfuse or `mount` refused it). */
export class MountFailedError extends MountError {
  constructor(mountpoint: string, reason: string, options: OcifsErrorOptions = {}) {
    super('ERR_OCIFS_MOUNT_FAILED', `${mountpoint}: mount failed: ${reason}`, mountpoint, {
      ...options,
      data: { reason, ...options.data },
    });
  }
}

/** Unmounting failed even lazily. */
export class UnmountFailedError extends MountError {
  constructor(mountpoint: string, reason: string, options: OcifsErrorOptions = {}) {
    super('ERR_OCIFS_UNMOUNT_FAILED', `${mountpoint}: unmount failed: ${reason}`, mountpoint, {
      ...options,
      data: { reason, ...options.data },
    });
  }
}

/** `unmount` was asked for a directory that ocifs has not mounted (and nothing is mounted there). */
export class NotMountedError extends MountError {
  constructor(mountpoint: string, options: OcifsErrorOptions = {}) {
    super('ERR_OCIFS_NOT_MOUNTED', `${mountpoint}: not mounted`, mountpoint, options);
  }
}

/** The kernel mode mounts one EROFS layer, and the image has several (none chosen with --layer). */
export class KernelNeedsOneLayerError extends MountError {
  constructor(image: string, layers: number) {
    const message = `${image}: the kernel mode mounts one EROFS layer and the image has ${layers}`;
    super('ERR_OCIFS_KERNEL_NEEDS_ONE_LAYER', `${message}; choose one with --layer`, undefined, { data: { layers } });
  }
}

/** A mount source of a kind this version does not know (a mount record from another version). */
export class UnknownMountSourceError extends MountError {
  constructor(kind: unknown) {
    super('ERR_OCIFS_UNSUPPORTED', `unknown mount source kind ${JSON.stringify(kind)}`, undefined, { data: { kind } });
  }
}
