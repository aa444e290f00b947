/**
 * Starts a mount server as a detached background process and waits until its mount is ready:
 * what `ocifs mount` does without `--foreground`.
 *
 * The child is `node [loader flags] daemon-main.{js,ts}` in its own session, with stderr to a
 * log file in the state dir. The spec travels over an extra socket (fd 3), not the command
 * line, so nothing in it shows in `ps`; the child answers on the same socket with one JSON
 * line — its record, or the error that stopped it — and the parent returns or throws that.
 *
 * @packageDocumentation
 */
import { spawn } from 'node:child_process';
import { mkdir, open, readFile } from 'node:fs/promises';
import { extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Socket } from 'node:net';
import { isOcifsErrorCode, OcifsError } from '../errors.js';
import { isLocalImagePath, localImagePath } from '../image/index.js';
import { MountFailedError, NotRootError } from './errors.js';
import { checkFuseAvailable } from './fuse-binding.js';
import type { MountRecord } from './mount-record.js';
import { checkMountpoint } from './mountpoint.js';
import type { MountSpec } from './serve-mount.js';
import { defaultStateDir } from './state-dir.js';

/** How long {@link startMountDaemon} waits for the server to report. */
export const DEFAULT_START_TIMEOUT_MS = 120_000;

/** Options of {@link startMountDaemon}. */
export interface DaemonOptions {
  /** Milliseconds to wait for the mount to be ready. Default {@link DEFAULT_START_TIMEOUT_MS}. */
  timeoutMs?: number;
}

/** What the server answers on fd 3. */
export type DaemonReply =
  | { ok: true; record: MountRecord }
  | { ok: false; error: { code: string; message: string; data?: Record<string, unknown> } };

/**
 * Node flags that must reach a child process of ours (a TypeScript loader such as tsx); debugger
 * and test flags must not.
 */
export function childExecArgv(): string[] {
  const out: string[] = [];
  const argv = process.execArgv;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--import' || a === '--require' || a === '-r' || a === '--loader' || a === '--experimental-loader') {
      if (i + 1 < argv.length) out.push(a, argv[++i]);
    } else if (
      /^--(import|require|loader|experimental-loader)=/.test(a) ||
      a.startsWith('--no-warnings') ||
      a.startsWith('--enable-source-maps')
    ) {
      out.push(a);
    }
  }
  return out;
}

/** Path of the child's entry script, beside this module (`.ts` under a loader, `.js` when built). */
export function daemonEntry(): string {
  const self = fileURLToPath(import.meta.url);
  return join(self, '..', `daemon-main${extname(self)}`);
}

/** The source with relative paths made absolute: the server runs in `/`. */
function absoluteSource(source: MountSpec['source']): MountSpec['source'] {
  const ref = isLocalImagePath(source.ref) ? resolve(localImagePath(source.ref)) : source.ref;
  const cacheDir = source.image?.cacheDir;
  return {
    ...source,
    ref,
    ...(source.image ? { image: { ...source.image, ...(cacheDir ? { cacheDir: resolve(cacheDir) } : {}) } } : {}),
  };
}

/**
 * Starts a background server for `spec` and resolves with its record once the mount is ready.
 * On failure the server has exited, nothing is mounted, and the error is the server's.
 */
export async function startMountDaemon(spec: MountSpec, options: DaemonOptions = {}): Promise<MountRecord> {
  const stateDir = spec.stateDir ?? defaultStateDir();
  // Fail fast, before a process is started, on a bad mountpoint or a machine that cannot mount.
  const mountpoint = await checkMountpoint(spec.mountpoint);
  if (spec.mode === 'kernel' && process.getuid?.() !== 0) throw new NotRootError(mountpoint);
  await checkFuseAvailable();
  const logDir = join(stateDir, 'logs');
  await mkdir(logDir, { recursive: true, mode: 0o700 });
  const log = join(logDir, `${Date.now()}-${process.pid}-${Math.random().toString(36).slice(2, 8)}.log`);
  const logFile = await open(log, 'w', 0o600);
  const full: MountSpec = {
    ...spec,
    mountpoint,
    stateDir: resolve(stateDir),
    log,
    source: absoluteSource(spec.source),
  };
  const child = spawn(process.execPath, [...childExecArgv(), daemonEntry()], {
    detached: true,
    // The parent's cwd, so that loader flags (`--import tsx`) resolve as they did for the
    // parent; the server changes to `/` once loaded, to keep no directory busy.
    stdio: ['ignore', logFile.fd, logFile.fd, 'pipe'],
  });
  await logFile.close();
  const sock = child.stdio[3] as Socket;
  sock.on('error', () => {});
  sock.write(JSON.stringify(full) + '\n');

  const reply = await new Promise<DaemonReply | { exited: string }>((resolve) => {
    let buf = '';
    const timer = setTimeout(
      () => resolve({ exited: `no answer within ${options.timeoutMs ?? DEFAULT_START_TIMEOUT_MS} ms` }),
      options.timeoutMs ?? DEFAULT_START_TIMEOUT_MS,
    );
    const finish = (r: DaemonReply | { exited: string }) => {
      clearTimeout(timer);
      resolve(r);
    };
    sock.on('data', (b: Buffer) => {
      buf += b.toString('utf8');
      const nl = buf.indexOf('\n');
      if (nl >= 0) {
        try {
          finish(JSON.parse(buf.slice(0, nl)) as DaemonReply);
        } catch {
          finish({ exited: 'garbled answer' });
        }
      }
    });
    child.on('exit', (code, sig) => finish({ exited: `exited with ${code ?? sig}` }));
  });
  sock.destroy();

  if ('exited' in reply) {
    child.kill('SIGTERM');
    const text = (await readFile(log, 'utf8').catch(() => '')).trim().split('\n');
    const tail = (text.find((l) => /^\w*Error\b|^ocifs mount server:/.test(l)) ?? text[text.length - 1] ?? '').trim();
    throw new MountFailedError(mountpoint, `the mount server ${reply.exited}${tail ? `: ${tail}` : ''} (log: ${log})`);
  }
  if (!reply.ok) {
    // The server's error, re-created with its code (one it does not know is a failed mount).
    const { code, message, data } = reply.error;
    if (isOcifsErrorCode(code)) throw new OcifsError(code, message, { data });
    throw new MountFailedError(mountpoint, message, { data });
  }
  child.unref();
  return reply.record;
}
