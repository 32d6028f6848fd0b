/**
 * Bad input to the nested walkers (src/nested: NgpaWalker, Walk2D, nestedExit, records): walker
 * configurations, nGPAs and GVAs of every kind, access descriptors, exit inputs, trace buffers.
 * Each refusal is typed and names the parameter and value; the L1 memory the walkers read (and
 * would set A/D bits in) is unchanged.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NgpaWalker, Walk2D, nestedExit, describeNestedExit, asNestedRecord, eptAccToRwx, InvalidArgumentError, type NgpaAccess, type Access } from '../../src';
import { twoDSetup, l1RegsFor, l2Regs, DATA_N, GVA } from '../nested/support';
import { FC, Tally, badBigint, badBool, badEnum, badInt, junk, memFingerprint, refused, refusedAny, refusedRule } from './support';

const t = new Tally('ngpa');
const RUNS = { ...FC, numRuns: 12 };
const junkDefined = junk.filter((v) => v !== undefined);
const DURING = ['none', 'paging-structure', 'final'];

function setups() {
  const e = twoDSetup('paging4', 'ept4', { ad: true });
  const n = twoDSetup('paging4', 'npt4');
  e.w2.walk(GVA, { kind: 'read', user: true });
  const state = () => memFingerprint(e.mem) + memFingerprint(n.mem);
  return { e, n, state };
}

/** Access descriptors that are not { kind: read|write|fetch, user?: boolean, during?, guestLinear? }. */
const badAccess = fc.oneof(
  junk,
  badEnum(['read', 'write', 'fetch']).map((kind) => ({ kind })),
  badBool.map((user) => ({ kind: 'read', user })),
  badEnum(DURING).map((during) => ({ kind: 'read', during })),
) as fc.Arbitrary<unknown>;
/** Not an Access { kind, user?, implicit?, ac? } (walker/access.ts). */
const badAccess2d = fc.oneof(junk, badEnum(['read', 'write', 'fetch']).map((kind) => ({ kind })), badBool.map((user) => ({ kind: 'read', user }))) as fc.Arbitrary<unknown>;

describe('NgpaWalker: construction', () => {
  it('ept / npt: memory, configuration object and its fields', () => {
    const { e, n, state } = setups();
    const eptp = e.w.eptp!;
    fc.assert(fc.property(junk, (v) => {
      refused(t, () => NgpaWalker.ept(v as never, { eptp }), { param: 'mem', state });
      refused(t, () => NgpaWalker.npt(v as never, { ncr3: n.w.ncr3!, l1: l1RegsFor(4) }), { param: 'mem', state });
      refused(t, () => NgpaWalker.ept(e.mem, v as never), { param: 'cfg', state });
      refused(t, () => NgpaWalker.npt(n.mem, v as never), { param: 'cfg', state });
    }), RUNS);
    // The EPTP is a 64-bit VMCS field (SDM Vol. 3C 25.6.11).
    fc.assert(fc.property(badBigint({ numbersOk: true }).filter((v) => typeof v !== 'number' || !Number.isSafeInteger(v)), (v) => refused(t, () => NgpaWalker.ept(e.mem, { eptp: v as bigint }), { param: 'eptp', value: v, state })), RUNS);
    fc.assert(fc.property(badBool, (v) => refused(t, () => NgpaWalker.ept(e.mem, { eptp, mbec: v as boolean }), { param: 'cfg.mbec', value: v, state })), RUNS);
    fc.assert(fc.property(junkDefined.filter((v) => typeof v !== 'function'), (v) => refused(t, () => NgpaWalker.ept(e.mem, { eptp, onWriteLogDirty: v as never }), { param: 'cfg.onWriteLogDirty', value: v, state })), RUNS);
    fc.assert(fc.property(badEnum(['6.16', '7.3']), (v) => refused(t, () => NgpaWalker.ept(e.mem, { eptp, kvm: v as never }), { param: 'kvm', value: v, state })), RUNS);
    // nCR3 is the 64-bit VMCB field N_CR3 (APM Vol. 2 15.25.4).
    fc.assert(fc.property(badBigint({ numbersOk: true }).filter((v) => typeof v !== 'bigint' && !(typeof v === 'number' && Number.isSafeInteger(v))), (v) => refused(t, () => NgpaWalker.npt(n.mem, { ncr3: v as bigint, l1: l1RegsFor(4) }), { param: 'cfg.ncr3', value: v, state })), RUNS);
    // Negative or >= 2^MAXPHYADDR: 'ncr3-beyond-maxphyaddr' (nested_vmcb_check_cr3_cr4 / kvm_vcpu_is_legal_cr3).
    fc.assert(fc.property(fc.oneof(fc.bigInt({ min: -(1n << 70n), max: -1n }), fc.bigInt({ min: 1n << 46n, max: 1n << 70n })), (v) => {
      refusedAny(t, () => NgpaWalker.npt(n.mem, { ncr3: v, l1: l1RegsFor(4) }), 'ncr3 range', state);
    }), RUNS);
    fc.assert(fc.property(junkDefined, (v) => refused(t, () => NgpaWalker.npt(n.mem, { ncr3: n.w.ncr3!, l1: v as never }), { param: 'l1', state })), RUNS);
    fc.assert(fc.property(badBool, (v) => refused(t, () => NgpaWalker.npt(n.mem, { ncr3: n.w.ncr3!, l1: l1RegsFor(4), gmet: v as boolean }), { param: 'cfg.gmet', value: v, state })), RUNS);
    fc.assert(fc.property(badInt(2, 5), (v) => refused(t, () => NgpaWalker.npt(n.mem, { ncr3: n.w.ncr3!, l1: l1RegsFor(4), level: v as number }), { param: 'cfg.level', value: v, state })), RUNS);
  });

  it('the private constructor: only the factories build walkers', () => {
    const { state } = setups();
    // @ts-expect-error the constructor is private; a JavaScript caller can still reach it
    fc.assert(fc.property(junk, (v) => refused(t, () => new NgpaWalker(v), { param: 'setup', state })), RUNS);
  });
});

