/**
 * How the CLI reports failure: one clear line on stderr and a non-zero exit code; `--debug`
 * adds the stack and the cause chain.
 */
import { OcifsError, type OcifsErrorCode, type OcifsErrorOptions } from '../errors.js';
import { abbreviatePaths } from '../vfs/tool-errors.js';

/** Exit code for bad usage: unknown option, malformed reference or option value. */
export const EXIT_USAGE = 2;
/** Exit code for every other failure. */
export const EXIT_FAILURE = 1;

/**
 * Codes of errors that are always the caller's input: a platform comes only from `--platform` (or
 * the library option).
 */
const USAGE_CODES = new Set<OcifsErrorCode>([
  'ERR_OCIFS_INVALID_OPTION',
  'ERR_OCIFS_INVALID_REFERENCE',
  'ERR_OCIFS_INVALID_DIGEST',
  'ERR_OCIFS_INVALID_PLATFORM',
  'ERR_OCIFS_USAGE',
]);

/** An error in how the command was called. */
export class UsageError extends OcifsError {
  constructor(message: string, options: OcifsErrorOptions = {}) {
    super('ERR_OCIFS_USAGE', message, options);
  }
}

/** The exit code for an error. */
export function exitCodeOf(err: unknown): number {
  return err instanceof OcifsError && USAGE_CODES.has(err.code) ? EXIT_USAGE : EXIT_FAILURE;
}

/** The one line printed for an error. */
export function messageOf(err: unknown): string {
  if (err instanceof OcifsError) return err.message;
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    return code && !err.message.includes(code) ? `${err.message} (${code})` : err.message;
  }
  return String(err);
}

/** Writes the error to stderr (`ocifs: ...`), with stack and causes when `debug`. */
export function printError(err: unknown, debug: boolean): void {
  // One readable line whatever the error holds (a path tens of KiB long, say).
  process.stderr.write(`ocifs: ${abbreviatePaths(messageOf(err).split('\n')[0])}\n`);
  if (!debug) return;
  let e: unknown = err;
  for (let depth = 0; e && depth < 8; depth++) {
    // eslint-disable-next-line @typescript-eslint/no-base-to-string -- a thrown non-Error prints as String() shows it
    process.stderr.write(`${depth ? 'caused by: ' : ''}${e instanceof Error ? e.stack : String(e)}\n`);
    if (e instanceof OcifsError && Object.keys(e.data).length) {
      process.stderr.write(`data: ${JSON.stringify(e.data)}\n`);
    }
    e = e instanceof Error ? e.cause : undefined;
  }
}
