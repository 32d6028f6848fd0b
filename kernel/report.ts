/**
 * A static HTML report of executed notebooks: an index and one page per notebook, with the SVG
 * charts inline (visible without JavaScript or a kernel). Deterministic: no clocks, relative links.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { claimSummary, notebookClaims, type NoteClaim } from './claims';
import { joinSource, writeFileAtomic, type Notebook, type Output } from './notebook';

const ANSI = /\x1b\[[0-9;?]*[ -/]*[@-~]/g;

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
}

type MarkdownRenderer = (src: string) => string;
let markdownRenderer: MarkdownRenderer | undefined;

/** Markdown through `marked` (GitHub-flavoured: tables, fenced code). */
function renderMarkdown(src: string): string {
  if (!markdownRenderer) {
    const { marked } = require('marked') as { marked: { parse(src: string, options: { async: false; gfm: boolean }): string } };
    markdownRenderer = (s) => marked.parse(s, { async: false, gfm: true });
  }
  return markdownRenderer(src);
}

const MIME_ORDER = ['image/svg+xml', 'image/png', 'image/jpeg', 'text/html', 'text/markdown', 'text/latex', 'application/json', 'text/plain'];

function str(v: unknown): string {
  return Array.isArray(v) ? v.join('') : typeof v === 'string' ? v : JSON.stringify(v, null, 1);
}

export function renderOutput(o: Output): string {
  switch (o.output_type) {
    case 'stream':
      return `<pre class="stream ${o.name}">${escapeHtml(joinSource(o.text).replace(ANSI, ''))}</pre>`;
    case 'error':
      return `<pre class="error">${escapeHtml(o.traceback.join('\n').replace(ANSI, '') || `${o.ename}: ${o.evalue}`)}</pre>`;
    case 'display_data':
    case 'execute_result': {
      const mime = MIME_ORDER.find((m) => o.data[m] !== undefined);
      if (!mime) return '';
      const v = o.data[mime];
      const body =
        mime === 'image/svg+xml' || mime === 'text/html'
          ? str(v)
          : mime === 'image/png' || mime === 'image/jpeg'
            ? `<img src="data:${mime};base64,${str(v).replace(/\s/g, '')}" alt="">`
            : mime === 'text/markdown'
              ? renderMarkdown(str(v))
              : `<pre>${escapeHtml(str(v).replace(ANSI, ''))}</pre>`;
      const prompt = o.output_type === 'execute_result' && o.execution_count !== null ? `<div class="prompt out">Out[${o.execution_count}]:</div>` : '<div class="prompt"></div>';
      return `<div class="output ${mime.replace(/[^a-z0-9]+/g, '-')}">${prompt}<div class="body">${body}</div></div>`;
    }
  }
}

