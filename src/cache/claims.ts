/**
 * Cross-process download claims: a process about to fetch chunks of a blob creates
 * `claims/<block>` with O_EXCL for every block (a fixed group of chunks) it touches, so other
 * processes wait for its bytes instead of downloading them again. Claims only save bandwidth;
 * correctness never depends on them (two processes fetching one chunk both write the same
 * verified-later bytes and mark it present only after their own flush).
 *
 * A claim names its owner (`pid host nonce time`). It is a hard link to the owner's template
 * file `claims/.owner-<pid>-<nonce>` (written once), so claiming is one link() that fails with
 * EEXIST when the block is taken, every claim of a process is the same inode, and refreshing
 * that inode's mtime every `staleMs / 3` keeps all of them alive at once. A waiter takes a
 * claim over when its owner process is gone (same host, pid no longer alive) or its mtime is
 * older than `staleMs` (owner frozen, or on another host).
 *
 * @packageDocumentation
 */
import { link, open, readdir, readFile, rename, stat, unlink, utimes } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { debuglog } from '../io/debug-log.js';
import { isNotFound } from './fs-util.js';

const debug = debuglog('ocifs:cache');

/** Bytes of blob covered by one claim file (a whole number of chunks, at least one). */
export const CLAIM_BLOCK_BYTES = 1024 * 1024;

/** A claim file whose content is still not readable after this long is stale. */
const UNREADABLE_STALE_MS = 2000;

/** What a waiter learns about a block's claim. */
export type ClaimStatus = { state: 'gone' } | { state: 'live' } | { state: 'mine' };

interface Parsed {
  pid: number;
  host: string;
  nonce: string;
}

function parse(text: string): Parsed | undefined {
  const m = /^ocifs-claim (\d+) (\S+) ([0-9a-f]+) \d+\n?$/.exec(text);
  return m ? { pid: Number(m[1]), host: m[2], nonce: m[3] } : undefined;
}

/** True while process `pid` exists (EPERM: it exists, under another user). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The claims of one blob instance held and seen by this process. */
export class ClaimSet {
  private readonly nonce = randomBytes(8).toString('hex');
  private readonly host = hostname().replace(/\s/g, '_') || 'localhost';
  private readonly held = new Map<number, number>(); // block -> local holders
  private readonly creating = new Map<number, Promise<boolean>>();
  private readonly releasing = new Map<number, Promise<void>>();
  private timer: NodeJS.Timeout | undefined;
  private template: Promise<{ path: string; ino: number } | undefined> | undefined;

  constructor(
    private readonly dir: string,
    /** Chunks per claim block. */
    readonly blockChunks: number,
    private readonly staleMs: number,
  ) {}

  private path(block: number): string {
    return join(this.dir, String(block));
  }

  /**
   * Claims `block` for this process. Resolves true when this process now holds it (also when
   * another local fetch already does), false when another live process does.
   */
  async acquire(block: number): Promise<boolean> {
    // Our own claim file may still be on its way out: do not mistake it for another process's.
    const r = this.releasing.get(block);
    if (r) await r;
    const n = this.held.get(block);
    if (n !== undefined) {
      this.held.set(block, n + 1);
      return true;
    }
    // Two local tasks racing for one block share the one O_EXCL attempt.
    let p = this.creating.get(block);
    if (!p) {
      p = this.create(block).finally(() => this.creating.delete(block));
      this.creating.set(block, p);
      const ok = await p;
      if (ok) this.held.set(block, (this.held.get(block) ?? 0) + 1);
      return ok;
    }
    const ok = await p;
    if (ok) this.held.set(block, (this.held.get(block) ?? 0) + 1);
    return ok;
  }

  private content(): string {
    return `ocifs-claim ${process.pid} ${this.host} ${this.nonce} ${Date.now()}\n`;
  }

  /** This process's template file (created on first use; also sweeps dead owners' templates). */
  private getTemplate(): Promise<{ path: string; ino: number } | undefined> {
    this.template ??= (async () => {
      await this.sweepOwners();
      const path = join(this.dir, `.owner-${process.pid}-${this.nonce}`);
      try {
        const fh = await open(path, 'wx', 0o600);
        try {
          await fh.write(this.content());
          return { path, ino: (await fh.stat()).ino };
        } finally {
          await fh.close();
        }
      } catch (err) {
        debug('claim template %s: %s', path, (err as NodeJS.ErrnoException).code);
        return undefined;
      }
    })();
    return this.template;
  }

  /** Removes templates of owners that are gone (same host, pid dead) or silent for long. */
  private async sweepOwners(): Promise<void> {
    for (const name of await readdir(this.dir).catch(() => [] as string[])) {
      if (!name.startsWith('.owner-')) continue;
      const path = join(this.dir, name);
      try {
        const [st, text] = await Promise.all([stat(path), readFile(path, 'latin1')]);
        const owner = parse(text);
        const dead = owner !== undefined && owner.host === this.host && !processAlive(owner.pid);
        if (dead || Date.now() - st.mtimeMs > 10 * this.staleMs) await unlink(path);
      } catch {
        /* raced with its owner */
      }
    }
  }

