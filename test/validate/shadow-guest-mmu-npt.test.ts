/**
 * Bad input to guest_mmu with nested NPT (src/shadow/guest-mmu-npt.ts, NestedNptMmu): the owner,
 * the VMRUN entry (nCR3 a bigint, L1's and L2's registers typed), the exit reason, L2 addresses
 * that are no u64, an access before any VMRUN. Refusals name parameter and value; nothing changes.
 */
import fc from 'fast-check';
import { describe, it } from 'vitest';
import { InvalidArgumentError, NestedNptMmu, type NestedNptEntry } from '../../src';
import { nestedNpt } from '../shadow/nested-npt-fixture';
import { FC, Tally, badBigint, badEnum, badInt, junk, refused, refusedRule, vmFingerprint } from './support';

const t = new Tally('shadow-guest-mmu-npt');

function entered() {
  const f = nestedNpt({ kvm: '6.16' });
  f.enter();
  f.v.read(0x40_0000n);
  const g = f.v.nestedNpt!;
  const state = () => vmFingerprint(f.vm) + JSON.stringify([g.active, g.ctx?.root.hpa]);
  return { f, g, state };
}

describe('NestedNptMmu', () => {
  it('constructor: a VM with a shadow MMU, an index, counters', () => {
    const { f, state } = entered();
    fc.assert(fc.property(fc.oneof(junk, fc.constant({ shadow: {} })), (v) => refused(t, () => new NestedNptMmu(v as never, 0, f.v.stats), { param: 'vm', state })), FC);
    fc.assert(fc.property(fc.oneof(badInt(0, 4095), fc.constant(4096)), (v) => refused(t, () => new NestedNptMmu(f.vm as never, v as number, f.v.stats), { param: 'index', value: v, state })), FC);
    fc.assert(fc.property(junk, (v) => refused(t, () => new NestedNptMmu(f.vm as never, 0, v as never), { param: 'stats', state })), FC);
  });

  it('enter / exit: entry and reason', () => {
    const { f, g, state } = entered();
    const e: NestedNptEntry = { ncr3: f.ncr3, l1: { ...f.l1Regs, cr3: f.l1pt.root }, l2: { ...f.v.regs } };
    for (const v of [null, 5, 'entry']) refused(t, () => g.enter(v as never), { param: 'entry', value: v, state });
    fc.assert(fc.property(badBigint().filter((v) => typeof v !== 'bigint'), (v) => refused(t, () => g.enter({ ...e, ncr3: v as bigint }), { param: 'entry.ncr3', value: v, state })), FC);
    fc.assert(fc.property(fc.oneof(junk, fc.constant({ cr0: 1 })), (v) => {
      refused(t, () => g.enter({ ...e, l1: v as never }), { param: 'entry.l1', state });
      refused(t, () => g.enter({ ...e, l2: v as never }), { param: 'entry.l2', state });
    }), FC);
    for (const v of [null, 5, {}]) refused(t, () => g.exit(v as never), { param: 'why', value: v, state });
  });

  it('access: an L2 address that is a u64; no access before the first VMRUN', () => {
    const { f, g, state } = entered();
    fc.assert(fc.property(badBigint({ numbersOk: true }), (v) => refused(t, () => g.access(v as bigint, { kind: 'read' }), { param: 'address', value: v, state })), FC);
    const fresh = new NestedNptMmu(f.vm as never, 1, f.v.stats);
    refusedRule(t, () => fresh.access(0x1000n, { kind: 'read' }), InvalidArgumentError, 'nested-not-entered', state);
  });

  it('writeL2Registers: L2\'s registers typed, the PDPTE source one of three; not before an entry', () => {
    const { f, g, state } = entered();
    const regs = { ...g.l2Regs! };
    const st = () => state() + String(g.l2Regs?.cr0) + String(g.l2Regs?.cr3) + String(g.l2Regs?.cr4);
    fc.assert(fc.property(fc.oneof(junk, fc.constant({ cr0: 1 })), (v) => refused(t, () => g.writeL2Registers(v as never, 'keep'), { param: 'regs', state: st })), FC);
    fc.assert(fc.property(badEnum(['keep', 'mov-cr3', 'load-pdptrs']), (v) => refused(t, () => g.writeL2Registers(regs, v as 'keep'), { param: 'pdptes', value: v, state: st })), FC);
    const fresh = new NestedNptMmu(f.vm as never, 1, f.v.stats);
    refusedRule(t, () => fresh.writeL2Registers(regs, 'keep'), InvalidArgumentError, 'nested-not-entered', st);
  });
});
