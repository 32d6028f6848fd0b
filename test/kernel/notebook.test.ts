/** Notebook format, validation errors, parameters and the check-mode diff (no kernel involved). */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { diffLines, notebookDiff } from '../../kernel/diff';
import { NotebookFormatError, parseNotebook, serializeNotebook, splitLines, writeFileAtomic, type Notebook } from '../../kernel/notebook';
import { injectParameters, parameterDecls, parameterLiteral, ParameterError, INJECTED_TAG } from '../../kernel/runner';
import { FIXTURES, tempDir } from './helpers';

describe('nbformat writing', () => {
  it('splits lines as Python str.splitlines(keepends=True)', () => {
    expect(splitLines('a\nb\r\nc\rd')).toEqual(['a\n', 'b\r\n', 'c\r', 'd']);
    expect(splitLines('x\n')).toEqual(['x\n']);
    expect(splitLines('')).toEqual([]);
    expect(splitLines('a\u2028b')).toEqual(['a\u2028', 'b']);
  });

  it('writes the fixtures byte for byte as read', () => {
    for (const f of ['basic.ipynb', 'params.ipynb']) {
      const text = fs.readFileSync(path.join(FIXTURES, f), 'utf8');
      expect(serializeNotebook(parseNotebook(text, f))).toBe(text);
    }
  });

  it('keeps JSON outputs as objects and splits text outputs into lines', () => {
    const nb: Notebook = {
      nbformat: 4,
      nbformat_minor: 4,
      metadata: {},
      cells: [{ cell_type: 'code', execution_count: 1, metadata: {}, source: 'x', outputs: [{ output_type: 'display_data', data: { 'text/plain': 'a\nb', 'application/vnd.vegalite.v5+json': { mark: 'bar' } }, metadata: {} }] }],
    };
    const json = JSON.parse(serializeNotebook(nb)) as { cells: { outputs: { data: Record<string, unknown> }[] }[] };
    expect(json.cells[0]!.outputs[0]!.data['text/plain']).toEqual(['a\n', 'b']);
    expect(json.cells[0]!.outputs[0]!.data['application/vnd.vegalite.v5+json']).toEqual({ mark: 'bar' });
  });

  it('replaces a file atomically and leaves no temp file', () => {
    const dir = tempDir('atomic');
    const file = path.join(dir, 'x.ipynb');
    fs.writeFileSync(file, 'old');
    writeFileAtomic(file, 'new');
    expect(fs.readFileSync(file, 'utf8')).toBe('new');
    expect(fs.readdirSync(dir)).toEqual(['x.ipynb']);
  });
});