  private async create(block: number): Promise<boolean> {
    const template = await this.getTemplate();
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        if (template) {
          // The claim is the template's inode: make its mtime fresh before it becomes visible.
          if (!this.timer) await utimes(template.path, new Date(), new Date()).catch(() => {});
          await link(template.path, this.path(block));
        } else {
          // No template (a file system without hard links?): write the claim itself.
          const fh = await open(this.path(block), 'wx', 0o600);
          try {
            await fh.write(this.content());
          } finally {
            await fh.close();
          }
        }
        this.startHeartbeat();
        return true;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        // The instance was evicted under us: nobody can coordinate on it any more; fetch alone.
        if (code === 'ENOENT') return true;
        if (code !== 'EEXIST') {
          debug('claim %s: %s, fetching without a claim', this.path(block), code);
          return true;
        }
      }
      const s = await this.inspect(block);
      if (s.state === 'live') return false;
      // gone or taken over: try again
    }
    return false;
  }

  /** Releases one local hold of `block`; the file goes when the last local holder releases it. */
  async release(block: number): Promise<void> {
    const n = this.held.get(block);
    if (n === undefined) return;
    if (n > 1) {
      this.held.set(block, n - 1);
      return;
    }
    this.held.delete(block);
    if (this.held.size === 0) this.stopHeartbeat();
    const p = this.removeOwn(block).finally(() => {
      if (this.releasing.get(block) === p) this.releasing.delete(block);
    });
    this.releasing.set(block, p);
    await p;
  }

  private async removeOwn(block: number): Promise<void> {
    const path = this.path(block);
    try {
      // Only remove our own claim: if we were (wrongly) judged stale, the file is someone else's now.
      const template = await this.template;
      if (template) {
        if ((await stat(path)).ino === template.ino) await unlink(path);
      } else if (parse(await readFile(path, 'latin1'))?.nonce === this.nonce) {
        await unlink(path);
      }
    } catch (err) {
      if (!isNotFound(err)) debug('release claim %s: %s', path, (err as Error).message);
    }
  }

  /** Looks at a block's claim; removes it when stale (the caller then retries). */
  async inspect(block: number): Promise<ClaimStatus> {
    if (this.held.has(block)) return { state: 'mine' };
    const path = this.path(block);
    let text: string;
    let mtimeMs: number;
    try {
      const st = await stat(path);
      mtimeMs = st.mtimeMs;
      text = await readFile(path, 'latin1');
    } catch (err) {
      if (isNotFound(err)) return { state: 'gone' };
      return { state: 'live' };
    }
    const owner = parse(text);
    const dead = owner !== undefined && owner.host === this.host && !processAlive(owner.pid);
    const age = Date.now() - mtimeMs;
    // A claim's content is written right after it is created: one still unreadable after a
    // moment belongs to a process killed in between.
    const silent = age > this.staleMs || (owner === undefined && age > UNREADABLE_STALE_MS);
    if (!dead && !silent) return { state: 'live' };
    debug('claim %s stale (%s), taking over', path, dead ? `pid ${owner?.pid} gone` : 'silent');
    await this.takeOver(block, owner?.nonce);
    return { state: 'gone' };
  }

  /** Moves a stale claim aside; puts it back if what we moved turns out to be a fresh one. */
  private async takeOver(block: number, staleNonce: string | undefined): Promise<void> {
    const path = this.path(block);
    const aside = `${path}.stale-${randomBytes(6).toString('hex')}`;
    try {
      await rename(path, aside);
    } catch {
      return; // someone else took it over first
    }
    try {
      const moved = parse(await readFile(aside, 'latin1'));
      if (moved !== undefined && moved.nonce !== staleNonce) {
        await link(aside, path).catch(() => {});
      }
    } catch {
      /* ignore */
    }
    await unlink(aside).catch(() => {});
  }

  private startHeartbeat(): void {
    if (this.timer) return;
    this.timer = setInterval(
      () => {
        const now = new Date();
        void this.template?.then((t) => {
          // All our claims are links to the template: one utimes refreshes them all.
          if (t) utimes(t.path, now, now).catch(() => {});
          else for (const block of this.held.keys()) utimes(this.path(block), now, now).catch(() => {});
        });
      },
      Math.max(50, Math.floor(this.staleMs / 3)),
    );
    this.timer.unref();
  }

  private stopHeartbeat(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Releases every claim this process holds (on close). */
  async releaseAll(): Promise<void> {
    const blocks = [...this.held.keys()];
    for (const b of blocks) this.held.set(b, 1);
    await Promise.all(blocks.map((b) => this.release(b)));
    this.stopHeartbeat();
    const t = await this.template;
    this.template = undefined;
    if (t) await unlink(t.path).catch(() => {});
  }
}
