// Writes an htpasswd file with bcrypt entries (the distribution registry accepts only bcrypt)
// using Debian's `htpasswd -B` (apache2-utils).
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runOk } from './run.js';

/** Creates `DIR/htpasswd` for `users` (user → password) and returns its path; DIR is a new temp dir. */
export async function writeHtpasswd(users: Record<string, string>, dir?: string): Promise<string> {
  const d = dir ?? (await mkdtemp(join(tmpdir(), 'ocifs-htpasswd-')));
  const path = join(d, 'htpasswd');
  const lines: string[] = [];
  for (const [u, p] of Object.entries(users)) {
    // -n: print, -b: password from the command line, -B: bcrypt, -C 4: low cost (tests)
    const r = await runOk('htpasswd', ['-nbBC', '4', u, p]);
    lines.push(r.stdout.toString('utf8').trim());
  }
  await writeFile(path, lines.join('\n') + '\n');
  return path;
}

/** YAML for startRegistry's extraConfig: basic auth with that file. */
export function htpasswdConfig(path: string): string {
  return `auth: {htpasswd: {realm: ocifs-test, path: ${path}}}`;
}