describe('NgpaWalker: walks, records, buffers', () => {
  it('walk / translate / encodeAccess: access descriptors', () => {
    const { e, n, state } = setups();
    for (const w of [e.w, n.w]) {
      fc.assert(fc.property(badAccess, (v) => {
        refusedAny(t, () => w.walk(DATA_N, v as NgpaAccess), 'walk access', state);
        refusedAny(t, () => w.translate(DATA_N, v as NgpaAccess), 'translate access', state);
        refusedAny(t, () => w.encodeAccess(v as NgpaAccess), 'encodeAccess', state);
      }), RUNS);
      fc.assert(fc.property(junk, (v) => refused(t, () => w.walk(DATA_N, v as NgpaAccess), { param: 'access', state })), RUNS);
      // Qualification bits 11:9 only (0xe00; SDM Vol. 3C Table 28-7): 2^40 & ~0xe00 is 0 in 32-bit arithmetic.
      fc.assert(fc.property(fc.oneof(badInt(0, 0xe00), fc.constantFrom(1, 8, 0x1000, 2 ** 40, -0x200)), (v) => refused(t, () => e.w.encodeAccess({ kind: 'read', during: 'final', guestLinear: v as number }), { param: 'guestLinear', state })), RUNS);
    }
  });

  it('walk / translate / checkAddress / lastRecord: nGPAs', () => {
    const { e, n, state } = setups();
    for (const w of [e.w, n.w]) {
      fc.assert(fc.property(fc.oneof(badBigint({ numbersOk: true }), fc.constant(1n << 48n)), (v) => {
        refusedAny(t, () => w.checkAddress(v as bigint), 'checkAddress', state);
        refusedAny(t, () => w.walk(v as bigint, { kind: 'read' }), 'walk', state);
        refusedAny(t, () => w.translate(v as bigint, { kind: 'read' }), 'translate', state);
      }), RUNS);
      fc.assert(fc.property(badBigint(), (v) => refused(t, () => w.lastRecord(v as never, 'final'), { param: 'address', value: v, state })), RUNS);
    }
    fc.assert(fc.property(badEnum(DURING), (v) => refused(t, () => e.w.lastRecord(DATA_N as never, v as 'final'), { param: 'during', value: v, state })), RUNS);
    fc.assert(fc.property(badBigint(), (v) => refused(t, () => e.w.lastRecord(DATA_N as never, 'final', v as never), { param: 'gva', value: v, state })), RUNS);
    fc.assert(fc.property(fc.oneof(badInt(0, 0xe00), fc.constantFrom(1, 8, 0x1000, 2 ** 40, -0x200)), (v) => refused(t, () => e.w.lastRecord(DATA_N as never, 'final', undefined, v as number), { param: 'guestLinear', value: v, state })), RUNS);
  });

  it('appendLastEntries: an array to append to', () => {
    const { e, state } = setups();
    fc.assert(fc.property(junk.filter((v) => !Array.isArray(v)), (v) => refused(t, () => e.w.appendLastEntries(v as never), { param: 'out', value: v, state })), RUNS);
    fc.assert(fc.property(fc.constantFrom(Object.freeze([]) as unknown), (v) => {
      refusedAny(t, () => e.w.appendLastEntries(v as never), 'frozen out', state);
    }), { ...FC, numRuns: 1 });
  });

  it('eptAccToRwx: an ACC value (4 bits in 7.3, kvm-7x.md §1.1)', () => {
    fc.assert(fc.property(badInt(0, 15), (v) => refused(t, () => eptAccToRwx(v as number), { param: 'acc', value: v })), FC);
  });
});

