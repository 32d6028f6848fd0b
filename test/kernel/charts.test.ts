/**
 * Charts render everywhere (issue 11, item 5), checked on every chart output of every design note:
 * - the PNG fallback is the server's SVG rasterized, byte for byte the same in this process as in
 *   the run that wrote the note (deterministic), and as large as the SVG;
 * - JupyterLab's own renderer (@jupyterlab/vega5-extension, bundled with esbuild, in headless
 *   Chromium) draws the spec with no console error, with the same plot size as the server's SVG
 *   (the spec declares vega-lite 5, which JupyterLab uses; the server compiles with vega-lite 6).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readNb, ROOT, src, tempDir } from './helpers';

const VEGALITE5 = 'application/vnd.vegalite.v5+json';
const CHROMIUM_FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

interface ChartOutput {
  note: string;
  index: number;
  spec: Record<string, unknown>;
  svg: string;
  png: string;
}

function noteCharts(): ChartOutput[] {
  const dir = path.join(ROOT, 'notebooks');
  const out: ChartOutput[] = [];
  for (const f of fs.readdirSync(dir).filter((f) => f.endsWith('.ipynb')).sort()) {
    let index = 0;
    for (const c of readNb(path.join(dir, f)).cells) {
      for (const o of c.outputs ?? []) {
        const spec = o.data?.[VEGALITE5];
        if (!spec) continue;
        out.push({ note: f, index: index++, spec: spec as Record<string, unknown>, svg: src(o.data!['image/svg+xml'] as string | string[]), png: src(o.data!['image/png'] as string | string[]) });
      }
    }
  }
  return out;
}

/** The plot area: the background of the root frame group (vega's SVG, server or browser). */
function plotFrame(svg: string): string | undefined {
  return /class="mark-group role-frame root"[^>]*><g transform="[^"]*"><path class="background"[^>]*\sd="([^"]+)"/.exec(svg)?.[1];
}

function svgSize(svg: string): [number, number] {
  const m = /^<svg[^>]*\swidth="(\d+)" height="(\d+)"/.exec(svg);
  return [Number(m![1]), Number(m![2])];
}

const charts = noteCharts();

describe('PNG fallback of every note chart', () => {
  it('the notes have charts, each with spec, SVG and PNG', () => {
    expect(charts.length).toBeGreaterThanOrEqual(10);
    for (const c of charts) expect([c.note, c.svg.startsWith('<svg'), c.png.length > 0]).toEqual([c.note, true, true]);
  });

  it('is the SVG rasterized, the same bytes as the run that wrote the note, at the SVG size', async () => {
    const { renderPng } = (await import(path.join(ROOT, 'dist', 'kernel', 'display.js'))) as { renderPng(svg: string): Buffer };
    for (const c of charts) {
      const png = renderPng(c.svg);
      expect(png.toString('base64'), `${c.note} chart ${c.index}`).toBe(c.png);
      // PNG IHDR: width and height, big-endian, at bytes 16 and 20.
      expect([png.readUInt32BE(16), png.readUInt32BE(20)], `${c.note} chart ${c.index}`).toEqual(svgSize(c.svg));
    }
  });

  it('draws text outside the Latin subset fonts with the full DejaVu Sans faces, Latin text alike with both', async () => {
    const { renderPng } = (await import(path.join(ROOT, 'dist', 'kernel', 'display.js'))) as { renderPng(svg: string): Buffer };
    const { Resvg } = (await import('@resvg/resvg-js')) as typeof import('@resvg/resvg-js');
    const dir = path.join(ROOT, 'node_modules', 'dejavu-fonts-ttf', 'ttf');
    const full = ['DejaVuSans', 'DejaVuSans-Bold', 'DejaVuSans-Oblique', 'DejaVuSans-BoldOblique'].map((f) => path.join(dir, `${f}.ttf`));
    const withFullFonts = (svg: string): Buffer =>
      new Resvg(svg, {
        font: { loadSystemFonts: false, fontFiles: full, defaultFontFamily: 'DejaVu Sans', sansSerifFamily: 'DejaVu Sans', serifFamily: 'DejaVu Sans', monospaceFamily: 'DejaVu Sans' },
        shapeRendering: 2,
        textRendering: 1,
        imageRendering: 0,
        logLevel: 'off',
      })
        .render()
        .asPng();
    const svg = (text: string): string => `<svg xmlns="http://www.w3.org/2000/svg" width="120" height="30"><text x="4" y="20" font-family="sans-serif" font-size="14">${text}</text></svg>`;
    // Cyrillic (not in the subsets), a character reference, and Latin with the subsets' punctuation.
    for (const text of ['Жёлтый', 'x &#1046;', 'PML4 – 5 × 2…']) expect(renderPng(svg(text)).equals(withFullFonts(svg(text))), text).toBe(true);
  });
});

describe("JupyterLab's vega5 renderer in headless Chromium", () => {
  let browser: Browser;
  let page: Page;
  const errors: string[] = [];

  beforeAll(async () => {
    const dir = tempDir('vega5');
    const bundle = path.join(dir, 'vega5.js');
    const esbuild = (await import('esbuild')) as typeof import('esbuild');
    // The renderer as JupyterLab registers it (rendererFactory), driven the way rendermime does.
    await esbuild.build({
      stdin: {
        contents: `import { rendererFactory } from '@jupyterlab/vega5-extension';
window.renderChart = async (mimeType, spec) => {
  const r = rendererFactory.createRenderer({ mimeType, sanitizer: { sanitize: (s) => s }, resolver: null, linkHandler: null, latexTypesetter: null });
  document.body.appendChild(r.node);
  await r.renderModel({ data: { [mimeType]: spec }, metadata: {}, trusted: false, setData: () => undefined });
  const canvas = r.node.querySelector('canvas');
  const ctx = canvas && canvas.getContext('2d');
  let inked = 0;
  if (ctx && canvas.width && canvas.height) {
    const px = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
    for (let i = 0; i < px.length; i += 4) if (px[i + 3] > 0 && (px[i] < 250 || px[i + 1] < 250 || px[i + 2] < 250)) inked++;
  }
  const svg = await r._result.view.toSVG();
  r.dispose();
  r.node.remove();
  return { canvas: !!canvas, width: canvas ? canvas.width : 0, height: canvas ? canvas.height : 0, inked, svg };
};`,
        resolveDir: ROOT,
        loader: 'js',
      },
      bundle: true,
      format: 'iife',
      platform: 'browser',
      outfile: bundle,
      logLevel: 'silent',
      define: { 'process.env.NODE_ENV': '"production"' },
    });
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: CHROMIUM_FLAGS });
    page = await browser.newPage();
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.setContent('<!DOCTYPE html><html><head><meta charset="utf-8"></head><body></body></html>');
    await page.addScriptTag({ path: bundle });
  });

  afterAll(async () => {
    await browser?.close();
  });

  it('draws every note chart, with no console error, at the plot size of the server SVG', async () => {
    for (const c of charts) {
      const r = (await page.evaluate(`window.renderChart(${JSON.stringify(VEGALITE5)}, ${JSON.stringify(c.spec)})`)) as { canvas: boolean; width: number; height: number; inked: number; svg: string };
      const what = `${c.note} chart ${c.index}`;
      expect(r.canvas, what).toBe(true);
      expect(r.width * r.height, what).toBeGreaterThan(0);
      expect(r.inked, what).toBeGreaterThan(100);
      expect(plotFrame(r.svg), what).toBeDefined();
      expect(plotFrame(r.svg), what).toBe(plotFrame(c.svg));
    }
    expect(errors).toEqual([]);
  });
});
