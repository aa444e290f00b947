export type {
  ByteSource,
  ReadOptions,
  ExtraBytesSink,
  FileSpan,
  EncodedSpan,
  EncodedSpanOptions,
} from './byte-source.js';
export { clampRead } from './check-range.js';
export { MemorySource } from './memory-source.js';
export { FileSource, SourceClosedError } from './file-source.js';
export { readFully, type PositionalRead, type ReadFullyRange } from './read-fully.js';
export { SliceSource } from './slice-source.js';
export { IoStats } from './io-stats.js';
export { readPieces, readStream, copyToFile, DEFAULT_STREAM_PIECE, type StreamOptions } from './read-stream.js';
