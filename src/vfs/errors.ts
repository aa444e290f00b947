import { OcifsError, type OcifsErrorOptions } from '../errors.js';

/** A path component that should be a directory is not one. */
export class NotADirectoryError extends OcifsError {
  constructor(path: string, options: OcifsErrorOptions = {}) {
    super('ERR_OCIFS_NOT_A_DIRECTORY', `${path}: not a directory`, { ...options, data: { path, ...options.data } });
  }
}

/** A file operation was asked of a directory. */
export class IsADirectoryError extends OcifsError {
  constructor(path: string, options: OcifsErrorOptions = {}) {
    super('ERR_OCIFS_IS_A_DIRECTORY', `${path}: is a directory`, { ...options, data: { path, ...options.data } });
  }
}

/** readlink of something that is not a symlink. */
export class NotASymlinkError extends OcifsError {
  constructor(path: string, options: OcifsErrorOptions = {}) {
    super('ERR_OCIFS_NOT_A_SYMLINK', `${path}: not a symbolic link`, { ...options, data: { path, ...options.data } });
  }
}

/** Too many symlinks while resolving a path (a loop). */
export class SymlinkLoopError extends OcifsError {
  constructor(path: string, options: OcifsErrorOptions = {}) {
    super('ERR_OCIFS_SYMLINK_LOOP', `${path}: too many levels of symbolic links`, {
      ...options,
      data: { path, ...options.data },
    });
  }
}

/** A device number too large to keep exactly in `Inode.rdev` (see `vfs/device.ts`). */
export class DeviceNumberError extends OcifsError {
  constructor(major: number, minor: number, options: OcifsErrorOptions = {}) {
    const message = `device ${major}:${minor} is out of range (major up to 2^21-1, minor up to 2^32-1)`;
    super('ERR_OCIFS_DEVICE_NUMBER', message, {
      ...options,
      data: { major, minor, ...options.data },
    });
  }
}
