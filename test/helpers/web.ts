// What the `ocifs web` tests share: images made by umoci (two tags of one repository, the
// second a layer that adds, changes and deletes files; and a hostile image whose names, link
// targets, labels and contents are HTML and script) pushed with skopeo to the test registry,
// and the real `ocifs web` command started on a free port.
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFile, link, mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { deflateSync, crc32 } from 'node:zlib';
import { join } from 'node:path';
import { skopeoPush, type TestRegistry } from './registry.js';
import { runOk } from './run.js';
import { OCIFS_BIN } from './cli.js';

/** A tiny valid PNG (2×2 pixels, RGB), made here so no host file is needed. */
export function tinyPng(): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(td));
    return Buffer.concat([len, td, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(2, 0);
  ihdr.writeUInt32BE(2, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  const rows = Buffer.from([0, 255, 0, 0, 0, 255, 0, 0, 0, 0, 255, 255, 255, 255]);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(rows)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** Deterministic bytes (every value 0…255 appears). */
export function patternBytes(n: number, seed = 7): Buffer {
  const b = Buffer.alloc(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = i < 256 ? i : x >>> 24;
  }
  return b;
}

/** The text of /etc/os-release in the test image (a few dozen lines). */
export const OS_RELEASE =
  Array.from({ length: 24 }, (_, i) => `LINE_${i + 1}="value ${i + 1}\twith a tab"`).join('\n') + '\n';

/** The base tree (tag v1). */
export async function writeBaseTree(root: string): Promise<void> {
  const f = async (p: string, data: string | Uint8Array) => {
    await mkdir(join(root, p, '..'), { recursive: true });
    await writeFile(join(root, p), data);
  };
  await f('etc/hostname', 'web-test\n');
  await f('etc/os-release', OS_RELEASE);
  await f('etc/gone.conf', 'this file is deleted by layer 1\n');
  await f('etc/old/a.txt', 'a directory deleted by layer 1\n');
  await mkdir(join(root, 'usr/bin'), { recursive: true });
  await copyFile('/bin/true', join(root, 'usr/bin/tool'));
  await symlink('tool', join(root, 'usr/bin/tool-link'));
  await f('usr/share/pic.png', tinyPng());
  await f(
    'usr/share/logo.svg',
    '<svg xmlns="http://www.w3.org/2000/svg" width="20" height="20"><rect width="20" height="20" fill="red"/></svg>\n',
  );
  await f('usr/lib/libfoo.so.1', patternBytes(5000, 3));
  await link(join(root, 'usr/lib/libfoo.so.1'), join(root, 'usr/lib/libfoo-hard.so'));
  await f('data/blob.bin', patternBytes(300));
  await f('data/big.txt', Array.from({ length: 20000 }, (_, i) => `line ${i + 1} of a large text file\n`).join(''));
}

/** The second layer's changes (tag v2 = v1 + this). */
export async function changeTree(root: string): Promise<void> {
  await writeFile(join(root, 'etc/hostname'), 'web-test-v2, longer now\n');
  await writeFile(join(root, 'etc/new.conf'), 'added by layer 1\n');
  await rm(join(root, 'etc/gone.conf'));
  await rm(join(root, 'etc/old'), { recursive: true });
  await mkdir(join(root, 'opt/app'), { recursive: true });
  await writeFile(join(root, 'opt/app/run.sh'), '#!/bin/sh\necho run\n');
}

/** Names, link targets, labels and contents that are markup and script. */
export const HOSTILE = {
  // A name cannot hold `/`, so no closing tag: the opening one is what would run.
  scriptName: '<script>alert(1)<b>x',
  imgDir: '"><img src=x onerror=alert(2)>',
  jsLink: 'evil-link',
  jsTarget: 'javascript:alert(3)',
  svg: '<svg xmlns="http://www.w3.org/2000/svg" onload="alert(4)"><script>alert(5)</script><rect width="9" height="9"/></svg>\n',
  html: '<html><body><script>alert(6)</script><img src=x onerror=alert(6)></body></html>\n',
  label: '"><img src=x onerror=alert(7)><script>alert(8)</script>',
  content: '<script>alert("content")</script>\n"><img src=x onerror=alert(9)>\n',
};

/** The hostile tree. */
export async function writeHostileTree(root: string): Promise<void> {
  await mkdir(join(root, HOSTILE.imgDir), { recursive: true });
  await writeFile(join(root, HOSTILE.scriptName), HOSTILE.content);
  await writeFile(join(root, HOSTILE.imgDir, 'javascript:alert(10).txt'), HOSTILE.content);
  await symlink(HOSTILE.jsTarget, join(root, HOSTILE.jsLink));
  await writeFile(join(root, 'evil.svg'), HOSTILE.svg);
  await writeFile(join(root, 'evil.html'), HOSTILE.html);
}

/** References of the images {@link pushWebImages} made. */
export interface WebImages {
  v1: string;
  v2: string;
  xss: string;
  /** The OCI layout of v1 and v2 (umoci's). */
  layout: string;
  /** The trees as they are in v1, v2 and the hostile image. */
  baseDir: string;
  v2Dir: string;
  xssDir: string;
}

/** Makes the images with umoci and pushes them with skopeo. */
export async function pushWebImages(tmp: string, reg: TestRegistry): Promise<WebImages> {
  const layout = join(tmp, 'layout');
  const baseDir = join(tmp, 'base');
  await writeBaseTree(baseDir);
  await runOk('umoci', ['init', '--layout', layout]);
  await runOk('umoci', ['new', '--image', `${layout}:v1`]);
  await runOk('umoci', ['insert', '--image', `${layout}:v1`, '--history.created_by', 'COPY base /', baseDir, '/']);
  await runOk('umoci', [
    'config',
    '--image',
    `${layout}:v1`,
    '--config.label',
    'org.example.title=web test',
    '--config.entrypoint',
    '/usr/bin/tool',
    '--config.env',
    'GREETING=hello',
    '--config.user',
    '1000:1000',
    '--config.exposedports',
    '8080/tcp',
    '--history.created_by',
    'CONFIG labels',
  ]);
  const bundle = join(tmp, 'bundle');
  await runOk('umoci', ['unpack', '--image', `${layout}:v1`, bundle]);
  await changeTree(join(bundle, 'rootfs'));
  await runOk('umoci', ['repack', '--image', `${layout}:v2`, '--history.created_by', 'RUN change things', bundle]);
  const v2Dir = join(bundle, 'rootfs');
  await skopeoPush(layout, 'v1', `${reg.host}/web/test:v1`);
  await skopeoPush(layout, 'v2', `${reg.host}/web/test:v2`);

  const xssLayout = join(tmp, 'xss-layout');
  const xssDir = join(tmp, 'xss');
  await writeHostileTree(xssDir);
  await runOk('umoci', ['init', '--layout', xssLayout]);
  await runOk('umoci', ['new', '--image', `${xssLayout}:v1`]);
  await runOk('umoci', ['insert', '--image', `${xssLayout}:v1`, '--history.created_by', HOSTILE.label, xssDir, '/']);
  await runOk('umoci', [
    'config',
    '--image',
    `${xssLayout}:v1`,
    '--config.label',
    `evil=${HOSTILE.label}`,
    '--config.env',
    `X=${HOSTILE.jsTarget}`,
  ]);
  await skopeoPush(xssLayout, 'v1', `${reg.host}/web/xss:v1`);
  return {
    v1: `${reg.host}/web/test:v1`,
    v2: `${reg.host}/web/test:v2`,
    xss: `${reg.host}/web/xss:v1`,
    layout,
    baseDir,
    v2Dir,
    xssDir,
  };
}

/** A running `ocifs web`. */
export interface WebProcess {
  /** The URL it printed (with the token). */
  url: string;
  origin: string;
  token: string;
  port: number;
  /** Fetches an API path with the token (cookie-less, as curl would). */
  api(path: string, init?: RequestInit): Promise<Response>;
  stop(): Promise<void>;
}

/** Starts `ocifs web ARGS…` and waits for its URL. */
export async function startWeb(args: string[], env: NodeJS.ProcessEnv = {}): Promise<WebProcess> {
  const child: ChildProcess = spawn(process.execPath, [OCIFS_BIN, 'web', ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`ocifs web printed no URL: ${err}`)), 30_000);
    child.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      const line = out.split('\n').find((l) => l.startsWith('http://'));
      if (line) {
        clearTimeout(timer);
        resolve(line.trim());
      }
    });
    child.once('exit', (code) => reject(new Error(`ocifs web exited ${code}: ${err}`)));
  });
  const u = new URL(url);
  const token = u.searchParams.get('token')!;
  const origin = u.origin;
  return {
    url,
    origin,
    token,
    port: Number(u.port),
    api: (path, init) =>
      fetch(`${origin}${path}${path.includes('?') ? '&' : '?'}token=${token}`, { redirect: 'manual', ...init }),
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    },
  };
}
