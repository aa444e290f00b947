/**
 * What the extractor's writer and its thread (`host-writer.ts`, `host-writer-worker.ts`) say to
 * each other: the operations, how they travel in a batch, and the replies. Types only, so the
 * thread's program loads nothing of the writer.
 *
 * @packageDocumentation
 */
import type { EncodedSpan } from '../io/byte-source.js';

/** Metadata to apply to a created entry (after its content). */
export interface HostMeta {
  chown: boolean;
  uid: number;
  gid: number;
  chmod: boolean;
  /** Permission bits incl. setuid/setgid/sticky. */
  mode: number;
  xattrs?: [string, Uint8Array][];
  /** mtime (and atime) as seconds for utimes; undefined leaves the times alone. */
  time?: number;
}

/**
 * One operation of the writer. Paths are relative to DEST (`''` is DEST itself), as is a
 * hardlink's target; a symlink's target is written as it is. `overwrite` lets it replace an
 * existing non-directory. `copy` makes a file from spans of local files (the image file, a
 * cached blob), decoding those in one of `HostWriter.encodings`: the thread reads them
 * itself, so those bytes never pass through the event loop.
 */
export type HostOp =
  | { op: 'mkdir'; path: string; overwrite: boolean }
  | { op: 'file'; path: string; createMode: number; meta: HostMeta; overwrite: boolean; bytes: Uint8Array }
  | { op: 'copy'; path: string; createMode: number; meta: HostMeta; overwrite: boolean; spans: EncodedSpan[] }
  | { op: 'open'; handle: number; path: string; createMode: number; overwrite: boolean }
  | { op: 'write'; handle: number; pos: number; bytes: Uint8Array }
  | { op: 'close'; handle: number; meta: HostMeta }
  | { op: 'symlink'; path: string; target: string; meta: HostMeta; overwrite: boolean }
  | { op: 'link'; path: string; target: string; overwrite: boolean }
  | {
      op: 'special';
      path: string;
      kind: 'fifo' | 'chardev' | 'blockdev';
      major: number;
      minor: number;
      meta: HostMeta;
      overwrite: boolean;
    }
  | { op: 'meta'; path: string; meta: HostMeta };

/**
 * Ordering across writer threads (see `host-writers.ts`): an operation's sequence number in its
 * thread, whether the thread publishes it when done (`mark`, for operations others wait for),
 * and what it waits for first (`after`: pairs of thread index and sequence number).
 */
export interface OpOrder {
  seq?: number;
  mark?: boolean;
  after?: [number, number][];
}

/** Metadata as it travels in a batch's JSON: xattr values as base64. */
export type WireMeta = Omit<HostMeta, 'xattrs'> & { xattrs?: [string, string][] };

type PackedBytes<T> = T extends { bytes: Uint8Array } ? Omit<T, 'bytes'> & { offset: number; length: number } : T;
type PackedMeta<T> = T extends { meta: HostMeta } ? Omit<T, 'meta'> & { meta: WireMeta } : T;

/**
 * An operation as it travels: file bytes packed in the batch's buffer (`offset`, `length`),
 * metadata as {@link WireMeta}, with its {@link OpOrder}.
 */
export type WireOp = PackedMeta<PackedBytes<HostOp>> & OpOrder;

/**
 * A message to the thread: a batch (`ops` is the JSON of {@link WireOp}[]; `data` holds the file
 * bytes, transferred) or `closeAll`, which closes the files left open and the source files the
 * thread opened.
 */
export type ToHostWriter =
  { id: number; ops: string; data?: ArrayBuffer; length: number } | { id: number; closeAll: true };

/** Why an operation failed: `twice` (the image names a path twice), `dir-conflict`, `corrupt`, `dep`, `io`. */
export type HostErrorKind = 'io' | 'twice' | 'dir-conflict' | 'corrupt' | 'dep';

/** The thread's answer to one message. */
export interface FromHostWriter {
  id: number;
  /** The batch's buffer, handed back for reuse. */
  data?: ArrayBuffer;
  bytes: number;
  files: number;
  warnings: { kind: string; path: string; message: string }[];
  error?: { path: string; operation: string; kind: HostErrorKind; errno?: string; message: string };
  /** In the reply to `closeAll`: the thread's time working and waiting for work (ms). */
  busyMs?: number;
  idleMs?: number;
}

/** Data the thread starts with. */
export interface HostWriterData {
  /** Resolved path of `@napi-rs/xattr` ('' when it is not installed). */
  xattrModule: string;
  /** Resolved path of `lz4-napi` ('' when `lz4-block` spans are not decoded here). */
  lz4Module: string;
  /** The directory every path is relative to. */
  dest: string;
  isRoot: boolean;
  /** errno codes that make a failed setxattr a warning. */
  unsupported: string[];
  /** Shared with the other writer threads: an abort flag, then each thread's last marked sequence number. */
  progress?: SharedArrayBuffer;
  /** This thread's index in `progress`. */
  index: number;
}
