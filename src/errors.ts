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
  readonly code: string;
  /** Structured details of the failure. */
  readonly data: ErrorData;

  constructor(code: string, message: string, options: OcifsErrorOptions = {}) {
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
    super('ERR_OCIFS_OUT_OF_RANGE', `read of ${length} bytes at offset ${offset} is outside a source of ${size} bytes`, {
      data: { offset, length, size },
    });
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

/** A file, directory or other named thing does not exist. */
export class NotFoundError extends OcifsError {
  constructor(what: string, options: OcifsErrorOptions = {}) {
    super('ERR_OCIFS_NOT_FOUND', `${what}: not found`, options);
  }
}

/**
 * A file or stream ended before the bytes that were asked for: a file shorter than its recorded
 * size (truncated under us), or an upstream that returned fewer bytes than a range it agreed to.
 * `data.offset` and `data.expected` locate it: for a file (`readFully`), the position where
 * it ended and the one the read needed to reach; for an upstream, the start of the range and its
 * length (with `got`, what came).
 */
export class ShortReadError extends OcifsError {
  constructor(message: string, data: { offset: number; expected: number } & ErrorData, options: OcifsErrorOptions = {}) {
    super('ERR_OCIFS_SHORT_READ', message, { ...options, data: { ...data, ...options.data } });
  }
}

/** A path names something other than a regular file where one was needed. */
export class NotAFileError extends OcifsError {
  constructor(path: string, options: OcifsErrorOptions & { detail?: string } = {}) {
    super('ERR_OCIFS_NOT_A_FILE', `${path}: not a regular file${options.detail ? ` (${options.detail})` : ''}`, {
      ...options,
      data: { path, ...options.data },
    });
  }
}

/** True when `err` is an {@link OcifsError} with the given code. */
export function isOcifsError(err: unknown, code?: string): err is OcifsError {
  return err instanceof OcifsError && (code === undefined || err.code === code);
}

/** Throws {@link AbortedError} when `signal` is aborted. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new AbortedError({ cause: signal.reason });
}
