import { describe, expect, it } from 'vitest';
import {
  NgpaWalker, Walk2D, makeEptp, decodeEptp, eptCapsFromMsr, eptCapsToMsr, refs2d, DEFAULT_EPT_CAPS, DEFAULT_FEATURES, CR0, CR4, EFER, EPT_CAP_BIT,
  InvalidRegisterStateError, InvalidArgumentError, GpaOutsideMemoryError, NonCanonicalAddressError, MmulabError,
} from '../../src';
import { eptSetup, nptSetup, l1Mem, l1RegsFor, l2Regs, twoDSetup, snapshot, NESTED_POOL, L2_POOL, GVA, LM } from './support';

/** Expect a typed error with this rule. */
function rule(f: () => unknown, cls: typeof MmulabError, r: string): void {
  let err: unknown;
  try {
    f();
  } catch (e) {
    err = e;
  }
  expect(err, `expected ${cls.name} (${r})`).toBeInstanceOf(cls);
  expect((err as MmulabError).rule).toBe(r);
}

describe('EPTP12 checks (nested_vmx_check_eptp): the nested VM entry would fail', () => {
  const mem = l1Mem();
  const root = 0x100_0000n;
  const caps = DEFAULT_EPT_CAPS;
  it.each([
    ['PWL 2 (3-level)', root | 0x10n | 6n, 'eptp-pwl'],
    ['PWL 5 encoding 0x28', root | 0x28n | 6n, 'eptp-pwl'],
    ['PWL 7', root | 0x38n | 6n, 'eptp-pwl'],
    ['PWL 0', root | 6n, 'eptp-pwl'],
    ['reserved bit 7', root | 0x18n | 6n | 0x80n, 'eptp-reserved'],
    ['reserved bit 11', root | 0x18n | 6n | 0x800n, 'eptp-reserved'],
    ['memory type 1 (WC)', root | 0x18n | 1n, 'eptp-memtype'],
    ['memory type 7', root | 0x18n | 7n, 'eptp-memtype'],
    ['memory type UC without the capability', root | 0x18n, 'eptp-memtype-uc-unsupported'],
    ['root beyond MAXPHYADDR 46', (1n << 46n) | 0x18n | 6n, 'eptp-beyond-maxphyaddr'],
    ['wider than 64 bits', 1n << 64n, 'eptp-width'],
  ])('%s', (_n, eptp, r) => {
    rule(() => NgpaWalker.ept(mem, { eptp, caps }), InvalidRegisterStateError, r);
  });

  it('capabilities gate PWL 4/5, WB/UC and A/D', () => {
    rule(() => NgpaWalker.ept(mem, { eptp: makeEptp({ root, level: 5 }), caps: { ...caps, pageWalk5: false } }), InvalidRegisterStateError, 'eptp-pwl5-unsupported');
    rule(() => NgpaWalker.ept(mem, { eptp: makeEptp({ root, level: 4 }), caps: { ...caps, pageWalk4: false } }), InvalidRegisterStateError, 'eptp-pwl4-unsupported');
    rule(() => NgpaWalker.ept(mem, { eptp: makeEptp({ root }), caps: { ...caps, wb: false } }), InvalidRegisterStateError, 'eptp-memtype-wb-unsupported');
    rule(() => NgpaWalker.ept(mem, { eptp: makeEptp({ root, adEnabled: true }), caps: { ...caps, accessedDirty: false } }), InvalidRegisterStateError, 'eptp-ad-unsupported');
    expect(NgpaWalker.ept(mem, { eptp: makeEptp({ root, memType: 0 }), caps: { ...caps, uc: true } }).levels).toBe(4);
    rule(() => makeEptp({ root: root | 0x10n }), InvalidRegisterStateError, 'eptp-root-alignment');
    expect(decodeEptp(makeEptp({ root, level: 5, adEnabled: true }), caps, 46)).toEqual({ level: 5, adEnabled: true, memType: 6, root });
  });

  it('the capability MSR round-trips and names its bits', () => {
    const msr = eptCapsToMsr(DEFAULT_EPT_CAPS);
    expect(eptCapsFromMsr(msr)).toEqual(DEFAULT_EPT_CAPS);
    expect((msr >> BigInt(EPT_CAP_BIT.PAGE_WALK_5)) & 1n).toBe(1n);
    rule(() => eptCapsFromMsr(-1n), InvalidArgumentError, 'ept-cap-msr');
  });
});