describe('malformed notebooks', () => {
  const cases: [string, string, RegExp][] = [
    ['invalid JSON', '{"cells": [', /bad\.ipynb: invalid JSON/],
    ['not an object', '[1, 2]', /top level is not a JSON object/],
    ['nbformat 3', '{"nbformat": 3, "nbformat_minor": 0, "metadata": {}, "worksheets": []}', /unsupported nbformat 3/],
    ['cells not a list', '{"nbformat": 4, "nbformat_minor": 4, "metadata": {}, "cells": {}}', /"cells" must be a list/],
    ['unknown cell type', '{"nbformat": 4, "nbformat_minor": 4, "metadata": {}, "cells": [{"cell_type": "python", "source": "", "metadata": {}}]}', /cell 0: unknown cell_type "python"/],
    ['source of a wrong type', '{"nbformat": 4, "nbformat_minor": 4, "metadata": {}, "cells": [{"cell_type": "code", "source": 42, "metadata": {}}]}', /cell 0: "source" must be a string or a list of strings/],
    ['two parameters cells', '{"nbformat": 4, "nbformat_minor": 4, "metadata": {}, "cells": [{"cell_type": "code", "source": "", "metadata": {"tags": ["parameters"]}}, {"cell_type": "code", "source": "", "metadata": {"tags": ["parameters"]}}]}', /2 cells are tagged "parameters"/],
    ['an unknown output type', '{"nbformat": 4, "nbformat_minor": 4, "metadata": {}, "cells": [{"cell_type": "code", "source": "", "metadata": {}, "outputs": [{"output_type": "pyout"}]}]}', /cell 0, output 0: unknown output_type "pyout"/],
  ];
  for (const [what, text, message] of cases) {
    it(`names the file and the problem: ${what}`, () => {
      let err: unknown;
      try {
        parseNotebook(text, 'notebooks/bad.ipynb');
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(NotebookFormatError);
      expect((err as NotebookFormatError).file).toBe('notebooks/bad.ipynb');
      expect((err as Error).message).toMatch(/^notebooks\/bad\.ipynb: /);
      expect((err as Error).message).toMatch(message);
    });
  }
});

describe('parameters', () => {
  const nb = (): Notebook => parseNotebook(fs.readFileSync(path.join(FIXTURES, 'params.ipynb'), 'utf8'), 'params.ipynb');

  it('finds the declarations of the parameters cell, with keyword and type', () => {
    expect(parameterDecls("const levels: number = 4;\nlet label = 'x', n = 2n;")).toEqual([
      { name: 'levels', keyword: 'const', type: 'number' },
      { name: 'label', keyword: 'let' },
      { name: 'n', keyword: 'let' },
    ]);
  });

  it('turns command-line values into TypeScript literals', () => {
    expect(parameterLiteral('8')).toBe('8');
    expect(parameterLiteral('0x1000n')).toBe('0x1000n');
    expect(parameterLiteral('true')).toBe('true');
    expect(parameterLiteral('[1,2]')).toBe('[1,2]');
    expect(parameterLiteral('pae')).toBe('"pae"');
    expect(parameterLiteral('a "quoted" word')).toBe('"a \\"quoted\\" word"');
  });

  it('injects a tagged cell after the parameters cell, with the declared types', () => {
    const out = injectParameters(nb(), 'params.ipynb', { levels: '5' });
    const i = out.cells.findIndex((c) => (c.metadata.tags as string[] | undefined)?.includes(INJECTED_TAG));
    expect(i).toBe(2);
    expect(out.cells[i]!.source).toContain('const levels: number = 5;');
    // Run again with other values: the injected cell is replaced, not added.
    const again = injectParameters(out, 'params.ipynb', { label: 'pae' });
    expect(again.cells.filter((c) => (c.metadata.tags as string[] | undefined)?.includes(INJECTED_TAG))).toHaveLength(1);
    expect(again.cells[2]!.source).toContain('const label = "pae";');
    expect(injectParameters(again, 'params.ipynb', {}, true).cells).toHaveLength(nb().cells.length);
  });

  it('refuses unknown parameters and notebooks without a parameters cell', () => {
    expect(() => injectParameters(nb(), 'params.ipynb', { levls: '5' })).toThrow(ParameterError);
    expect(() => injectParameters(nb(), 'params.ipynb', { levls: '5' })).toThrow(/unknown parameter levls \(the parameters cell declares: levels, label\)/);
    const basic = parseNotebook(fs.readFileSync(path.join(FIXTURES, 'basic.ipynb'), 'utf8'), 'basic.ipynb');
    expect(() => injectParameters(basic, 'basic.ipynb', { x: '1' })).toThrow(/no cell is tagged "parameters"/);
  });
});

describe('check-mode diff', () => {
  it('shows removed and added lines with context', () => {
    expect(diffLines(['a', 'b', 'c'], ['a', 'x', 'c'])).toEqual(['  a', '- b', '+ x', '  c']);
  });

  it('reports nothing for identical notebooks and the changed output otherwise', () => {
    const text = fs.readFileSync(path.join(FIXTURES, 'params.ipynb'), 'utf8');
    const expected = parseNotebook(text, 'p');
    expect(notebookDiff(text, expected, parseNotebook(text, 'p'))).toBeUndefined();
    const actual = parseNotebook(text, 'p');
    const cell = actual.cells[2]!;
    if (cell.cell_type !== 'code') throw new Error('fixture changed');
    cell.execution_count = 2;
    cell.outputs = [{ output_type: 'execute_result', execution_count: 2, data: { 'text/plain': '8' }, metadata: {} }];
    const diff = notebookDiff(text, expected, actual)!;
    expect(diff).toContain('cell 2 (In [2]):');
    expect(diff).toContain('- execution_count: null');
    expect(diff).toContain('+ execution_count: 2');
    expect(diff).toContain('+     8');
  });
});
