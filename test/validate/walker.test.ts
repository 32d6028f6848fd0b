/**
 * Bad input to the GVA walker's record and address entry points and the access helpers
 * (src/walker: gva-walker.ts, access.ts, walk-outcome.ts): addresses that are no u64 bigint or not
 * canonical, accesses of unknown kinds or with non-boolean flags, stop codes outside WalkStop,
 * records of another shape. Typed refusals naming the argument; the walker's last walk unchanged.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GuestMemory, GvaWalker, PageTableBuilder, longMode, gpa, encodeAccess, describeAccess, walkOutcome, DEFAULT_FEATURES, type Gva } from '../../src';
import { FC, Tally, badBigint, badBool, badEnum, junk, memFingerprint, refused } from './support';

const t = new Tally('walker');
const VA = 0x7f00_0000_0000n;
const mem = new GuestMemory({ maxPhyAddr: 46 });
mem.addSlot({ base: gpa(0n), size: 1n << 30n });
const b = new PageTableBuilder(mem, { mode: 'paging4', pool: { base: gpa(0x100_0000n), size: 0x10_0000n } });
b.map(VA, gpa(0x200_0000n), { count: 1, flags: { writable: true } });
const w = new GvaWalker(mem, longMode({ cr3: b.root }), DEFAULT_FEATURES);
const ok = w.walk(VA, { kind: 'read' });
const state = () => memFingerprint(mem) + `|${w.lastGfn}|${w.lastErrorCode}`;
const badAccess = fc.oneof(junk, fc.constantFrom({}, { kind: 'toString' }, { kind: 'read', user: 'yes' }, { kind: 'write', implicit: 1 }, { kind: 'read', ac: null }));

describe('GvaWalker.checkAddress / translate / recordLast', () => {
  it('addresses: u64 bigints, canonical for 4-level paging (SDM Vol. 3A 3.3.7.1)', () => {
    const bad = fc.oneof(badBigint({ numbersOk: true }), fc.constantFrom(0x0000_8000_0000_0000n, 0xfff0_0000_0000_0000n));
    fc.assert(fc.property(bad, (v) => {
      refused(t, () => w.checkAddress(v as bigint), { param: 'GVA', value: v, state });
      refused(t, () => w.translate(v as bigint, { kind: 'read' }), { param: 'GVA', value: v, state });
    }), FC);
    expect(w.translate(VA, { kind: 'read' })).toBe(0x200_0000n);
  });

  it('accesses: a known kind and boolean flags', () => {
    fc.assert(fc.property(badAccess, (v) => refused(t, () => w.translate(VA, v as never), { param: 'access', state })), FC);
  });

  it('constructor: pdpteRsvdFault a boolean', () => {
    const regs = longMode({ cr3: b.root });
    fc.assert(fc.property(badBool, (v) => refused(t, () => new GvaWalker(mem, regs, DEFAULT_FEATURES, undefined, '7.3', v as boolean), { param: 'pdpteRsvdFault', value: v, state })), FC);
  });

  it('constructor: ownPdpt a boolean, and only with pdpteRsvdFault (no PDPTE registers is SVM nested paging only)', () => {
    const regs = longMode({ cr3: b.root });
    fc.assert(fc.property(badBool, (v) => refused(t, () => new GvaWalker(mem, regs, DEFAULT_FEATURES, undefined, '7.3', true, v as boolean), { param: 'ownPdpt', value: v, state })), FC);
    refused(t, () => new GvaWalker(mem, regs, DEFAULT_FEATURES, undefined, '7.3', false, true), { param: 'ownPdpt', value: true, state });
  });

  it('recordLast: a WalkStop code (0..6), a u64 GVA, an access', () => {
    fc.assert(fc.property(fc.oneof(fc.constantFrom(-1, 7, 1.5, NaN, '0', 0n, null, undefined)), (v) => refused(t, () => w.recordLast(v as number, VA as Gva, { kind: 'read' }), { param: 'stop', value: v, state })), FC);
    fc.assert(fc.property(badBigint(), (v) => refused(t, () => w.recordLast(0, v as Gva, { kind: 'read' }), { param: 'address', value: v, state })), FC);
    fc.assert(fc.property(badAccess, (v) => refused(t, () => w.recordLast(0, VA as Gva, v as never), { param: 'access', state })), FC);
  });
});

describe('encodeAccess / describeAccess / walkOutcome', () => {
  it('encodeAccess and describeAccess: an object of a known kind, boolean flags, implicit is supervisor', () => {
    fc.assert(fc.property(junk, (v) => {
      refused(t, () => encodeAccess(v as never), { param: 'access' });
      refused(t, () => describeAccess(v as never), { param: 'access' });
    }), FC);
    fc.assert(fc.property(badEnum(['read', 'write', 'fetch']), (v) => {
      refused(t, () => encodeAccess({ kind: v as 'read' }), { param: 'access.kind', value: v });
      refused(t, () => describeAccess({ kind: v as 'read' }), { param: 'access.kind', value: v });
    }), FC);
    for (const k of ['user', 'implicit', 'ac']) {
      fc.assert(fc.property(badBool, (v) => refused(t, () => describeAccess({ kind: 'read', [k]: v }), { param: 'access', value: v })), { ...FC, numRuns: 10 });
    }
    // An implicit access (GDT/LDT/IDT/TSS) is a supervisor access (SDM Vol. 3A 4.6).
    refused(t, () => describeAccess({ kind: 'read', implicit: true, user: true }), { param: 'implicit' });
  });

  it('walkOutcome: a walk record; opts.where a boolean', () => {
    fc.assert(fc.property(fc.oneof(junk, fc.constantFrom({}, { status: 'fault' }, { status: 'toString' })), (v) => refused(t, () => walkOutcome(v as never), { param: 'r', value: v })), FC);
    fc.assert(fc.property(junk.filter((v) => v !== undefined && (typeof v !== 'object' || v === null || Array.isArray(v))), (v) => refused(t, () => walkOutcome(ok, v as never), { param: 'opts', value: v })), FC);
    fc.assert(fc.property(badBool, (v) => refused(t, () => walkOutcome(ok, { where: v as boolean }), { param: 'opts.where', value: v })), FC);
    expect(walkOutcome(ok)).toBe('ok');
  });
});