describe('NPT12 configurations L1 cannot have', () => {
  it('an NPT12 level other than L1\'s own paging mode', () => {
    const mem = l1Mem();
    rule(() => NgpaWalker.npt(mem, { ncr3: 0x100_0000n, l1: l1RegsFor(4), level: 5 }), InvalidRegisterStateError, 'npt-level-vs-l1-mode');
    rule(() => NgpaWalker.npt(mem, { ncr3: 0x100_0000n, l1: l1RegsFor(3), level: 4 }), InvalidRegisterStateError, 'npt-level-vs-l1-mode');
    rule(() => NgpaWalker.npt(mem, { ncr3: 0x100_0000n, l1: l1RegsFor(2), level: 3 }), InvalidRegisterStateError, 'npt-level-vs-l1-mode');
    expect(NgpaWalker.npt(mem, { ncr3: 0x100_0000n, l1: l1RegsFor(5), level: 5 }).levels).toBe(5);
  });

  it('no EFER.SVME, impossible L1 registers, bad nCR3, MAXPHYADDR mismatch', () => {
    const mem = l1Mem();
    rule(() => NgpaWalker.npt(mem, { ncr3: 0x100_0000n, l1: { ...l1RegsFor(4), efer: LM | EFER.NXE } }), InvalidRegisterStateError, 'npt-needs-svme');
    rule(() => NgpaWalker.npt(mem, { ncr3: 0x100_0000n, l1: { cr0: CR0.PE | CR0.PG, cr3: 0n, cr4: 0n, efer: LM | EFER.SVME } }), InvalidRegisterStateError, 'long-mode-without-pae');
    rule(() => NgpaWalker.npt(mem, { ncr3: 1n << 46n, l1: l1RegsFor(4) }), InvalidRegisterStateError, 'ncr3-beyond-maxphyaddr');
    rule(() => NgpaWalker.npt(mem, { ncr3: 0x1_0000_0000n, l1: l1RegsFor(3) }), InvalidRegisterStateError, 'ncr3-32-bit');
    rule(() => NgpaWalker.npt(mem, { ncr3: 0x100_0000n, l1: l1RegsFor(4), features: { ...DEFAULT_FEATURES, maxPhyAddr: 40 } }), InvalidRegisterStateError, 'maxphyaddr-mismatch');
    rule(() => NgpaWalker.npt(mem, { ncr3: 0x100_0000n, l1: { ...l1RegsFor(5) }, features: { ...DEFAULT_FEATURES, la57: false } }), InvalidRegisterStateError, 'cr4-la57-unsupported');
  });
});

