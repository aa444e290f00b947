/**
 * Entry script of the background mount server (started by `startMountDaemon`). Reads its
 * spec from fd 3, serves the mount, answers on fd 3 once ready (or with the error that stopped
 * it), and exits after unmounting.
 *
 * @packageDocumentation
 */
import { Socket } from 'node:net';
import { rm } from 'node:fs/promises';
import { OcifsError, type ErrorData } from '../errors.js';
import type { DaemonReply } from './daemon.js';
import { serveMount, type MountSpec } from './serve-mount.js';

function readSpec(sock: Socket): Promise<MountSpec> {
  return new Promise((resolve, reject) => {
    let buf = '';
    sock.on('data', (b: Buffer) => {
      buf += b.toString('utf8');
      const nl = buf.indexOf('\n');
      if (nl >= 0) {
        try {
          resolve(JSON.parse(buf.slice(0, nl)) as MountSpec);
        } catch (err) {
          reject(err);
        }
      }
    });
    sock.on('end', () => reject(new Error('no mount spec on fd 3')));
  });
}

async function main(): Promise<void> {
  process.chdir('/');
  const sock = new Socket({ fd: 3, readable: true, writable: true });
  sock.on('error', () => {});
  const reply = (r: DaemonReply) => {
    sock.end(JSON.stringify(r) + '\n');
  };
  let ready = false;
  try {
    const spec = await readSpec(sock);
    await serveMount(spec, {
      handleSignals: true,
      onReady: (record) => {
        ready = true;
        reply({ ok: true, record });
      },
    });
    // A clean run leaves no log behind; a failed one keeps it for `--debug` and bug reports.
    if (spec.log) await rm(spec.log, { force: true });
  } catch (err) {
    const e = err as Error;
    process.stderr.write(`ocifs mount server: ${e?.stack ?? e}\n`);
    if (!ready) {
      reply({
        ok: false,
        error: {
          code: err instanceof OcifsError ? err.code : 'ERR_OCIFS_MOUNT_FAILED',
          message: e?.message ?? String(err),
          data: err instanceof OcifsError ? (JSON.parse(JSON.stringify(err.data)) as ErrorData) : undefined,
        },
      });
    }
    process.exitCode = 1;
  }
  // The FUSE binding's threads must not keep a finished server alive.
  setTimeout(() => process.exit(), 100).unref();
}

void main();
