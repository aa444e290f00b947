// The page of `ocifs web` in a real browser (Debian's Chromium through playwright-core) against
// the real command, registry and umoci images: a deep link, directories expanded by clicks, a
// text file and a binary shown byte for byte, the tag list, the diff of two tags, the treemap,
// and a hostile image whose names, link targets, labels and contents are markup and script —
// shown as text, with no dialog and no injected element.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { launchChromium, type TestBrowser } from '../helpers/browser.js';
import { HOSTILE, OS_RELEASE, pushWebImages, startWeb, type WebImages, type WebProcess } from '../helpers/web.js';

let tmp = '';
let reg: TestRegistry;
let images: WebImages;
let web: WebProcess;
let browser: TestBrowser;
let page: Page;
const dialogs: string[] = [];

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'ocifs-web-browser-'));
  reg = await startRegistry();
  images = await pushWebImages(tmp, reg);
  web = await startWeb([images.v2, '--cache-dir', join(tmp, 'cache')]);
  browser = await launchChromium();
  page = await browser.context.newPage();
  page.on('dialog', (d) => {
    dialogs.push(d.message());
    void d.dismiss();
  });
  // The printed URL: the token becomes a cookie, and every later page of the test uses it.
  await page.goto(web.url);
  assert.equal(new URL(page.url()).searchParams.get('token'), null);
});

after(async () => {
  await browser?.close();
  await web?.stop();
  await reg?.stop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

/**
 * What page-side functions use of the browser's globals (this file is compiled without the DOM's
 * types; and they must be functions, not strings: the page's CSP forbids eval).
 */
interface PageGlobals {
  document: {
    querySelectorAll(s: string): { length: number };
    querySelector(s: string): { complete: boolean; naturalWidth: number } | null;
  };
}

/** An attribute selector for any value (names from the hostile image hold quotes and brackets). */
const attr = (name: string, value: string) => `[${name}=${JSON.stringify(value)}]`;

/** A deep link of the page (the cookie authenticates it). */
const link = (ref: string, query: string) => `${web.origin}/image/${ref}?${query}`;

/** The text lines the text view shows, once the whole file is loaded. */
async function shownText(p: Page, path: string): Promise<string> {
  await p.waitForSelector(`${attr('data-pane-path', path)} .textview[data-text-loaded="all"]`);
  const lines = await p.$$eval('[data-list="text"] .line', (els) =>
    els.map(
      (e) =>
        [Number(e.querySelector('.ln')!.textContent), e.querySelector('.lt')!.textContent ?? ''] as [number, string],
    ),
  );
  lines.sort((a, b) => a[0] - b[0]);
  assert.deepEqual(
    lines.map((l) => l[0]),
    lines.map((_, i) => i + 1),
    'line numbers 1…n, all rendered',
  );
  return lines.map((l) => l[1]).join('\n') + '\n';
}

test('a deep link opens the tree to a text file and shows its exact text; a click expands a directory', async () => {
  await page.goto(link(images.v2, 'tab=files&path=/etc/os-release'));
  assert.equal(await shownText(page, '/etc/os-release'), OS_RELEASE);
  await page.waitForSelector('a.entry[data-path="/etc/hostname"]');
  assert.equal(await page.locator('a.entry[data-path="/usr/bin"]').count(), 0);
  await page.click('button.twisty[data-path="/usr"]');
  await page.waitForSelector('a.entry[data-path="/usr/bin"]');
  await page.click('button.twisty[data-path="/usr/bin"]');
  await page.click('a.entry[data-path="/usr/bin/tool"]');
  await page.waitForSelector('[data-pane-path="/usr/bin/tool"] table.elf');
  const readelf = /Requesting program interpreter: ([^\]]+)\]/.exec(
    (await import('node:child_process')).execFileSync('readelf', ['-l', '/bin/true'], { encoding: 'utf8' }),
  )![1];
  assert.match((await page.textContent('table.elf')) ?? '', new RegExp(`interpreter${readelf.replace(/[.]/g, '\\.')}`));
  assert.match(page.url(), /tab=files&path=\/usr\/bin\/tool$/);
  // The status line says what browsing fetched.
  await page.waitForSelector('[data-status] [data-fetched]');
  assert.ok(Number(await page.getAttribute('[data-status] [data-fetched]', 'data-fetched')) > 0);
});

test('the tree after one layer marks what that layer added, changed and deleted', async () => {
  await page.goto(link(images.v2, 'tab=files&layer=1&path=/etc'));
  await page.waitForSelector('a.entry[data-path="/etc/gone.conf"]');
  const marks = await page.$$eval('.trow', (rows) =>
    rows.map((r) => [
      r.querySelector('a.entry')?.getAttribute('data-path'),
      r.querySelector('.mark')?.textContent ?? '',
    ]),
  );
  assert.deepEqual(marks, [
    ['/data', ''],
    ['/etc', 'M'],
    ['/etc/gone.conf', 'D'],
    ['/etc/hostname', 'M'],
    ['/etc/new.conf', 'A'],
    ['/etc/old', 'D'],
    ['/etc/os-release', ''],
    ['/opt', 'A'],
    ['/usr', ''],
  ]);
  await page.click('input[name="changed"]');
  await page.waitForURL(/changed=1/);
  const changed = await page.$$eval('a.entry', (as) => as.map((a) => a.getAttribute('data-path')));
  assert.deepEqual(changed, ['/etc', '/etc/gone.conf', '/etc/hostname', '/etc/new.conf', '/etc/old', '/opt']);
});

