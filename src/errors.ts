/**
 * Typed errors with stable codes.
 *
 * Every error ocifs throws on purpose is an {@link OcifsError}: it carries a stable `code`
 * (`ERR_OCIFS_*`), an optional `cause`, and the data that explains it (status, digest,
 * offset, path ...). Modules define their own subclasses next to their code; this file holds
 * the base class and the errors shared by every layer.
 *
 * @packageDocumentation
 */

/**
 * Every code an {@link OcifsError} can carry, by the layer that throws it, each with its class
 * (the README's error table says what each means). A code names one class (or one class and its
 * subclasses), so a `case` on `err.code` says which class the error is, and the compiler refuses
 * a code that is not here: a new error needs its code added first, or it does not typecheck.
 */
export const OCIFS_ERROR_CODES = [
  // Shared by every layer (this file).
  'ERR_OCIFS_ABORTED', // AbortedError
  'ERR_OCIFS_INVALID_OPTION', // InvalidOptionError
  'ERR_OCIFS_OUT_OF_RANGE', // OutOfRangeError
  'ERR_OCIFS_DIGEST_MISMATCH', // DigestMismatchError
  'ERR_OCIFS_NOT_FOUND', // NotFoundError
  'ERR_OCIFS_SHORT_READ', // ShortReadError
  'ERR_OCIFS_NOT_A_FILE', // NotARegularFileError
  // io
  'ERR_OCIFS_CLOSED', // SourceClosedError
  // ref, oci
  'ERR_OCIFS_INVALID_REFERENCE', // InvalidReferenceError
  'ERR_OCIFS_INVALID_DIGEST', // InvalidDigestError
  'ERR_OCIFS_BAD_MANIFEST', // BadManifestError
  'ERR_OCIFS_INVALID_PLATFORM', // InvalidPlatformError
  'ERR_OCIFS_PLATFORM_NOT_FOUND', // PlatformNotFoundError
  // registry, registry/push
  'ERR_OCIFS_MANIFEST_UNKNOWN', // ManifestUnknownError
  'ERR_OCIFS_BLOB_UNKNOWN', // BlobUnknownError
  'ERR_OCIFS_UNAUTHORIZED', // UnauthorizedError
  'ERR_OCIFS_DENIED', // DeniedError
  'ERR_OCIFS_HTTP', // HttpStatusError
  'ERR_OCIFS_RANGE', // RangeResponseError
  'ERR_OCIFS_SHORT_BODY', // ShortBodyError
  'ERR_OCIFS_TIMEOUT', // TimeoutError
  'ERR_OCIFS_NETWORK', // NetworkError
  'ERR_OCIFS_REDIRECT_REFUSED', // RedirectRefusedError
  'ERR_OCIFS_CREDENTIALS', // CredentialError
  'ERR_OCIFS_PUSH_DENIED', // PushDeniedError
  'ERR_OCIFS_PUSH_REFUSED', // PushRefusedError
  'ERR_OCIFS_UPLOAD_LOST', // UploadLostError
  // config
  'ERR_OCIFS_CONFIG', // ConfigError
  // cache
  'ERR_OCIFS_CACHE_INSECURE', // CacheInsecureError
  'ERR_OCIFS_CACHE_CORRUPT', // CacheCorruptError
  'ERR_OCIFS_CACHE_CLOSED', // CacheClosedError
  'ERR_OCIFS_CACHE_IO', // CacheIoError
  'ERR_OCIFS_CACHE_FULL', // CacheFullError
  'ERR_OCIFS_CACHE_INCOMPLETE', // CacheIncompleteError
  'ERR_OCIFS_CACHE_STUCK', // CacheStuckError
  'ERR_OCIFS_CACHE_UNSTABLE', // CacheUnstableError
  'ERR_OCIFS_SIZE_MISMATCH', // BlobSizeMismatchError
  // codec
  'ERR_OCIFS_CORRUPT_COMPRESSED_DATA', // CorruptCompressedDataError
  'ERR_OCIFS_UNSUPPORTED_CODEC', // UnsupportedCodecError
  // erofs
  'ERR_OCIFS_CORRUPT_EROFS', // CorruptErofsError
  'ERR_OCIFS_NOT_EROFS', // NotErofsError
  'ERR_OCIFS_EROFS_UNSUPPORTED', // UnsupportedErofsError
  'ERR_OCIFS_EROFS_BAD_CHECKSUM', // ErofsChecksumError
  'ERR_OCIFS_EROFS_DEVICE_MISSING', // ErofsDeviceMissingError
  // tar
  'ERR_OCIFS_CORRUPT_TAR', // CorruptTarError
  'ERR_OCIFS_CORRUPT_GZIP', // CorruptGzipError
  'ERR_OCIFS_CORRUPT_INDEX', // CorruptIndexError
  'ERR_OCIFS_CORRUPT_TOC', // CorruptTocError
  'ERR_OCIFS_UNSUPPORTED_LAYER', // UnsupportedLayerError
  'ERR_OCIFS_EXTERNAL_HARDLINK', // ExternalHardlinkError
  // vfs
  'ERR_OCIFS_NOT_A_DIRECTORY', // NotADirectoryError
  'ERR_OCIFS_IS_A_DIRECTORY', // IsADirectoryError
  'ERR_OCIFS_NOT_A_SYMLINK', // NotASymlinkError
  'ERR_OCIFS_SYMLINK_LOOP', // SymlinkLoopError
  'ERR_OCIFS_DEVICE_NUMBER', // DeviceNumberError
  'ERR_OCIFS_CORRUPT_DIRECTORY_CYCLE', // DirectoryCycleError
  'ERR_OCIFS_UNSAFE_NAME', // UnsafeNameError
  'ERR_OCIFS_INODE_RANGE', // InodeRangeError
  // extract
  'ERR_OCIFS_CORRUPT_SIZE', // ContentSizeError
  'ERR_OCIFS_EXTRACT_CONFLICT', // ExtractConflictError
  'ERR_OCIFS_EXTRACT_IO', // ExtractIoError
  // image
  'ERR_OCIFS_UNKNOWN_LAYER_FORMAT', // UnknownLayerFormatError
  'ERR_OCIFS_BLOB_NOT_IN_IMAGE', // BlobNotInImageError
  'ERR_OCIFS_NO_SUCH_LAYER', // NoSuchLayerError
  'ERR_OCIFS_NOT_A_LAYER', // NotALayerError
  'ERR_OCIFS_DERIVED_MISSING', // DerivedMissingError
  'ERR_OCIFS_NOT_A_REGISTRY_IMAGE', // NotARegistryImageError
  // build (the writers), convert
  'ERR_OCIFS_UNCONVERTIBLE_ENTRY', // UnconvertibleEntryError
  'ERR_OCIFS_WRITER_STATE', // WriterStateError
  'ERR_OCIFS_CONVERT', // ConvertError
  // mount
  'ERR_OCIFS_MOUNTPOINT_MISSING', // MountpointMissingError
  'ERR_OCIFS_MOUNTPOINT_NOT_A_DIRECTORY', // MountpointNotDirectoryError
  'ERR_OCIFS_MOUNTPOINT_BUSY', // MountpointBusyError
  'ERR_OCIFS_FUSE_UNAVAILABLE', // FuseUnavailableError
  'ERR_OCIFS_NOT_ROOT', // NotRootError
  'ERR_OCIFS_MOUNT_FAILED', // MountFailedError
  'ERR_OCIFS_UNMOUNT_FAILED', // UnmountFailedError
  'ERR_OCIFS_NOT_MOUNTED', // NotMountedError
  'ERR_OCIFS_KERNEL_NEEDS_ONE_LAYER', // KernelNeedsOneLayerError
  'ERR_OCIFS_UNSUPPORTED', // UnknownMountSourceError
  // runtime (ocifs snapshotter, ocifs store)
  'ERR_OCIFS_STORE_ROOT', // StoreRootError
  'ERR_OCIFS_SNAPSHOT_NOT_FOUND', // SnapshotError
  'ERR_OCIFS_SNAPSHOT_ALREADY_EXISTS', // SnapshotError
  'ERR_OCIFS_SNAPSHOT_FAILED_PRECONDITION', // SnapshotError
  'ERR_OCIFS_SNAPSHOT_INVALID_ARGUMENT', // SnapshotError
  'ERR_OCIFS_SNAPSHOTTER_ROOT_BUSY', // RootBusyError
  'ERR_OCIFS_SNAPSHOTTER_METADATA_CORRUPT', // MetadataCorruptError
  'ERR_OCIFS_ADDRESS_IN_USE', // AddressInUseError
  'ERR_OCIFS_KEEPER_UNAVAILABLE', // KeeperUnavailableError
  'ERR_OCIFS_KEEPER_BAD_REQUEST', // KeeperBadRequestError
  'ERR_OCIFS_KEEPER_NOT_CONFIGURED', // KeeperNotConfiguredError
  'ERR_OCIFS_KEEPER_FAILED', // KeeperFailedError
  // serve, web, cli
  'ERR_OCIFS_NOT_A_LAYOUT', // NotALayoutError
  'ERR_OCIFS_NOT_A_PICTURE', // NotAPictureError
  'ERR_OCIFS_WEB_ASSETS', // WebAssetsError
  'ERR_OCIFS_WEB_REFUSED', // (the web API's code for a request its gate refuses)
  'ERR_OCIFS_INTERNAL', // (the web API's code for an error that is not an OcifsError)
  'ERR_OCIFS_USAGE', // UsageError
] as const satisfies readonly `ERR_OCIFS_${string}`[];

