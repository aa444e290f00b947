/**
 * The FUSE reader thread's program (see `fuse-device.ts`): blocks in `read(2)` on /dev/fuse and
 * posts each request to the main thread as its own ArrayBuffer (transferred), until the
 * connection ends; then posts `{ end: errno code }`.
 *
 * @packageDocumentation
 */
import { readSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';

/** Data the reader starts with. */
export interface FuseReaderData {
  /** The open /dev/fuse descriptor (shared with the main thread, which writes the replies). */
  fd: number;
  /** Size of the request buffer. */
  size: number;
}

/** A request, or the end of the connection with the errno code that ended it. */
export type FromFuseReader = ArrayBuffer | { end: string };

const port = parentPort;
if (port) {
  const { fd, size } = workerData as FuseReaderData;
  const buf = Buffer.allocUnsafe(size);
  for (;;) {
    let n: number;
    try {
      n = readSync(fd, buf, 0, buf.length, null);
    } catch (err) {
      const code = String((err as NodeJS.ErrnoException).code);
      // ENOENT: the request was interrupted before we read it; EINTR/EAGAIN: try again.
      if (code === 'ENOENT' || code === 'EINTR' || code === 'EAGAIN') continue;
      port.postMessage({ end: code } satisfies FromFuseReader);
      break;
    }
    const copy = new ArrayBuffer(n);
    new Uint8Array(copy).set(buf.subarray(0, n));
    port.postMessage(copy, [copy]);
  }
}