describe('bad walks are refused before anything changes', () => {
  it('nGPA beyond what the nested tables translate, bad accesses', () => {
    for (const [s, width] of [[eptSetup({ ad: true }), 48n], [eptSetup({ level: 5, ad: true }), 52n], [nptSetup({ level: 3 }), 32n], [nptSetup({ level: 2 }), 32n], [nptSetup({ level: 4 }), 48n]] as const) {
      s.b.map(0x4000_0000n, 0x8000_0000n, { flags: s.tdp === 'ept' ? {} : { user: true, writable: true } });
      const before = snapshot(s.mem, NESTED_POOL, s.b.tablesAllocated);
      rule(() => s.w.walk(1n << width, { kind: 'read' }), GpaOutsideMemoryError, 'ngpa-beyond-width');
      rule(() => s.w.walk((1n << width) + 0x4000_0000n, { kind: 'write' }), GpaOutsideMemoryError, 'ngpa-beyond-width');
      rule(() => s.w.walk(-1n, { kind: 'read' }), InvalidArgumentError, 'address-value');
      rule(() => s.w.walk(0x4000_0000n, { kind: 'poke' as never }), InvalidArgumentError, 'access-kind');
      rule(() => s.w.walk(0x4000_0000n, { kind: 'read', during: 'later' as never }), InvalidArgumentError, 'nested-during');
      if (s.tdp === 'npt') rule(() => s.w.walk(0x4000_0000n, { kind: 'write', user: false }), InvalidArgumentError, 'npt-access-is-user');
      else {
        // v6.16 only: an EPT read is keyed by PFERR_USER (vmx.c: handle_ept_violation, reference
        // §6.5). In 7.3 PFERR_USER is the user-mode linear address (kvm-7x.md §1.3), so a read
        // without it is an ordinary read.
        const old = eptSetup({ ad: true, kvm: '6.16', level: width === 52n ? 5 : 4 });
        old.b.map(0x4000_0000n, 0x8000_0000n, {});
        rule(() => old.w.walk(0x4000_0000n, { kind: 'read', user: false }), InvalidArgumentError, 'ept-read-is-user');
      }
      expect(snapshot(s.mem, NESTED_POOL, s.b.tablesAllocated)).toEqual(before);
      expect(s.w.writeLogDirtyCount).toBe(0);
      expect(s.w.walk(0x4000_0000n, { kind: 'write' }).status).toBe('ok');
    }
  });

  it('guestLinear (real-exit bits 11:9) only as bits 11:9 of a 7.3 EPT12 final translation', () => {
    const e = eptSetup();
    e.b.map(0x4000_0000n, 0x8000_0000n);
    const before = snapshot(e.mem, NESTED_POOL, e.b.tablesAllocated);
    rule(() => e.w.walk(0x4000_0000n, { kind: 'read', during: 'final', guestLinear: 1 }), InvalidArgumentError, 'guest-linear-bits');
    rule(() => e.w.walk(0x4000_0000n, { kind: 'read', during: 'final', guestLinear: 0x1000 }), InvalidArgumentError, 'guest-linear-bits');
    rule(() => e.w.walk(0x4000_0000n, { kind: 'read', during: 'paging-structure', guestLinear: 0x200 }), InvalidArgumentError, 'guest-linear-bits');
    rule(() => eptSetup({ kvm: '6.16' }).w.walk(0x4000_0000n, { kind: 'read', during: 'final', guestLinear: 0x200 }), InvalidArgumentError, 'guest-linear-bits');
    rule(() => nptSetup().w.walk(0x4000_0000n, { kind: 'read', during: 'final', guestLinear: 0x200 }), InvalidArgumentError, 'guest-linear-bits');
    expect(snapshot(e.mem, NESTED_POOL, e.b.tablesAllocated)).toEqual(before);
    expect(e.w.walk(0x4000_0000n, { kind: 'read', during: 'final', guestLinear: 0xe00 }).status).toBe('ok');
  });

  it('L2 configurations the nested tables cannot serve, and bad L2 registers', () => {
    const s = twoDSetup('paging4', 'npt3');
    const l2 = (regs = l2Regs('paging4', s.l2b!.root), features = { ...DEFAULT_FEATURES, maxPhyAddr: 32 }) => new Walk2D(s.w, { regs, features });
    const before = snapshot(s.mem, NESTED_POOL, s.b.tablesAllocated);
    rule(() => l2(undefined, { ...DEFAULT_FEATURES, maxPhyAddr: 46 }), InvalidArgumentError, 'l2-maxphyaddr-vs-nested-width');
    rule(() => l2({ ...l2Regs('paging4', s.l2b!.root), cr0: CR0.PG }), InvalidRegisterStateError, 'cr0-pg-without-pe');
    rule(() => l2({ ...l2Regs('paging4', 1n << 33n) }), InvalidRegisterStateError, 'cr3-beyond-maxphyaddr');
    rule(() => l2({ ...l2Regs('paging4', s.l2b!.root), pkru: -1 }), InvalidRegisterStateError, 'pkru-range');
    expect(snapshot(s.mem, NESTED_POOL, s.b.tablesAllocated)).toEqual(before);
    expect(l2().walk(GVA, { kind: 'read' }).status).toBe('ok');
  });

  it('PAE L2: bad PDPTE registers; walks with bad addresses or accesses', () => {
    const s = twoDSetup('pae', 'ept4', { ad: true });
    const regs = l2Regs('pae', s.l2b!.root);
    rule(() => new Walk2D(s.w, { regs, pdptrs: [1n | (1n << 5n), 0n, 0n, 0n] }), InvalidRegisterStateError, 'pdpte-reserved');
    rule(() => new Walk2D(s.w, { regs, pdptrs: [0n, 0n, 0n] }), InvalidArgumentError, 'pdptrs-count');
    // A reserved bit in the PDPTE in memory: loading fails. The translate before the check (x86.c:1047-1048)
    // sets nested A/D, which the set-up's own load already set; L2's tables are not touched.
    s.l2b!.setEntry(GVA, 3, s.l2b!.getEntry(GVA, 3).value | (1n << 7n));
    const nestedBefore = snapshot(s.mem, NESTED_POOL, s.b.tablesAllocated);
    const l2Before = snapshot(s.mem, L2_POOL, s.l2b!.tablesAllocated);
    rule(() => new Walk2D(s.w, { regs }), InvalidRegisterStateError, 'pdpte-reserved');
    rule(() => s.w2.reloadPdptrs(), InvalidRegisterStateError, 'pdpte-reserved');
    expect(snapshot(s.mem, NESTED_POOL, s.b.tablesAllocated)).toEqual(nestedBefore);
    expect(snapshot(s.mem, L2_POOL, s.l2b!.tablesAllocated)).toEqual(l2Before);
    // The registers loaded earlier still work.
    expect(s.w2.walk(GVA, { kind: 'read' }).status).toBe('ok');
    rule(() => s.w2.walk(0x1_0000_0000n, { kind: 'read' }), NonCanonicalAddressError, 'linear-address-32-bit');
    rule(() => s.w2.walk(GVA, { kind: 'read', user: true, implicit: true }), InvalidArgumentError, 'implicit-is-supervisor');
    const l4 = twoDSetup('paging4', 'ept4');
    rule(() => l4.w2.walk(0x8000_0000_0000n, { kind: 'read' }), NonCanonicalAddressError, 'canonical-48');
  });

  it('walk() takes or refuses each address as checkAddress does (its upper-half test at the bounds of every mode)', () => {
    const outcome = (f: () => unknown): unknown => {
      try {
        f();
        return 'ok';
      } catch (e) {
        return [(e as Error).constructor.name, (e as MmulabError).rule];
      }
    };
    const around = (x: bigint): bigint[] => [x - 1n, x, x + 1n];
    const common = [-1n, 0n, ...around(1n << 32n), ...around(1n << 47n), ...around(1n << 56n), ...around((1n << 64n) - (1n << 56n)), ...around((1n << 64n) - (1n << 47n)), (1n << 64n) - 1n, 1n << 64n, 1n << 65n];
    for (const mode of ['off', 'paging32', 'pae', 'paging4', 'paging5'] as const) {
      const s = twoDSetup(mode, 'ept4', { ad: true });
      for (const v of [...common, GVA, Number(GVA), 2 ** 32, -1, 0.5, 'x', undefined] as unknown[]) {
        const want = outcome(() => s.w2.checkAddress(v as bigint));
        expect(outcome(() => s.w2.walk(v as bigint, { kind: 'read' })), `${mode} ${String(v)}`).toEqual(want);
        // An address it takes walks as its bigint does (a number converted).
        if (want === 'ok') expect(s.w2.walk(v as bigint, { kind: 'read' })).toEqual(s.w2.walk(s.w2.checkAddress(v as bigint), { kind: 'read' }));
      }
    }
  });

  it('refs2d refuses levels that do not exist', () => {
    rule(() => refs2d(6, 4), InvalidArgumentError, 'refs2d-guest-levels');
    rule(() => refs2d(4, 0), InvalidArgumentError, 'refs2d-nested-levels');
  });

  it('the 5-level L2 on a 4-level EPT12 is fine when its MAXPHYADDR fits 48 bits', () => {
    const s = twoDSetup('paging5', 'ept4');
    expect(s.w2.walk(GVA, { kind: 'read' }).status).toBe('ok');
    expect(CR4.LA57 & l2Regs('paging5', 0n).cr4).toBe(CR4.LA57);
  });
});
