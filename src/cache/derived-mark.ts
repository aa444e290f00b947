/**
 * The binding of derived data (a tar index, gzip checkpoints: sidecars) to the bytes it was
 * built from. A {@link DerivedMark} is a generation that moves whenever bytes a source serves
 * from then on may not be its current instance's, or bytes it served before may not be in it:
 * the instance was replaced or failed its check, or fetched bytes were served without being
 * stored (full disk, a stuck claim). A sidecar is kept only when the generation did not move
 * while it was built, so it is exactly as trustworthy as the instance it is stored with.
 *
 * @packageDocumentation
 */
import { debuglog } from '../io/debug-log.js';
import type { ChunkStore } from './store.js';

const debug = debuglog('ocifs:cache');

/** The generation of one cached source's served bytes (see the module text). */
export class DerivedMark {
  private generation = 0;

  constructor(
    /** The blob's digest (for the debug log). */
    private readonly digest: string,
  ) {}

  /** The generation now: taken before reading for derived data, checked by {@link keep}. */
  current(): number {
    return this.generation;
  }

  /** Bytes served from now on (or before) may not all be the current instance's. */
  invalidate(): void {
    this.generation++;
  }

  /**
   * Stores `bytes` as sidecar `name` of `store` when the generation is still `mark` (every byte
   * served since was `store`'s); false, keeping nothing, otherwise. The caller first waits for
   * the bytes handed out to be written (they are in `store` then, or the generation moved on).
   */
  async keep(store: ChunkStore | null, name: string, bytes: Uint8Array, mark: number): Promise<boolean> {
    if (!store || this.generation !== mark) {
      debug('%s: sidecar %s not kept: the bytes it was built from are not all in one instance', this.digest, name);
      return false;
    }
    return store.putSidecar(name, bytes);
  }
}