/** A code an {@link OcifsError} carries: one of {@link OCIFS_ERROR_CODES}. */
export type OcifsErrorCode = (typeof OCIFS_ERROR_CODES)[number];

const CODES: ReadonlySet<string> = new Set(OCIFS_ERROR_CODES);

/** True when `code` is one of {@link OCIFS_ERROR_CODES} (for codes that crossed a process or thread boundary). */
export function isOcifsErrorCode(code: unknown): code is OcifsErrorCode {
  return typeof code === 'string' && CODES.has(code);
}

/** Extra data attached to an error: anything that helps a user or a test see what went wrong. */
export type ErrorData = Record<string, unknown>;

/** Options accepted by every {@link OcifsError} constructor. */
export interface OcifsErrorOptions {
  /** The lower-level error that caused this one. */
  cause?: unknown;
  /** Structured details (status, digest, offset, path ...). */
  data?: ErrorData;
}

/** Base class of all ocifs errors. `code` is stable and safe to match on. */
export class OcifsError extends Error {
  /** Stable machine-readable code, e.g. `ERR_OCIFS_BLOB_UNKNOWN`. */
  readonly code: OcifsErrorCode;
  /** Structured details of the failure. */
  readonly data: ErrorData;

  constructor(code: OcifsErrorCode, message: string, options: OcifsErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.data = options.data ?? {};
  }
}

