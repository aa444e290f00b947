/**
 * A FUSE connection without libfuse: `/dev/fuse` opened by this process, the mount made by
 * `mount(8)` with the device passed as `fd=3` (root only), and requests read by a small worker
 * thread that blocks in `read(2)` — Node cannot poll a character device, and blocking the
 * libuv pool with it would starve file I/O. Replies are written from the main thread (a write
 * to /dev/fuse never blocks).
 *
 * Speaking the protocol directly gives what libfuse 2 cannot negotiate: 1 MiB reads, cached
 * directory listings and symlinks in the kernel, 64-bit inode numbers and nanosecond times.
 *
 * @packageDocumentation
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync, writeSync } from 'node:fs';
import { debuglog } from '../../io/debug-log.js';
import { startWorker, workerFile } from '../../io/worker-file.js';
import { MountFailedError } from '../errors.js';
import type { FromFuseReader, FuseReaderData } from './fuse-reader-worker.js';

const debug = debuglog('ocifs:mount');

/** Size of the request buffer: the largest request plus headers (we never accept writes). */
export const REQUEST_BUFFER_SIZE = 1024 * 1024 + 4096;

/** An open FUSE connection. */
export interface FuseDevice {
  /** Sends one reply; a reply to a request the kernel gave up on is dropped. */
  send(reply: Buffer): void;
  /** Resolves when the connection ends (unmounted, aborted). */
  readonly ended: Promise<string>;
  /** Stops reading and closes the device (after unmounting). */
  close(): void;
}

/** Options of {@link openFuseDevice}. */
export interface FuseDeviceOptions {
  mountpoint: string;
  /** Source shown in /proc/mounts. */
  fsname: string;
  allowOther: boolean;
  /** Mount without `nosuid` / `nodev`. */
  suid?: boolean;
  dev?: boolean;
  /**
   * Mount read-write (default false: `ro`). Only for a server that answers the write requests
   * itself (the podman layer store takes `use` creates and `rmdir`s as reference counts).
   */
  writable?: boolean;
  /** Called for each request (header and body in one buffer). */
  onRequest(request: Buffer): void;
}

function run(cmd: string, args: string[], fd: number): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe', fd] });
    let stderr = '';
    child.stderr?.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('error', (err) => resolve({ code: 1, stderr: err.message }));
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

/** Opens /dev/fuse, mounts it at `mountpoint` and starts reading requests. Root only. */
export async function openFuseDevice(o: FuseDeviceOptions): Promise<FuseDevice> {
  const reader = workerFile(new URL('./fuse-reader-worker.js', import.meta.url));
  if (!reader) throw new MountFailedError(o.mountpoint, `no fuse-reader-worker file beside ${import.meta.url}`);
  const fd = openSync('/dev/fuse', 'r+');
  const opts = [
    'fd=3',
    'rootmode=40000',
    'user_id=0',
    'group_id=0',
    'default_permissions',
    ...(o.allowOther ? ['allow_other'] : []),
  ];
  const fsname = o.fsname.replace(/[,\s\\]/g, '_').slice(0, 200);
  // -i: no /sbin/mount.fuse helper; the kernel takes the connection from fd 3 of mount(8).
  const flags = [o.writable ? 'rw' : 'ro', o.suid ? 'suid' : 'nosuid', o.dev ? 'dev' : 'nodev'];
  const r = await run(
    'mount',
    ['-i', '-t', 'fuse.ocifs', '-o', `${flags.join(',')},${opts.join(',')}`, fsname, o.mountpoint],
    fd,
  );
  if (r.code !== 0) {
    closeSync(fd);
    throw new MountFailedError(o.mountpoint, r.stderr.trim().replace(/\s+/g, ' ') || `mount exited with ${r.code}`);
  }
  const workerData: FuseReaderData = { fd, size: REQUEST_BUFFER_SIZE };
  const worker = startWorker(reader, { workerData, execArgv: [] });
  worker.unref();
  let closed = false;
  const ended = new Promise<string>((resolve) => {
    worker.on('message', (m: FromFuseReader) => {
      if (m instanceof ArrayBuffer) o.onRequest(Buffer.from(m));
      else resolve(m.end);
    });
    worker.on('error', (err) => resolve(err.message));
    worker.on('exit', () => resolve('exit'));
  });
  return {
    send(reply: Buffer) {
      if (closed) return;
      try {
        writeSync(fd, reply);
      } catch (err) {
        // ENOENT: the request was interrupted or the connection aborted meanwhile.
        debug('reply dropped: %s', (err as NodeJS.ErrnoException).code);
      }
    },
    ended,
    close() {
      if (closed) return;
      closed = true;
      // The worker is blocked in read(2): ending the connection (unmount) returns ENODEV to it;
      // terminating it here covers a device that is still mounted elsewhere (lazy unmount).
      void worker.terminate();
      try {
        closeSync(fd);
      } catch {
        // Already closed.
      }
    },
  };
}