export function notebookTitle(nb: Notebook, fallback: string): string {
  for (const c of nb.cells) {
    if (c.cell_type !== 'markdown') continue;
    const m = /^\s{0,3}#\s+(.+?)\s*#*\s*$/m.exec(joinSource(c.source));
    if (m) return m[1]!.replace(/[*_`]/g, '');
  }
  return fallback;
}

const STYLE = `
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#1d2125;line-height:1.5}
a{color:#1a5fb4}nav{margin-bottom:1.5em;font-size:.9em}
.cell{margin:.6em 0}.markdown{padding:0 .2em}
.code{display:grid;grid-template-columns:5.5em 1fr;gap:.4em}
.prompt{font-family:ui-monospace,monospace;font-size:.8em;color:#5c6773;text-align:right;padding-top:.4em}.prompt.out{color:#a33}
pre{margin:0;padding:.5em .7em;overflow-x:auto;font-size:.85em;background:#f6f8fa;border-radius:4px}
pre.source{border-left:3px solid #8aa4c8}pre.stderr{background:#fff5f5}pre.error{background:#fdecea;color:#7a1c14}
.outputs{grid-column:1/3}.output{display:grid;grid-template-columns:5.5em 1fr;gap:.4em;margin:.3em 0}.output .body{overflow-x:auto}
.outputs>pre{margin:.3em 0 .3em 5.9rem}
table{border-collapse:collapse;font-size:.85em}th,td{border:1px solid #d0d7de;padding:.2em .5em}th{background:#f0f3f6}
ul.notebooks li{margin:.3em 0}ul.claims{font-size:.9em;margin:.2em 0 .6em}ul.claims li{list-style:none;margin:.1em 0}li.fails{color:#a33}details.claims{margin:.5em 0 1em}.meta{color:#5c6773;font-size:.85em}
`;

function page(title: string, body: string, nav: string): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head>
<body>
${nav}
${body}
</body>
</html>
`;
}

/** A note's claims as a list: ✔ or ✘, the conclusion, and the numbers it was decided on. */
export function renderClaims(claims: readonly NoteClaim[]): string {
  if (!claims.length) return '<p class="meta">No claims.</p>';
  const items = claims.map(
    (c) => `<li class="${c.holds ? 'holds' : 'fails'}">${c.holds ? '✔' : '✘'} ${escapeHtml(c.text)}${c.values ? ` <span class="meta">${escapeHtml(c.values)}</span>` : ''}</li>`,
  );
  return `<ul class="claims">\n${items.join('\n')}\n</ul>`;
}

export function renderNotebookPage(nb: Notebook, name: string, failed = false): string {
  const parts: string[] = [];
  const claims = notebookClaims(nb);
  parts.push(`<details class="claims"><summary>Claims: ${escapeHtml(claimSummary(claims))}${failed ? ' (the note failed: later cells did not run)' : ''}</summary>\n${renderClaims(claims)}\n</details>`);
  const params = (nb.metadata.mmulab as { parameters?: Record<string, unknown> } | undefined)?.parameters;
  if (params && Object.keys(params).length) {
    const items = Object.entries(params).map(([k, v]) => `<code>${escapeHtml(k)} = ${escapeHtml(JSON.stringify(v))}</code>`);
    parts.push(`<p class="meta">Parameters: ${items.join(', ')}</p>`);
  }
  for (const c of nb.cells) {
    const src = joinSource(c.source);
    if (c.cell_type === 'markdown') parts.push(`<div class="cell markdown">${renderMarkdown(src)}</div>`);
    else if (c.cell_type === 'raw') parts.push(`<div class="cell raw"><pre>${escapeHtml(src)}</pre></div>`);
    else {
      const prompt = `<div class="prompt">In [${c.execution_count ?? ' '}]:</div>`;
      const outs = c.outputs.map(renderOutput).join('\n');
      parts.push(`<div class="cell code">${prompt}<pre class="source"><code>${escapeHtml(src)}</code></pre>${outs ? `<div class="outputs">${outs}</div>` : ''}</div>`);
    }
  }
  return page(notebookTitle(nb, name), parts.join('\n'), `<nav><a href="index.html">Design notes</a> / ${escapeHtml(name)}.ipynb</nav>`);
}

export interface ReportEntry {
  /** Notebook path relative to the project root, e.g. `notebooks/walks.ipynb`. */
  path: string;
  notebook: Notebook;
  /** The run failed: `notebook` holds the outputs up to the failed cell. */
  failed?: boolean;
}

function pageName(p: string): string {
  return path.basename(p, '.ipynb').replace(/[^A-Za-z0-9._-]+/g, '_');
}

/**
 * Writes `index.html` and one page per notebook into `dir`, and removes the pages of notebooks
 * that are no longer among `entries` (the report's folder holds nothing else); returns the files
 * written.
 */
export function writeReport(dir: string, entries: ReportEntry[]): string[] {
  fs.mkdirSync(dir, { recursive: true });
  const written: string[] = [];
  const keep = new Set(['index.html', ...entries.map((e) => `${pageName(e.path)}.html`)]);
  for (const f of fs.readdirSync(dir)) {
    if (f.endsWith('.html') && !keep.has(f)) fs.rmSync(path.join(dir, f));
  }
  const items: string[] = [];
  for (const e of [...entries].sort((a, b) => a.path.localeCompare(b.path))) {
    const name = pageName(e.path);
    const file = path.join(dir, `${name}.html`);
    writeFileAtomic(file, renderNotebookPage(e.notebook, name, e.failed));
    written.push(file);
    const claims = notebookClaims(e.notebook);
    const summary = `${claimSummary(claims)}${e.failed ? '; FAILED' : ''}`;
    items.push(
      `<li><a href="${escapeHtml(name)}.html">${escapeHtml(notebookTitle(e.notebook, name))}</a> <span class="meta">${escapeHtml(e.path)} · ${escapeHtml(summary)}</span>\n${renderClaims(claims)}</li>`,
    );
  }
  const body = `<h1>mmulab design notes</h1>\n${items.length ? `<ul class="notebooks">\n${items.join('\n')}\n</ul>` : '<p>No notebooks yet: add them under <code>notebooks/</code>.</p>'}`;
  const index = path.join(dir, 'index.html');
  writeFileAtomic(index, page('mmulab design notes', body, ''));
  written.push(index);
  return written;
}
