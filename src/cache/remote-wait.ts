/**
 * Waiting for chunks another process claimed: poll the map (cheap: a few bytes) until they are
 * marked present, or until the claim disappears or goes stale (then the caller fetches them).
 *
 * @packageDocumentation
 */
import { everyChunk } from './chunk-runs.js';
import type { ChunkStore } from './store.js';

const FIRST_POLL_MS = 2;
const MAX_POLL_MS = 50;

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/**
 * Resolves when the chunks of claim block `block` inside `[c0, c1)` are readable, or when the
 * block is no longer claimed by a live process (the caller then re-plans), or on abort: true.
 * False after `maxWaitMs` while the owner is alive but has delivered nothing (a download stuck
 * without a timeout): the caller then fetches the bytes for its readers itself.
 */
export async function waitForeignBlock(
  store: ChunkStore,
  block: number,
  c0: number,
  c1: number,
  signal: AbortSignal,
  maxWaitMs: number,
): Promise<boolean> {
  const claims = store.claims;
  if (!claims) return true;
  const deadline = Date.now() + maxWaitMs;
  const a = Math.max(c0, block * claims.blockChunks);
  const b = Math.min(c1, (block + 1) * claims.blockChunks);
  let delay = FIRST_POLL_MS;
  for (;;) {
    if (signal.aborted) return true;
    const status = await claims.inspect(block);
    await store.refresh(a, b);
    if (everyChunk(a, b, (c) => store.has(c)) || status.state !== 'live') return true;
    if (Date.now() > deadline) return false;
    await sleep(delay, signal);
    delay = Math.min(MAX_POLL_MS, Math.ceil(delay * 1.5));
  }
}
