export {
  extractTree,
  measureTree,
  DEFAULT_EXTRACT_CONCURRENCY,
  type ExtractOptions,
  type ExtractResult,
  type ExtractProgress,
  type ExtractWarning,
} from './extract.js';
export { ExtractConflictError, ExtractIoError, ContentSizeError, ContentDecodeError } from './errors.js';
