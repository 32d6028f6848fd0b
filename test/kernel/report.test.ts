/**
 * The HTML report stays whole (issue 11, item 6): a run over some notebooks updates their pages
 * and keeps the index listing all; the page of a deleted notebook goes; a refused run (a bad `-p`
 * value) writes nothing at all, report included. Every run writes into a temporary folder.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { copyFixture, notebookOf, notesCli, tempDir, writeNb } from './helpers';

function snapshot(dir: string): Record<string, string> {
  if (!fs.existsSync(dir)) return {};
  return Object.fromEntries(fs.readdirSync(dir).sort().map((f) => [f, fs.readFileSync(path.join(dir, f), 'utf8')]));
}

function indexLinks(report: string): string[] {
  return [...fs.readFileSync(path.join(report, 'index.html'), 'utf8').matchAll(/<a href="([^"]+)\.html">/g)].map((m) => m[1]!);
}

describe('report of a partial run', () => {
  let dir: string;
  let report: string;

  beforeAll(async () => {
    dir = tempDir('report-partial');
    report = path.join(dir, 'report');
    writeNb(path.join(dir, 'a.ipynb'), notebookOf(["console.log('a says one')"]));
    writeNb(path.join(dir, 'b.ipynb'), notebookOf(["console.log('b says one')"]));
    const r = await notesCli([dir, '--report', report]);
    expect(r.code, r.stderr).toBe(0);
  });

  it('a run over one notebook updates its page and keeps the index listing all', async () => {
    expect(indexLinks(report)).toEqual(['a', 'b']);
    const bPage = fs.readFileSync(path.join(report, 'b.html'), 'utf8');
    writeNb(path.join(dir, 'a.ipynb'), notebookOf(["console.log('a says two')"]));
    const r = await notesCli([path.join(dir, 'a.ipynb'), '--report', report]);
    expect(r.code, r.stderr).toBe(0);
    expect(indexLinks(report)).toEqual(['a', 'b']);
    expect(fs.readFileSync(path.join(report, 'a.html'), 'utf8')).toContain('a says two');
    expect(fs.readFileSync(path.join(report, 'b.html'), 'utf8')).toBe(bPage);
  });

  it('the page of a deleted notebook goes', async () => {
    fs.rmSync(path.join(dir, 'b.ipynb'));
    const r = await notesCli([path.join(dir, 'a.ipynb'), '--report', report]);
    expect(r.code, r.stderr).toBe(0);
    expect(indexLinks(report)).toEqual(['a']);
    expect(fs.readdirSync(report).sort()).toEqual(['a.html', 'index.html']);
  });
});

describe('a refused run', () => {
  it('an ill-typed -p value writes nothing: no notebook, no report (neither a new one nor over an old one)', async () => {
    const dir = tempDir('report-refused');
    const file = copyFixture('params.ipynb', dir);
    const other = path.join(dir, 'other.ipynb');
    writeNb(other, notebookOf(['const levels = 4;\nlevels']));
    const report = path.join(dir, 'report');
    expect((await notesCli([dir, '--report', report])).code).toBe(0);
    const before = { report: snapshot(report), file: fs.readFileSync(file, 'utf8'), other: fs.readFileSync(other, 'utf8') };

    // levels is declared `number` in the fixture's parameters cell.
    const refused = await notesCli([file, '-p', 'levels=many', '--report', report]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain("ParameterError: ");
    expect(refused.stderr).toContain("a -p value does not fit its parameter: CompileError: TS2322: Type 'string' is not assignable to type 'number'.");
    expect(refused.stderr).toContain('nothing was written');
    expect(snapshot(report)).toEqual(before.report);
    expect(fs.readFileSync(file, 'utf8')).toBe(before.file);

    const fresh = path.join(dir, 'fresh-report');
    const again = await notesCli([dir, '-p', 'levels=many', '--report', fresh]);
    expect(again.code).toBe(2);
    expect(fs.existsSync(fresh)).toBe(false);
    expect(fs.readFileSync(other, 'utf8')).toBe(before.other);
  });

  it('an unknown parameter writes nothing either', async () => {
    const dir = tempDir('report-unknown');
    const file = copyFixture('params.ipynb', dir);
    const report = path.join(dir, 'report');
    const r = await notesCli([file, '-p', 'level=6', '--report', report]);
    expect(r.code).toBe(2);
    expect(fs.existsSync(report)).toBe(false);
  });
});
