/**
 * The snapshotter's side of the layer keeper: connects to `ROOT/keeper.sock`, starting the
 * keeper (detached, in its own session, stderr to `ROOT/keeper.log`) when none answers, says
 * hello with the registry and cache settings, and numbers requests. When the connection drops
 * (the keeper died, or exited idle) pending requests fail and `onDisconnect` lets the
 * snapshotter decide whether to connect again and remount its layers.
 *
 * @packageDocumentation
 */
import { spawn } from 'node:child_process';
import { open } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isOcifsErrorCode, OcifsError } from '../../errors.js';
import { KeeperFailedError, KeeperUnavailableError } from './errors.js';
import { childExecArgv } from '../../mount/daemon.js';
import {
  KEEPER_SOCKET,
  readLines,
  type KeeperConfig,
  type KeeperRequest,
  type KeeperResponse,
  type KeptMountInfo,
} from './keeper-protocol.js';
import type { RemoteLayer } from './metadata-store.js';

/** How long to wait for a keeper that was just started to answer. */
export const KEEPER_START_TIMEOUT_MS = 20_000;

/** Path of the keeper's entry script beside this module (`.ts` under a loader, `.js` when built). */
export function keeperEntry(): string {
  const self = fileURLToPath(import.meta.url);
  return join(self, '..', `keeper-main${extname(self)}`);
}

/** Calls on a connection being set up (before other callers may use it). */
export interface KeeperSession {
  mount(mountpoint: string, layer: RemoteLayer): Promise<KeptMountInfo>;
  unmount(mountpoint: string): Promise<void>;
}

/** What the snapshotter does when the connection opens or drops. */
export interface KeeperHooks {
  /** After hello, before the connection is handed to other callers: bring the keeper in line. */
  onConnect?(mounts: KeptMountInfo[], session: KeeperSession): Promise<void>;
  onDisconnect?(): void;
  log?(msg: string): void;
}

type Pending = { resolve: (v: unknown) => void; reject: (e: unknown) => void };
type Req = KeeperRequest extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never;

/** A connection to the keeper of one root. */
export class KeeperClient {
  private sock: Socket | undefined;
  private connecting: Promise<Socket> | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private closed = false;

  constructor(
    private readonly root: string,
    private readonly config: KeeperConfig,
    private readonly hooks: KeeperHooks = {},
  ) {}

  /** True while a connection is open. */
  get connected(): boolean {
    return this.sock !== undefined && !this.sock.destroyed;
  }

  /** Mounts a layer; resolves with what the keeper mounted. */
  mount(mountpoint: string, layer: RemoteLayer): Promise<KeptMountInfo> {
    return this.call({ op: 'mount', mountpoint, layer }) as Promise<KeptMountInfo>;
  }

  /** Unmounts a layer (or whatever is mounted there). */
  async unmount(mountpoint: string): Promise<void> {
    await this.call({ op: 'unmount', mountpoint });
  }

  /** The keeper's Prometheus text, or '' when no keeper runs (none is started for it). */
  async metrics(): Promise<string> {
    if (!this.connected) return '';
    return ((await this.call({ op: 'metrics' })) as { text: string }).text;
  }

  /** Sends a request, connecting (and starting the keeper) first when needed. */
  async call(req: Req): Promise<unknown> {
    const sock = await this.ensure();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      sock.write(JSON.stringify({ ...req, id }) + '\n');
    });
  }

  /** The open connection, or a new one (see the module comment). */
  ensure(): Promise<Socket> {
    if (this.closed) return Promise.reject(new KeeperUnavailableError('the keeper client is closed'));
    if (this.sock && !this.sock.destroyed) return Promise.resolve(this.sock);
    this.connecting ??= this.open().finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  private async open(): Promise<Socket> {
    let sock = await tryConnect(join(this.root, KEEPER_SOCKET));
    if (!sock) {
      await this.start();
      const deadline = Date.now() + KEEPER_START_TIMEOUT_MS;
      while (!sock) {
        if (this.closed) throw new KeeperUnavailableError('the keeper client is closed');
        if (Date.now() > deadline)
          throw new KeeperUnavailableError(
            `the layer keeper did not answer on ${join(this.root, KEEPER_SOCKET)} (log: ${join(this.root, 'keeper.log')})`,
          );
        await new Promise((r) => setTimeout(r, 50));
        sock = await tryConnect(join(this.root, KEEPER_SOCKET));
      }
    }
    this.attach(sock);
    try {
      const hello = (await this.callOn(sock, { op: 'hello', config: this.config })) as {
        pid: number;
        mounts: KeptMountInfo[];
      };
      this.hooks.log?.(`connected to the layer keeper (pid ${hello.pid}, ${hello.mounts.length} layer(s) mounted)`);
      await this.hooks.onConnect?.(hello.mounts, {
        mount: (mountpoint, layer) => this.callOn(sock, { op: 'mount', mountpoint, layer }) as Promise<KeptMountInfo>,
        unmount: async (mountpoint) => {
          await this.callOn(sock, { op: 'unmount', mountpoint });
        },
      });
      // Closed while connecting (the daemon failed to start or stopped): the socket must not
      // keep the process alive.
      if (this.closed) throw new KeeperUnavailableError('the keeper client is closed');
    } catch (err) {
      sock.destroy();
      throw err;
    }
    this.sock = sock;
    return sock;
  }

  private callOn(sock: Socket, req: Req): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      sock.write(JSON.stringify({ ...req, id }) + '\n');
    });
  }

  private attach(sock: Socket): void {
    readLines(sock, (line) => {
      let r: KeeperResponse;
      try {
        r = JSON.parse(line) as KeeperResponse;
      } catch {
        return;
      }
      const p = this.pending.get(r.id);
      if (!p) return;
      this.pending.delete(r.id);
      if (r.ok) p.resolve(r.result);
      // An ocifs error keeps its code across the process boundary; anything else says it failed.
      else
        p.reject(
          isOcifsErrorCode(r.error.code)
            ? new OcifsError(r.error.code, r.error.message)
            : new KeeperFailedError(r.error.message, r.error.code),
        );
    });
    sock.on('close', () => {
      const established = this.sock === sock;
      if (established) this.sock = undefined;
      const err = new KeeperUnavailableError('the layer keeper went away');
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
      if (established && !this.closed) this.hooks.onDisconnect?.();
    });
  }

  /** Starts a keeper for the root, detached, logging to `ROOT/keeper.log`. */
  private async start(): Promise<void> {
    const log = await open(join(this.root, 'keeper.log'), 'a', 0o600);
    try {
      const child = spawn(process.execPath, [...childExecArgv(), keeperEntry(), '--root', this.root], {
        detached: true,
        stdio: ['ignore', log.fd, log.fd],
      });
      child.on('error', (err) => this.hooks.log?.(`cannot start the layer keeper: ${err.message}`));
      child.unref();
      this.hooks.log?.(`started the layer keeper (pid ${child.pid})`);
    } finally {
      await log.close();
    }
  }

  /** Closes the connection; the keeper keeps serving its layers. */
  close(): void {
    this.closed = true;
    this.sock?.destroy();
  }
}

function tryConnect(path: string): Promise<Socket | undefined> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once('connect', () => {
      s.removeAllListeners('error');
      s.on('error', () => {});
      resolve(s);
    });
    s.once('error', () => resolve(undefined));
  });
}
