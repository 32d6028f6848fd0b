/**
 * Claims make a note's conclusions executable (issue 14, items 1–2): a claim that holds is
 * counted and listed in the report; a false claim fails `notes --check`; and a mutated engine
 * (the unsync rule of the shadow MMU swapped for "never unsync", in a temporary copy of the
 * built engine) makes a design note's claim fail.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { copyFixture, mutatedRoot, notesCli, ROOT, tempDir } from './helpers';

describe('claims in notes', () => {
  it('a note whose claims hold is up to date, with its claims counted and listed in the report', async () => {
    const dir = tempDir('claims-hold');
    const file = copyFixture('claims-hold.ipynb', dir);
    const check = await notesCli(['--check', file, '--no-report']);
    expect(check.code, check.stderr).toBe(0);
    expect(check.stderr).toContain('up to date (1 cells, 2 claims hold,');
    const report = path.join(dir, 'report');
    const r = await notesCli([file, '--report', report]);
    expect(r.code, r.stderr).toBe(0);
    const index = fs.readFileSync(path.join(report, 'index.html'), 'utf8');
    expect(index).toContain('2 claims hold');
    expect(index).toContain('✔ a is smaller than b <span class="meta">a = 3, b = 1,024</span>');
    expect(fs.readFileSync(path.join(report, 'claims-hold.html'), 'utf8')).toContain('<summary>Claims: 2 claims hold</summary>');
  });

  it('a false claim fails notes --check, naming the claim and the numbers it was decided on', async () => {
    const dir = tempDir('claims-fail');
    const file = copyFixture('claims-fail.ipynb', dir);
    const before = fs.readFileSync(file, 'utf8');
    const r = await notesCli(['--check', file, '--no-report']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('claim failed (cell 1): shadow pays fewer exits than TDP [shadow = 283, tdp = 175]');
    expect(r.stderr).toContain('ClaimFailed: claim does not hold: shadow pays fewer exits than TDP (value shadow = 283, tdp = 175; rule: claim)');
    expect(fs.readFileSync(file, 'utf8')).toBe(before);
  });

  it('a false claim fails the run even where errors are allowed, and the report marks it', async () => {
    const dir = tempDir('claims-fail-allowed');
    const file = copyFixture('claims-fail.ipynb', dir);
    const report = path.join(dir, 'report');
    const r = await notesCli([file, '--allow-errors', '--report', report]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('1 claim holds, 1 fails');
    expect(fs.readFileSync(path.join(report, 'index.html'), 'utf8')).toContain('✘ shadow pays fewer exits than TDP <span class="meta">shadow = 283, tdp = 175</span>');
  });
});

describe('a mutated engine fails a design note', () => {
  // Where KVM would let a shadowed level-1 page go unsync (`mmu.c: mmu_try_to_unsync_pages` →
  // kvm_unsync_page), the mutant keeps it write-protected instead, so every guest write to it is
  // emulated: as if the unsync optimisation did not exist.
  const neverUnsync = { file: 'shadow/unsync.js', from: 'kvmUnsyncPageUnchecked(mmu, sp, vcpu);', to: 'return true; // mutant: never unsync' };

  it('note 07 is up to date on the real engine and fails a claim on the mutant', { timeout: 600_000 }, async () => {
    const real = await notesCli(['--check', '--no-report', path.join(ROOT, 'notebooks', '07-shadow-paging.ipynb')]);
    expect(real.code, real.stderr).toBe(0);
    const dir = mutatedRoot('claims-mutant', '07-shadow-paging.ipynb', neverUnsync);
    const r = await notesCli(['--check', '--no-report', '--root', dir, path.join(dir, 'notebooks', '07-shadow-paging.ipynb')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("claim failed (cell 5): the fork's level-1 PTE rewrites went unsync: no page-table write was emulated [unsyncs = 0,");
  });
});