/** An option given to an entry point has a bad value; the message names the option. */
export class InvalidOptionError extends OcifsError {
  constructor(option: string, reason: string, options: OcifsErrorOptions = {}) {
    super('ERR_OCIFS_INVALID_OPTION', `invalid option ${option}: ${reason}`, {
      ...options,
      data: { option, ...options.data },
    });
  }
}

/** A read was asked outside the bounds of a byte source. */
export class OutOfRangeError extends OcifsError {
  constructor(offset: number, length: number, size: number) {
    const message = `read of ${length} bytes at offset ${offset} is outside a source of ${size} bytes`;
    super('ERR_OCIFS_OUT_OF_RANGE', message, { data: { offset, length, size } });
  }
}

/** An operation was cancelled through its AbortSignal. */
export class AbortedError extends OcifsError {
  constructor(options: OcifsErrorOptions = {}) {
    super('ERR_OCIFS_ABORTED', 'the operation was aborted', options);
  }
}

/** Bytes did not match the digest they were promised to have. Never served. */
export class DigestMismatchError extends OcifsError {
  constructor(expected: string, actual: string, what: string, options: OcifsErrorOptions = {}) {
    super('ERR_OCIFS_DIGEST_MISMATCH', `${what}: digest mismatch: expected ${expected}, got ${actual}`, {
      ...options,
      data: { expected, actual, ...options.data },
    });
  }
}

/** A file, directory or other named thing does not exist (`reason` replaces "not found" in the message). */
export class NotFoundError extends OcifsError {
  constructor(what: string, options: OcifsErrorOptions & { reason?: string } = {}) {
    super('ERR_OCIFS_NOT_FOUND', `${what}: ${options.reason ?? 'not found'}`, options);
  }
}

/** The data of a {@link ShortReadError}. */
export type ShortReadData = { offset: number; expected: number } & ErrorData;

/**
 * A file or stream ended before the bytes that were asked for: a file shorter than its recorded
 * size (truncated under us), or an upstream that returned fewer bytes than a range it agreed to.
 * `data.offset` and `data.expected` locate it: for a file (`readFully`), the position where
 * it ended and the one the read needed to reach; for an upstream, the start of the range and its
 * length (with `got`, what came).
 */
export class ShortReadError extends OcifsError {
  constructor(message: string, data: ShortReadData, options: OcifsErrorOptions = {}) {
    super('ERR_OCIFS_SHORT_READ', message, { ...options, data: { ...data, ...options.data } });
  }
}

/** A file operation (read) was asked of something that is not a regular file; `detail` may say what it is. */
export class NotARegularFileError extends OcifsError {
  constructor(path: string, options: OcifsErrorOptions & { detail?: string } = {}) {
    super('ERR_OCIFS_NOT_A_FILE', `${path}: not a regular file${options.detail ? ` (${options.detail})` : ''}`, {
      ...options,
      data: { path, ...options.data },
    });
  }
}

/** True when `err` is an {@link OcifsError} with the given code. */
export function isOcifsError(err: unknown, code?: OcifsErrorCode): err is OcifsError {
  return err instanceof OcifsError && (code === undefined || err.code === code);
}

/** Throws {@link AbortedError} when `signal` is aborted. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new AbortedError({ cause: signal.reason });
}
