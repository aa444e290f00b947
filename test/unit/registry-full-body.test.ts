// The shared whole-body stream keeps a bounded tail of what it passed on, so a read that comes
// just behind it (while a cache is still storing the sink's bytes) needs no second download,
// and a read further behind is refused (the caller starts a new stream).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { FullBodyStream } from '../../src/registry/full-body-stream.js';
import type { Endpoint } from '../../src/registry/endpoints.js';

const blob = Buffer.from(Array.from({ length: 64 * 1024 }, (_, i) => (i * 7) & 0xff));

function stream(retainBytes: number, sunk: [number, number][]): { s: FullBodyStream } {
  const pieces = Array.from({ length: 16 }, (_, i) => blob.subarray(i * 4096, (i + 1) * 4096));
  const body = Readable.from(pieces, { objectMode: true });
  const s = new FullBodyStream({ base: 'http://127.0.0.1:1' } as Endpoint, body, {
    size: blob.length,
    sink: async (o, b) => {
      sunk.push([o, b.byteLength]);
    },
    count: () => {},
    mapError: (e) => e as Error,
    onDone: () => {},
    where: 'test',
    retainBytes,
  });
  return { s };
}

test('a read behind the stream position is served from the retained tail, exactly', async () => {
  const sunk: [number, number][] = [];
  const { s } = stream(16 * 1024, sunk);
  const ahead = await s.wait(60_000, 100);
  assert.deepEqual(Buffer.from(ahead), blob.subarray(60_000, 60_100));
  const last = await s.wait(blob.length - 1, 1);
  assert.equal(last[0], blob[blob.length - 1]);
  await new Promise((r) => setImmediate(r));
  // The body is through: the last 16 KiB (and the chunk that crosses the limit) are kept.
  assert.ok(s.canServe(50_000, 1000));
  assert.deepEqual(Buffer.from(await s.wait(50_000, 1000)), blob.subarray(50_000, 51_000));
  assert.ok(!s.canServe(1000, 10), 'the start of the body is no longer retained');
  // Bytes a reader took never went to the sink; the rest went exactly once.
  const total = sunk.reduce((a, [, n]) => a + n, 0);
  assert.equal(total, blob.length - 101);
});

test('a read that starts in the tail and runs ahead of the position gets both parts', async () => {
  const { s } = stream(8 * 1024, []);
  const first = await s.wait(0, 4096);
  assert.deepEqual(Buffer.from(first), blob.subarray(0, 4096));
  const across = await s.wait(4096 * 2 - 100, 8192);
  assert.deepEqual(Buffer.from(across), blob.subarray(8092, 8092 + 8192));
});