describe('Walk2D and nested exits', () => {
  it('new Walk2D: the nested walker and the L2 options', () => {
    const { e, state } = setups();
    fc.assert(fc.property(junk, (v) => refused(t, () => new Walk2D(v as never, { regs: l2Regs('paging4', e.l2b!.root) }), { param: 'nested', state })), RUNS);
    fc.assert(fc.property(junk, (v) => refused(t, () => new Walk2D(e.w, v as never), { param: 'opts', state })), RUNS);
    fc.assert(fc.property(junk, (v) => refused(t, () => new Walk2D(e.w, { regs: v as never }), { param: 'regs', state })), RUNS);
  });

  it('walk / translate / checkAddress: GVAs and accesses', () => {
    const { e, state } = setups();
    fc.assert(fc.property(fc.oneof(badBigint({ numbersOk: true }), fc.constant(1n << 47n)), (v) => {
      refusedAny(t, () => e.w2.checkAddress(v as bigint), 'checkAddress', state);
      refusedAny(t, () => e.w2.walk(v as bigint, { kind: 'read', user: true }), 'walk', state);
      refusedAny(t, () => e.w2.translate(v as bigint, { kind: 'read', user: true }), 'translate', state);
    }), RUNS);
    fc.assert(fc.property(badAccess2d, (v) => {
      refusedAny(t, () => e.w2.walk(GVA, v as Access), 'walk access', state);
      refusedAny(t, () => e.w2.translate(GVA, v as Access), 'translate access', state);
    }), RUNS);
  });

  it('nestedExit / describeNestedExit / asNestedRecord: exit inputs and records', () => {
    const ok = { tdp: 'ept' as const, errorCode: 0, pfec: 0, rwx: 0, address: 0x1000n as never, during: 'final' as const };
    fc.assert(fc.property(junk, (v) => {
      refused(t, () => nestedExit(v as never), { param: 'i' });
      refused(t, () => describeNestedExit(v as never), { param: 'e' });
    }), RUNS);
    fc.assert(fc.property(badEnum(['ept', 'npt']), (v) => refused(t, () => nestedExit({ ...ok, tdp: v as 'ept' }), { param: 'i.tdp', value: v })), RUNS);
    fc.assert(fc.property(badInt(0, 0xffff_ffff), (v) => refused(t, () => nestedExit({ ...ok, errorCode: v as number }), { param: 'i.errorCode', value: v })), RUNS);
    fc.assert(fc.property(badInt(0, 0xffff_ffff), (v) => refused(t, () => nestedExit({ ...ok, pfec: v as number }), { param: 'i.pfec', value: v })), RUNS);
    // EPT_VIOLATION_RWX bits 2:0 (vmx.h).
    fc.assert(fc.property(badInt(0, 7), (v) => refused(t, () => nestedExit({ ...ok, rwx: v as number }), { param: 'i.rwx', value: v })), RUNS);
    fc.assert(fc.property(badBigint(), (v) => refused(t, () => nestedExit({ ...ok, address: v as never }), { param: 'i.address', value: v })), RUNS);
    fc.assert(fc.property(badEnum(DURING), (v) => refused(t, () => nestedExit({ ...ok, during: v as 'final' }), { param: 'i.during', value: v })), RUNS);
    fc.assert(fc.property(badBigint(), (v) => refused(t, () => nestedExit({ ...ok, gva: v as never }), { param: 'i.gva', value: v })), RUNS);
    fc.assert(fc.property(fc.oneof(junkDefined, fc.constant({ acc: 0, mbec: 'no' })), (v) => refused(t, () => nestedExit({ ...ok, v73: v as never }), { param: 'i.v73' })), RUNS);
    fc.assert(fc.property(fc.constantFrom({ kind: 'toString' }, { kind: 'npf' }, { kind: 'ept-violation', guestPhysicalAddress: 5 }), (v) => refused(t, () => describeNestedExit(v as never), { param: 'e' })), RUNS);
    fc.assert(fc.property(junk.filter((v) => typeof v !== 'object' || v === null), (v) => refused(t, () => asNestedRecord(v as never), { param: 'o', value: v })), RUNS);
  });
});