test('a binary file: the hex view shows exactly its bytes', async () => {
  await page.goto(link(images.v2, 'tab=files&path=/data/blob.bin'));
  const bytes = await readFile(join(images.baseDir, 'data/blob.bin'));
  const rows = Math.ceil(bytes.byteLength / 16);
  await page.waitForFunction(
    (n) =>
      (globalThis as unknown as PageGlobals).document.querySelectorAll('[data-list="hex"] .hexline .hex').length === n,
    rows,
  );
  const shown = await page.$$eval('[data-list="hex"] .hexline', (els) =>
    els.map((e) => [e.querySelector('.off')!.textContent!, e.querySelector('.hex')!.textContent!] as [string, string]),
  );
  shown.sort((a, b) => parseInt(a[0], 16) - parseInt(b[0], 16));
  const parsed = Buffer.from(shown.map(([, hex]) => hex.trim().split(/\s+/).join('')).join(''), 'hex');
  assert.ok(parsed.equals(bytes), 'hex view equals the file');
});

test('the image view lists the repository’s tags and the history beside its layers', async () => {
  await page.goto(link(images.v2, 'tab=image'));
  await page.waitForSelector('[data-tags] li');
  assert.deepEqual(await page.$$eval('[data-tags] li', (els) => els.map((e) => e.textContent)), ['v1', 'v2']);
  const history = await page.$$eval('[data-history] tr', (rows) => rows.map((r) => r.textContent ?? ''));
  assert.equal(history.length, 3);
  assert.match(history[0], /COPY base \/.*layer 0/);
  assert.match(history[1], /CONFIG labels.*empty layer/);
  assert.match(history[2], /RUN change things.*layer 1/);
  // A layer digest in the manifest JSON links to that layer's files.
  const href = await page.getAttribute('[data-json="manifest"] a.digest >> nth=1', 'href');
  assert.match(href ?? '', /tab=files&layer=0$/);
});

test('the diff of two tags, and a line diff of a changed file', async () => {
  await page.goto(link(images.v1, `tab=diff&b=${images.v2}`));
  await page.waitForSelector('[data-diff-summary]');
  const paths = await page.$$eval('[data-diff-path]', (els) => els.map((e) => e.getAttribute('data-diff-path')));
  assert.deepEqual(paths, ['/etc/gone.conf', '/etc/hostname', '/etc/new.conf', '/etc/old', '/opt']);
  await page.click('[data-diff-path="/etc/hostname"]');
  await page.waitForSelector('.linediff');
  assert.deepEqual(await page.$$eval('.linediff div', (els) => els.map((e) => e.textContent)), [
    '- web-test',
    '+ web-test-v2, longer now',
  ]);
});

test('sizes: the treemap and the bytes per layer render', async () => {
  await page.goto(link(images.v2, 'tab=sizes'));
  await page.waitForSelector('[data-treemap] .tm');
  assert.ok((await page.locator('[data-treemap] .tm').count()) >= 4);
  assert.equal(await page.locator('[data-layer-bars] tr').count(), 2);
  // A click on a directory zooms into it, and the zoom is in the URL.
  await page.click('[data-treemap] .tm-dir[title^="/data "]', { position: { x: 6, y: 6 } });
  await page.waitForURL(/tab=sizes&path=\/data$/);
});

test('a hostile image: names, link targets, labels and contents are shown as text and run nothing', async () => {
  const checkNothingRan = async () => {
    assert.deepEqual(dialogs, []);
    // No element made from image content: the page has no inline script and no <img> but the picture view's.
    assert.equal(await page.locator('script:not([src])').count(), 0);
    assert.equal(await page.locator('img[src="x"]').count(), 0);
    for (const href of await page.$$eval('a[href]', (as) => as.map((a) => a.getAttribute('href') ?? '')))
      assert.match(href, /^(\/|#)/, href);
  };
  await page.goto(link(images.xss, 'tab=files'));
  await page.waitForSelector('a.entry');
  const names = await page.$$eval('a.entry', (as) => as.map((a) => a.textContent));
  assert.ok(names.includes(HOSTILE.scriptName), names.join(' | '));
  assert.ok(names.includes(`${HOSTILE.imgDir}/`), names.join(' | '));
  assert.ok(await page.locator('.target a', { hasText: HOSTILE.jsTarget }).count());
  await checkNothingRan();
  // A file whose content is markup: text.
  await page.click(`a.entry${attr('data-path', `/${HOSTILE.scriptName}`)}`);
  assert.equal(await shownText(page, `/${HOSTILE.scriptName}`), HOSTILE.content);
  await page.click(`button.twisty${attr('data-path', `/${HOSTILE.imgDir}`)}`);
  await page.click(`a.entry${attr('data-path', `/${HOSTILE.imgDir}/javascript:alert(10).txt`)}`);
  assert.equal(await shownText(page, `/${HOSTILE.imgDir}/javascript:alert(10).txt`), HOSTILE.content);
  await page.click('a.entry[data-path="/evil.html"]');
  assert.equal(await shownText(page, '/evil.html'), HOSTILE.html);
  // An SVG with script: a picture in an <img> (never a document of this page), and it loads.
  await page.click('a.entry[data-path="/evil.svg"]');
  await page.waitForFunction(() => {
    const img = (globalThis as unknown as PageGlobals).document.querySelector('.picture img');
    return !!img && img.complete && img.naturalWidth > 0;
  });
  assert.match((await page.getAttribute('.picture img', 'src')) ?? '', /^\/api\/file\?.*as=picture/);
  await checkNothingRan();
  // Labels and history in the image view.
  await page.goto(link(images.xss, 'tab=image'));
  await page.waitForSelector('[data-summary]');
  assert.ok((await page.textContent('[data-summary]'))!.includes(`evil=${HOSTILE.label}`));
  assert.ok((await page.textContent('[data-history]'))!.includes(HOSTILE.label));
  assert.ok((await page.textContent('[data-json="config"]'))!.includes(JSON.stringify(HOSTILE.label)));
  await checkNothingRan();
});
