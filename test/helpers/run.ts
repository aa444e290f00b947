// Small helpers to run real tools from tests.
import { spawn, type SpawnOptions } from 'node:child_process';
import { createServer } from 'node:net';

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: string;
  /** The process id the command ran as. */
  pid: number | undefined;
}

/** Runs a command to completion, collecting stdout (bytes) and stderr (text). Never throws for a non-zero exit. */
export function run(
  cmd: string,
  args: string[],
  options: SpawnOptions & { input?: Uint8Array | string } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { ...options, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', reject);
    child.on('close', (code, signal) =>
      resolve({
        code,
        signal,
        stdout: Buffer.concat(out),
        stderr: Buffer.concat(err).toString('utf8'),
        pid: child.pid,
      }),
    );
    child.stdin.on('error', () => {});
    child.stdin.end(options.input ?? undefined);
  });
}

/** Runs a command and throws with its stderr when it fails. */
export async function runOk(
  cmd: string,
  args: string[],
  options: SpawnOptions & { input?: Uint8Array | string } = {},
): Promise<RunResult> {
  const r = await run(cmd, args, options);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.code ?? r.signal}): ${r.stderr.trim()}`);
  return r;
}

/** A free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}