describe('nested checks: rules, and the values they let through', () => {
  it('refusals carry their rule', () => {
    const { e, n, state } = setups();
    const r = (call: () => unknown, rule: string) => refusedRule(t, call, InvalidArgumentError, rule, state);
    r(() => NgpaWalker.ept({} as never, { eptp: e.w.eptp! }), 'guest-memory');
    r(() => NgpaWalker.ept(e.mem, { eptp: 'x' as never }), 'bigint-type');
    r(() => NgpaWalker.npt(n.mem, { ncr3: 1.5 as never, l1: l1RegsFor(4) }), 'bigint-type');
    r(() => NgpaWalker.ept(e.mem, { eptp: e.w.eptp!, onWriteLogDirty: 1 as never }), 'function-type');
    r(() => NgpaWalker.npt(n.mem, { ncr3: n.w.ncr3!, l1: l1RegsFor(4), level: 6 }), 'integer-range');
    r(() => e.w.walk(DATA_N, { kind: 'read', user: 'yes' as never }), 'boolean-type');
    r(() => e.w.lastRecord(DATA_N as never, 'final', undefined, 0x1000), 'guest-linear-bits');
    r(() => nestedExit({ tdp: 'ept', errorCode: 0, pfec: 0, rwx: 8, address: 0n as never, during: 'final' }), 'integer-range');
    r(() => describeNestedExit({ kind: 'npf', exitInfo2: 0n, exitInfo1: 0, exitInfo1Text: 5 } as never), 'string-type');
    r(() => describeNestedExit({ kind: 'ept-violation', guestPhysicalAddress: 0n, qualification: 0, qualificationText: 5 } as never), 'string-type');
    r(() => describeNestedExit({ kind: 'npf', exitInfo2: 0n, exitInfo1: -1, exitInfo1Text: '' } as never), 'integer-range');
    r(() => describeNestedExit({ kind: 'ept-misconfig', guestPhysicalAddress: 'x' } as never), 'bigint-type');
  });

  it('good values pass: factory options, exits of every kind, descriptions', () => {
    const { e, n } = setups();
    const logged: bigint[] = [];
    // Every optional field given with a good value: the walkers are built (nested_vmx_check_eptp / nested_vmcb_check_cr3_cr4 pass).
    expect(NgpaWalker.ept(e.mem, { eptp: e.w.eptp!, caps: e.w.eptCaps!, onWriteLogDirty: (p) => logged.push(p as bigint), kvm: '7.3', mbec: false }).levels).toBe(4);
    expect(NgpaWalker.npt(n.mem, { ncr3: n.w.ncr3!, l1: l1RegsFor(4), features: { ...n.w2.features }, level: 4, kvm: '7.3', gmet: false }).levels).toBe(4);
    const base = { errorCode: 0, pfec: 2, rwx: 1, address: 0x1000n as never, during: 'final' as const };
    const v = nestedExit({ ...base, tdp: 'ept', gva: 0x40_0000n as never, v73: { acc: 7, mbec: true, guestLinear: 0x200 } });
    expect(v.kind).toBe('ept-violation');
    // EPT_VIOLATION_GVA_USER (bit 9) copied from the real exit for a final translation (7.3, a0efd8cb221f).
    expect(v.kind === 'ept-violation' && (v.qualification & 0x200) !== 0).toBe(true);
    // PFERR_RSVD (bit 3): an EPT misconfiguration (exit 49).
    const m = nestedExit({ ...base, tdp: 'ept', errorCode: 8 });
    expect(m.kind).toBe('ept-misconfig');
    const f = nestedExit({ ...base, tdp: 'npt' });
    expect(f.kind).toBe('npf');
    expect(describeNestedExit(v)).toContain('EPT violation (exit 48)');
    expect(describeNestedExit(m)).toContain('EPT misconfiguration (exit 49)');
    expect(describeNestedExit(f)).toContain('NPF (exit 0x400)');
    expect(e.w.lastRecord(DATA_N as never, 'final', 0x40_0000n as never, 0xe00).address).toBe(DATA_N);
  });
});
