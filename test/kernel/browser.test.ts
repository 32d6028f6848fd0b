/**
 * A real browser: headless Chromium (Debian's, driven by playwright-core) opens a notebook in the
 * classic notebook server on 127.0.0.1, runs all cells with the mmulab kernel and finds the chart
 * SVG. The screenshot is kept under artifacts/browser/.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyFixture, installKernel, JUPYTER, jupyterEnv, ROOT, tempDir } from './helpers';

const ARTIFACTS = path.join(ROOT, 'artifacts', 'browser');
const CHROMIUM_FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

async function waitForServer(url: string, server: ChildProcess, log: () => string): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (server.exitCode !== null) throw new Error(`the notebook server exited (${server.exitCode}):\n${log()}`);
    try {
      const res = await fetch(url);
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`the notebook server did not answer:\n${log()}`);
}

describe('the classic notebook in headless Chromium', () => {
  let server: ChildProcess;
  let serverLog = '';
  let browser: Browser | undefined;
  let base: string;
  const token = randomBytes(16).toString('hex');

  beforeAll(async () => {
    const dir = tempDir('browser');
    const env = jupyterEnv(dir);
    await installKernel(env);
    const notebooks = path.join(dir, 'notebooks');
    fs.mkdirSync(notebooks);
    copyFixture('basic.ipynb', notebooks);
    // A design note as a fresh clone has it: never signed in this Jupyter's (temporary) trust database.
    fs.copyFileSync(path.join(ROOT, 'notebooks', '01-walks.ipynb'), path.join(notebooks, 'walks.ipynb'));
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    server = spawn(
      JUPYTER,
      ['notebook', '--no-browser', '--ip=127.0.0.1', `--port=${port}`, '--port-retries=0', `--NotebookApp.token=${token}`, `--notebook-dir=${notebooks}`, '--NotebookApp.open_browser=False', ...(process.getuid?.() === 0 ? ['--allow-root'] : [])],
      { env, cwd: notebooks, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    server.stdout!.on('data', (d: Buffer) => (serverLog += d.toString()));
    server.stderr!.on('data', (d: Buffer) => (serverLog += d.toString()));
    await waitForServer(`${base}/api/status?token=${token}`, server, () => serverLog);
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: CHROMIUM_FLAGS });
  });

  afterAll(async () => {
    await browser?.close();
    if (server && server.exitCode === null) {
      const closed = new Promise((r) => server.on('close', r));
      server.kill('SIGTERM');
      await closed;
    }
  });

  it('runs all cells and renders the chart as SVG', async () => {
    const page = await browser!.newPage({ viewport: { width: 1200, height: 900 } });
    await page.goto(`${base}/notebooks/basic.ipynb?token=${token}`);
    // Wait for the kernel, then Run All.
    // Browser-side code as strings: the tests are type-checked without the DOM library.
    await page.waitForFunction("!!window.Jupyter?.notebook?.kernel?.is_connected() && Jupyter.notebook.kernel.info_reply?.implementation === 'mmulab'", undefined, { timeout: 180_000 });
    await page.evaluate('Jupyter.notebook.clear_all_output(); Jupyter.notebook.execute_all_cells();');
    // The last code cell's result appears once every cell has run.
    await page.waitForFunction(`[...document.querySelectorAll('.output_result')].some((e) => e.textContent.includes("'still running'"))`, undefined, { timeout: 180_000 });
    const chart = page.locator('.output_svg svg.marks').first();
    await chart.waitFor({ state: 'visible' });
    expect(await chart.locator('path, rect').count()).toBeGreaterThan(0);
    const prompts = (await page.locator('.code_cell .input_prompt').allTextContents()).map((t) => t.replace(/\s/g, ''));
    expect(prompts).toEqual(['In[1]:', 'In[2]:', 'In[3]:', 'In[4]:', 'In[5]:', 'In[6]:', 'In[7]:', 'In[8]:']);
    expect(await page.locator('.output_error').first().textContent()).toContain('RangeError: boom 3');
    expect(await page.locator('.output_html table').count()).toBeGreaterThan(0);
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    await chart.scrollIntoViewIfNeeded();
    await page.screenshot({ path: path.join(ARTIFACTS, 'notebook-chart.png'), fullPage: true });
    expect(fs.statSync(path.join(ARTIFACTS, 'notebook-chart.png')).size).toBeGreaterThan(0);
    await page.close();
  });

  it('opens a freshly cloned, untrusted note with its chart as an image, not text', async () => {
    const page = await browser!.newPage({ viewport: { width: 1200, height: 900 } });
    await page.goto(`${base}/notebooks/walks.ipynb?token=${token}`);
    await page.waitForFunction('!!window.Jupyter?.notebook?._fully_loaded', undefined, { timeout: 180_000 });
    // Untrusted: the classic notebook shows neither saved SVG nor HTML, only safe types such as PNG.
    expect(await page.evaluate('Jupyter.notebook.trusted')).toBe(false);
    const img = page.locator('.output_png img').first();
    await img.waitFor({ state: 'visible' });
    const size = await img.evaluate((e) => {
      const i = e as unknown as { naturalWidth: number; naturalHeight: number };
      return [i.naturalWidth, i.naturalHeight];
    });
    expect(size[0]! * size[1]!).toBeGreaterThan(0);
    expect(await page.locator('.output_png img').count()).toBe(1);
    const texts = await page.locator('.output_text').allTextContents();
    expect(texts.filter((t) => t.includes('<VegaLite'))).toEqual([]);
    await page.close();
  });
});
