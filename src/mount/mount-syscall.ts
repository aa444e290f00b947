/**
 * mount(2) from Node, which has no binding for it: a perl process (perl-base is part of every
 * Debian/Ubuntu system) makes the syscall. One helper is started once and kept: it reads one
 * request a line (source, target, type, flags, data, tab-separated) and answers `ok` or the
 * error — a process that mounts many layers pays no process start per mount.
 *
 * @packageDocumentation
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import { InvalidOptionError } from '../errors.js';

/** `mount(2)` syscall numbers by `process.arch` (asm-generic 40; x86-64 165; the older ABIs 21). */
export const SYS_MOUNT: Readonly<Record<string, number>> = {
  x64: 165,
  arm64: 40,
  riscv64: 40,
  loong64: 40,
  ia32: 21,
  arm: 21,
  ppc64: 21,
  s390x: 21,
};

/** `MS_RDONLY`. */
export const MS_RDONLY = 1;

/** The helper's program: one syscall per input line, `$!` (errno text) on failure. */
function script(nr: number): string {
  return [
    '$| = 1;',
    'while (my $l = <STDIN>) {',
    '  chomp $l; my ($s, $d, $t, $f, $o) = split /\\t/, $l, 5;',
    `  if (syscall(${nr}, $s, $d, $t, $f + 0, $o) == 0) { print "ok\\n" } else { my $e = "$!"; $e =~ s/\\s+/ /g; print "error $e\\n" }`,
    '}',
  ].join('\n');
}

/** The result of one mount(2). */
export interface MountResult {
  ok: boolean;
  error: string;
}

/** A kept perl helper making mount(2) calls one after another; started on first use. */
export class MountSyscall {
  private child: ChildProcessWithoutNullStreams | undefined;
  private readonly waiting: ((line: string) => void)[] = [];
  private queue: Promise<unknown> = Promise.resolve();

  private start(nr: number): ChildProcessWithoutNullStreams {
    const child = spawn('perl', ['-e', script(nr)], { stdio: ['pipe', 'pipe', 'pipe'] });
    const gone = (why: string) => {
      if (this.child === child) this.child = undefined;
      for (const w of this.waiting.splice(0)) w(`error ${why}`);
    };
    child.on('error', (err) => gone(`cannot run perl: ${err.message}`));
    child.on('exit', () => gone('the mount helper exited'));
    child.stdin.on('error', () => {});
    createInterface({ input: child.stdout }).on('line', (line) => this.waiting.shift()?.(line));
    // The kept helper must not keep its parent alive.
    child.unref();
    for (const s of [child.stdin, child.stdout, child.stderr]) (s as unknown as { unref?: () => void }).unref?.();
    return child;
  }

  /** Starts the helper now, so that the first mount does not wait for perl to start. */
  prepare(): void {
    const nr = SYS_MOUNT[process.arch];
    if (nr !== undefined) this.child ??= this.start(nr);
  }

  /** mount(source, target, type, flags, data); resolves with ok or the error text. */
  mount(source: string, target: string, type: string, flags: number, data = ''): Promise<MountResult> {
    const nr = SYS_MOUNT[process.arch];
    if (nr === undefined) return Promise.resolve({ ok: false, error: `no mount(2) number known for ${process.arch}` });
    for (const [k, v] of Object.entries({ source, target, type, data })) {
      if (/[\t\n\0]/.test(v)) throw new InvalidOptionError(k, 'must not contain tabs, newlines or NUL');
    }
    const run = async (): Promise<MountResult> => {
      this.child ??= this.start(nr);
      const child = this.child;
      const answer = new Promise<string>((resolve) => this.waiting.push(resolve));
      child.stdin.write(`${source}\t${target}\t${type}\t${flags}\t${data}\n`);
      const line = await answer;
      return line === 'ok' ? { ok: true, error: '' } : { ok: false, error: line.replace(/^error /, '') };
    };
    const p = this.queue.then(run, run);
    this.queue = p.catch(() => {});
    return p;
  }

  /** Ends the helper. */
  close(): void {
    this.child?.stdin.end();
    this.child = undefined;
  }
}
