/**
 * {@link ExtraBytes}: keeps bytes the upstream received without being asked (a registry that
 * answers a Range request with the whole blob) instead of fetching them again later. Every
 * chunk they fully cover is stored as a download would be: under its claim, only while missing,
 * hashed when written here.
 *
 * @packageDocumentation
 */
import { debuglog } from '../io/debug-log.js';
import { chunkRuns, everyChunk } from './chunk-runs.js';
import type { Piece } from './fetch-task.js';
import type { SourceParts } from './source-parts.js';

const debug = debuglog('ocifs:cache');

/** The extra-bytes sink of one cached source. */
export class ExtraBytes {
  /** The start of a chunk whose end has not arrived yet (sinks are called in offset order). */
  private carry: Piece | null = null;

  constructor(private readonly parts: SourceParts) {}

  /** Drops a partial chunk kept for the next call (the store it was for is gone). */
  forget(): void {
    this.carry = null;
  }

  /** Stores the chunks `bytes` (the blob's bytes at `offset`) fully cover; see the module text. */
  async store(offset: number, bytes: Uint8Array): Promise<void> {
    const { slot, inflight, writer, verifier, size } = this.parts;
    if (slot.closed || bytes.byteLength === 0) return;
    const store = await slot.get();
    if (store.complete) return;
    const cs = slot.chunkSize;
    if (this.carry && this.carry.offset + this.carry.bytes.byteLength === offset) {
      bytes = Buffer.concat([this.carry.bytes, bytes]);
      offset = this.carry.offset;
    }
    this.carry = null;
    const end = Math.min(size, offset + bytes.byteLength);
    const a = Math.ceil(offset / cs);
    const b = end === size ? store.chunkCount : Math.floor(end / cs);
    // Keep the tail of a chunk for the next call (sinks are called in offset order).
    if (end < size) {
      const tailStart = Math.max(offset, b * cs);
      if (tailStart % cs === 0 && tailStart < end) {
        const tail = Uint8Array.prototype.slice.call(bytes, tailStart - offset, end - offset);
        this.carry = { offset: tailStart, bytes: tail };
      }
    }
    // A chunk a running download of ours is fetching is left to it; one only queued is not.
    const wanted = (c: number) => !store.has(c) && inflight.get(c)?.state !== 'running';
    // Only a claim holder writes a chunk, as for downloads (so verification can trust what it hashed).
    const bc = store.claims?.blockChunks ?? Math.max(1, store.chunkCount);
    for (let blockStart = a - (a % bc); blockStart < b; blockStart += bc) {
      const lo = Math.max(a, blockStart);
      const hi = Math.min(b, blockStart + bc);
      if (everyChunk(lo, hi, (c) => !wanted(c))) continue;
      const block = blockStart / bc;
      if (store.claims && !(await store.claims.acquire(block))) continue;
      const durables: Promise<boolean>[] = [];
      for (const [c, e] of chunkRuns(lo, hi, wanted)) {
        const piece = bytes.subarray(c * cs - offset, Math.min(end, e * cs) - offset);
        const w = await writer.writeAndHash(store, c * cs, piece);
        if (w) durables.push(w.durable);
      }
      const claims = store.claims;
      if (claims) void Promise.all(durables).finally(() => claims.release(block));
    }
    await verifier
      .afterWrite(store)
      .catch((err: unknown) => debug('%s: %s', this.parts.digest, (err as Error).message));
  }
}
