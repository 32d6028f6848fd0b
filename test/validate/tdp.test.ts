/**
 * Bad input to the TDP MMU and its helpers (src/tdp): pages that are not live pages of this MMU
 * (copies, pages of another VM, freed pages), gfn ranges outside 52-bit GPAs or reversed, vCPU
 * indices, root-type filters, stale `old` SPTEs, malformed page faults, copies of memslots. Each
 * refusal is typed, names the parameter and value, and leaves the VM's fingerprint (host frames,
 * memslots, counters, events) unchanged.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  Counters, KVM_DIRECT_ROOTS, KVM_VALID_ROOTS, PossibleNxHugePages, TdpMmu, TdpPage, filterToRootTypes, newPageFault, pagesPerEntry,
  rootMatch, rootTypesText, spteIndex, VM_STAT_NAMES, InvalidArgumentError, RET_PF, type PageFault,
} from '../../src';
import { fixture } from '../vm/fixtures';
import { FC, Tally, badBigint, badBool, badEnum, badInt, junk, refused, refusedRule, vmFingerprint } from './support';

const t = new Tally('tdp');
const GFN_END = 2 ** 40; // a 52-bit GPA's frame numbers end at 2^40 (SDM Vol. 3A 4.1.4: MAXPHYADDR <= 52)
const junkDefined = junk.filter((v) => v !== undefined);
const RUNS = { ...FC, numRuns: 12 };

/** An EPT VM with RAM mapped by 4K and 2M leaves, a live root and a freed one, a second VM's root. */
function warm() {
  const f = fixture({ flavour: 'ept' }, '2M');
  f.pt.map(0x7000_0000n, 0x20_0000n, { count: 8, flags: { writable: true } });
  for (let i = 0n; i < 8n; i++) f.v.read(0x7000_0000n + i * 4096n);
  const old = f.v.currentRoot!;
  f.vm.zapAll(); // the old root is freed once its last reference goes
  f.v.read(0x7000_0000n);
  const root = f.v.currentRoot!;
  const other = fixture({ flavour: 'ept' }, '2M');
  other.v.read(0x7000_0000n);
  const [sp, idx, , spte] = f.vm.tdp.lastSpte(root, 0x200);
  const state = () => vmFingerprint(f.vm);
  /** Not a live page of this MMU. */
  const badPage = fc.oneof(junkDefined, fc.constantFrom({ ...root }, other.v.currentRoot!, old, Object.create(TdpPage.prototype) as unknown)) as fc.Arbitrary<unknown>;
  return { ...f, root, sp, idx, spte, state, badPage, other };
}

/** A fault on RAM gfn 0x200 as the vCPU makes it, with one field replaced. */
function fault(f: ReturnType<typeof warm>, over: Record<string, unknown> = {}): PageFault {
  const x = newPageFault(0x20_0000n, 0x2n);
  x.slot = f.ram;
  x.pfn = 0x200;
  return { ...x, ...over } as PageFault;
}

describe('TdpMmu: pages, indices, SPTE values, vCPU indices', () => {
  it('readSpte / setSpte / zapSp / childOf / gfnBitsOf / leaves / forEachEntry / lastSpte / putRoot: live pages of this MMU', () => {
    const f = warm();
    const { tdp } = f.vm;
    fc.assert(fc.property(f.badPage, (v) => {
      refused(t, () => tdp.readSpte(v as TdpPage, 0), { param: 'sp', state: f.state });
      refused(t, () => tdp.setSpte(v as TdpPage, 0, f.spte, 0n, -1), { param: 'sp', state: f.state });
      refused(t, () => tdp.zapSp(v as TdpPage, -1), { param: 'sp', state: f.state });
      refused(t, () => tdp.gfnBitsOf(v as TdpPage), { param: 'root', state: f.state });
      refused(t, () => tdp.leaves(v as TdpPage), { param: 'root', state: f.state });
      refused(t, () => tdp.forEachEntry(v as TdpPage, () => undefined), { param: 'root', state: f.state });
      refused(t, () => tdp.lastSpte(v as TdpPage, 0x200), { param: 'root', state: f.state });
      refused(t, () => tdp.putRoot(v as TdpPage, -1), { param: 'root', state: f.state });
    }), RUNS);
    // A table below the root is a page of the MMU but no root (tdp_mmu_root_match walks roots only).
    refused(t, () => tdp.putRoot(f.sp, -1), { param: 'root', value: f.sp.pfn, state: f.state });
    refused(t, () => tdp.lastSpte(f.sp, 0x200), { param: 'root', value: f.sp.pfn, state: f.state });
    fc.assert(fc.property(fc.oneof(junkDefined.filter((v) => typeof v !== 'function'), fc.constant(1)), (v) => refused(t, () => tdp.forEachEntry(f.root, v as never), { param: 'fn', value: v, state: f.state })), RUNS);
  });

  it('indices 0..511, SPTE values u64 bigints, `old` the current SPTE, vCPU -1..4095', () => {
    const f = warm();
    const { tdp } = f.vm;
    // SPTE_ENT_PER_PAGE = 512 entries per table (mmu_internal.h / spte.h).
    fc.assert(fc.property(fc.oneof(badInt(0, 511), fc.constant(512)), (v) => {
      refused(t, () => tdp.readSpte(f.sp, v as number), { param: 'idx', value: v, state: f.state });
      refused(t, () => tdp.setSpte(f.sp, v as number, f.spte, 0n, -1), { param: 'idx', value: v, state: f.state });
    }), RUNS);
    fc.assert(fc.property(badBigint(), (v) => {
      refused(t, () => tdp.setSpte(f.sp, f.idx, v as bigint, 0n, -1), { param: 'old', value: v, state: f.state });
      refused(t, () => tdp.setSpte(f.sp, f.idx, f.spte, v as bigint, -1), { param: 'next', value: v, state: f.state });
      refused(t, () => tdp.childOf(v as bigint), { param: 'spte', value: v, state: f.state });
    }), RUNS);
    // tdp_mmu_set_spte is handed iter->old_spte, the entry's value (tdp_mmu.c tdp_mmu_iter_set_spte).
    fc.assert(fc.property(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }).filter((v) => v !== f.spte), (v) => refused(t, () => tdp.setSpte(f.sp, f.idx, v, 0n, -1), { param: 'old', value: v, state: f.state })), RUNS);
    fc.assert(fc.property(badInt(-1, 4095), (v) => {
      refused(t, () => tdp.setSpte(f.sp, f.idx, f.spte, 0x8000_0000_0000_0000n, v as number), { param: 'vcpu', value: v, state: f.state });
      refused(t, () => tdp.zapSp(f.sp, v as number), { param: 'vcpu', value: v, state: f.state });
      refused(t, () => tdp.putRoot(f.root, v as number), { param: 'vcpu', value: v, state: f.state });
      refused(t, () => tdp.getRoot(f.root.role, v as number), { param: 'vcpu', value: v, state: f.state });
      refused(t, () => tdp.tlbFlush(v as number, 'x'), { param: 'vcpu', value: v, state: f.state });
      refused(t, () => tdp.recoverHugePages(f.ram, v as number), { param: 'vcpu', value: v, state: f.state });
      refused(t, () => tdp.writeProtectGfn(0x200, v as number), { param: 'vcpu', value: v, state: f.state });
    }), RUNS);
  });

  it('getRoot: a PageRole of a 4/5-level root that is not invalid', () => {
    const f = warm();
    const roles = fc.oneof(junk, fc.constantFrom(f.root.role.with({ invalid: true }), f.root.role.with({ level: 1 }), f.root.role.word)) as fc.Arbitrary<unknown>;
    fc.assert(fc.property(roles, (v) => refused(t, () => f.vm.tdp.getRoot(v as never, 0), { param: 'role', state: f.state })), RUNS);
  });

  it('tlbFlush: why a string, gfn in [0, 2^40), level 1..5', () => {
    const f = warm();
    fc.assert(fc.property(junk.filter((v) => typeof v !== 'string'), (v) => refused(t, () => f.vm.tdp.tlbFlush(-1, v as string), { param: 'why', value: v, state: f.state })), RUNS);
    fc.assert(fc.property(badInt(0, GFN_END - 1), (v) => refused(t, () => f.vm.tdp.tlbFlush(-1, 'x', v as number), { param: 'gfn', value: v, state: f.state })), RUNS);
    fc.assert(fc.property(badInt(1, 5), (v) => refused(t, () => f.vm.tdp.tlbFlush(-1, 'x', 0, v as number), { param: 'level', value: v, state: f.state })), RUNS);
  });
});

describe('TdpMmu: ranges, gfns, root types, slots', () => {
  it('range operations: start in [0, 2^40], end in [start, 2^40], vCPU, root types, why', () => {
    const f = warm();
    const { tdp } = f.vm;
    const ops: [string, (s: number, e: number, v: number) => unknown][] = [
      ['zapLeafs', (s, e, v) => tdp.zapLeafs(s, e, v)], ['wrprotRange', (s, e, v) => tdp.wrprotRange(s, e, v)],
      ['clearDirtySlot', (s, e, v) => tdp.clearDirtySlot(s, e, v)], ['clearDirtyPtMasked', (s, e, v) => tdp.clearDirtyPtMasked(s, e, false, v)],
      ['wrprotHugeRange', (s, e, v) => tdp.wrprotHugeRange(s, e, v)], ['splitRange', (s, e, v) => tdp.splitRange(s, e, v)],
      ['ageRange', (s, e, v) => tdp.ageRange(s, e, v)],
    ];
    for (const [, op] of ops) {
      fc.assert(fc.property(badInt(0, GFN_END), (v) => refused(t, () => op(v as number, 0x400, -1), { param: 'start', value: v, state: f.state })), RUNS);
      fc.assert(fc.property(badInt(0x200, GFN_END), (v) => refused(t, () => op(0x200, v as number, -1), { param: 'end', value: v, state: f.state })), RUNS);
      fc.assert(fc.property(badInt(-1, 4095), (v) => refused(t, () => op(0x200, 0x400, v as number), { param: 'vcpu', value: v, state: f.state })), RUNS);
    }
    // Calls written out so the coverage scanner sees each method as the refused call.
    refused(t, () => tdp.zapLeafs(0x400, 0x200), { param: 'end', value: 0x200, state: f.state });
    refused(t, () => tdp.wrprotRange(-1, 0x200), { param: 'start', value: -1, state: f.state });
    refused(t, () => tdp.clearDirtySlot(0.5, 0x200), { param: 'start', value: 0.5, state: f.state });
    refused(t, () => tdp.wrprotHugeRange(0, GFN_END + 1), { param: 'end', value: GFN_END + 1, state: f.state });
    refused(t, () => tdp.splitRange(0n as never, 0x200), { param: 'start', value: 0n, state: f.state });
    refused(t, () => tdp.ageRange(0, NaN), { param: 'end', value: NaN, state: f.state });
    fc.assert(fc.property(badBool, (v) => refused(t, () => tdp.clearDirtyPtMasked(0x200, 0x240, v as boolean), { param: 'wrprot', value: v, state: f.state })), RUNS);
    fc.assert(fc.property(junk.filter((v) => v !== undefined && typeof v !== 'string'), (v) => refused(t, () => tdp.zapLeafs(0x200, 0x400, -1, v as string), { param: 'why', value: v, state: f.state })), RUNS);
  });

  it('root-type filters: integers 0..7 naming direct and/or mirror roots (tdp_mmu_root_match WARNs otherwise)', () => {
    const f = warm();
    const { tdp } = f.vm;
    const badTypes = fc.oneof(badInt(0, 7), fc.constantFrom(0, 1, 8)).filter((v) => v !== undefined);
    fc.assert(fc.property(badTypes, (v) => {
      refused(t, () => tdp.zapLeafs(0x200, 0x400, -1, 'x', v as number), { param: 'types', value: v, state: f.state });
      refused(t, () => tdp.ageRange(0x200, 0x400, -1, v as number), { param: 'types', value: v, state: f.state });
      refused(t, () => tdp.invalidateAllRoots(v as number), { param: 'types', value: v, state: f.state });
      refused(t, () => tdp.zapRoots(v as number), { param: 'types', value: v, state: f.state });
      refused(t, () => tdp.rootsOf(v as number), { param: 'types', value: v, state: f.state });
    }), RUNS);
  });

  it('gfns in [0, 2^40); writeProtectGfn minLevel 1..3', () => {
    const f = warm();
    fc.assert(fc.property(badInt(0, GFN_END - 1), (v) => {
      refused(t, () => f.vm.tdp.testAge(v as number), { param: 'gfn', value: v, state: f.state });
      refused(t, () => f.vm.tdp.writeProtectGfn(v as number), { param: 'gfn', value: v, state: f.state });
      refused(t, () => f.vm.tdp.lastSpte(f.root, v as number), { param: 'gfn', value: v, state: f.state });
    }), RUNS);
    // write_protect_gfn's min_level is a leaf level, PG_LEVEL_4K..KVM_MAX_HUGEPAGE_LEVEL (tdp_mmu.c:1857-1885).
    fc.assert(fc.property(badInt(1, 3), (v) => refused(t, () => f.vm.tdp.writeProtectGfn(0x200, -1, v as number), { param: 'minLevel', value: v, state: f.state })), RUNS);
  });

  it('maxMappingLevel / recoverHugePages: this VM\'s memslots, a gfn inside the slot, maxLevel 1..3', () => {
    const f = warm();
    const slots = fc.oneof(junkDefined, fc.constantFrom({ ...f.ram }, f.other.ram)) as fc.Arbitrary<unknown>;
    fc.assert(fc.property(slots, (v) => {
      refused(t, () => f.vm.tdp.maxMappingLevel(v as never, 0x200, 3), { param: 'slot', state: f.state });
      refused(t, () => f.vm.tdp.recoverHugePages(v as never), { param: 'slot', state: f.state });
    }), RUNS);
    // RAM is [0, 1 GiB): gfns 0 .. 0x3ffff.
    fc.assert(fc.property(badInt(0, 0x3_ffff), (v) => refused(t, () => f.vm.tdp.maxMappingLevel(f.ram, v as number, 3), { param: 'gfn', value: v, state: f.state })), RUNS);
    fc.assert(fc.property(badInt(1, 3), (v) => refused(t, () => f.vm.tdp.maxMappingLevel(f.ram, 0x200, v as number), { param: 'maxLevel', value: v, state: f.state })), RUNS);
  });

  it('checkInvariants: extraLeaves an array of at most 4 counts', () => {
    const f = warm();
    fc.assert(fc.property(fc.oneof(junkDefined.filter((v) => !Array.isArray(v)), fc.constant([0, 0, 0, 0, 0])), (v) => refused(t, () => f.vm.tdp.checkInvariants(v as never), { param: 'extraLeaves', state: f.state })), RUNS);
    fc.assert(fc.property(badInt(0, Number.MAX_SAFE_INTEGER), (v) => refused(t, () => f.vm.tdp.checkInvariants([0, v as number, 0, 0]), { param: 'extraLeaves[1]', value: v, state: f.state })), RUNS);
  });
});

describe('TdpMmu: page faults and construction', () => {
  it('map / fastPageFault / hugepageAdjust: a kvm_page_fault as newPageFault makes it, a root, a vCPU, its statistics', () => {
    const f = warm();
    const { tdp } = f.vm;
    const fields: [string, fc.Arbitrary<unknown>][] = [
      ['addr', badBigint({ max: (1n << 52n) - 1n })], ['gfn', fc.oneof(badInt(0, GFN_END - 1), fc.constant(0x201))],
      ['errorCode', badBigint()], ['write', badBool], ['prefetch', badBool], ['pfn', badInt(-1, GFN_END - 1)],
      ['slot', fc.oneof(junkDefined, fc.constantFrom({ ...f.ram }, f.other.ram))], ['maxLevel', badInt(1, 3)], ['goalLevel', badInt(1, 3)],
    ];
    for (const [k, arb] of fields) {
      fc.assert(fc.property(arb, (v) => {
        refused(t, () => tdp.map(fault(f, { [k]: v }), f.root, 0, f.v.stats), { param: `fault.${k}`, state: f.state });
        refused(t, () => tdp.fastPageFault(fault(f, { [k]: v }), f.root, 0, f.v.stats), { param: `fault.${k}`, state: f.state });
        refused(t, () => tdp.hugepageAdjust(fault(f, { [k]: v })), { param: `fault.${k}`, state: f.state });
      }), { ...FC, numRuns: 6 });
    }
    fc.assert(fc.property(junkDefined, (v) => refused(t, () => tdp.map(v as never, f.root, 0, f.v.stats), { param: 'fault', state: f.state })), RUNS);
    fc.assert(fc.property(f.badPage, (v) => {
      refused(t, () => tdp.map(fault(f), v as TdpPage, 0, f.v.stats), { param: 'root', state: f.state });
      refused(t, () => tdp.fastPageFault(fault(f), v as TdpPage, 0, f.v.stats), { param: 'root', state: f.state });
    }), RUNS);
    fc.assert(fc.property(badInt(-1, 4095), (v) => refused(t, () => tdp.map(fault(f), f.root, v as number, f.v.stats), { param: 'vcpu', value: v, state: f.state })), RUNS);
    fc.assert(fc.property(fc.oneof(junkDefined, fc.constant({ inc: () => undefined })), (v) => refused(t, () => tdp.fastPageFault(fault(f), f.root, 0, v as never), { param: 'vcpuStats', state: f.state })), RUNS);
  });

  it('new TdpMmu: a VM context with the members the MMU calls', () => {
    const f = warm();
    const ctx = f.vm as unknown as Record<string, unknown>;
    fc.assert(fc.property(junk, (v) => refused(t, () => new TdpMmu(v as never), { param: 'vm', state: f.state })), RUNS);
    for (const [k, v] of [['config', null], ['host', 5], ['stats', {}], ['checking', 'yes'], ['mmioGeneration', -1], ['slotOfGfn', 'f'], ['markDirty', undefined]] as const) {
      refused(t, () => new TdpMmu({ config: ctx['config'], host: ctx['host'], stats: ctx['stats'], events: ctx['events'], checking: false, mmioGeneration: 0, possibleNxHugePages: ctx['possibleNxHugePages'], slotOfGfn: () => undefined, isGfnWriteTracked: () => false, markDirty: () => undefined, [k]: v } as never), { param: `vm.${k}`, value: v, state: f.state });
    }
  });
});

describe('TDP helpers: faults, pages, root types, the NX huge page list', () => {
  it('newPageFault: a u64 address (GPA, or a GVA from CR2) and a u64 error code', () => {
    fc.assert(fc.property(badBigint(), (v) => refused(t, () => newPageFault(v as bigint, 0n), { param: 'addr', value: v })), FC);
    fc.assert(fc.property(badBigint(), (v) => refused(t, () => newPageFault(0n, v as bigint), { param: 'errorCode', value: v })), FC);
  });

  it('TdpPage / pagesPerEntry / spteIndex: roles, frames, indices, levels 1..5', () => {
    const f = warm();
    const role = f.root.role;
    fc.assert(fc.property(junk, (v) => refused(t, () => new TdpPage(v as never, 0, 0x10, null, 0), { param: 'role' })), RUNS);
    fc.assert(fc.property(badInt(0, GFN_END - 1), (v) => {
      refused(t, () => new TdpPage(role, v as number, 0x10, null, 0), { param: 'gfn', value: v });
      refused(t, () => new TdpPage(role, 0, v as number, null, 0), { param: 'pfn', value: v });
      refused(t, () => spteIndex(v as number, 1), { param: 'gfn', value: v });
    }), RUNS);
    fc.assert(fc.property(junkDefined.filter((v) => v !== null), (v) => refused(t, () => new TdpPage(role, 0, 0x10, v as never, 0), { param: 'parent' })), RUNS);
    fc.assert(fc.property(badInt(0, 511), (v) => refused(t, () => new TdpPage(role, 0, 0x10, f.root, v as number), { param: 'parentIndex', value: v })), RUNS);
    // PT64_ROOT_5LEVEL: levels 1..5.
    fc.assert(fc.property(badInt(1, 5), (v) => {
      refused(t, () => pagesPerEntry(v as number), { param: 'level', value: v });
      refused(t, () => spteIndex(0, v as number), { param: 'level', value: v });
    }), RUNS);
  });

  it('filterToRootTypes / rootMatch / rootTypesText: booleans, filters, pages, type masks 0..7', () => {
    const f = warm();
    fc.assert(fc.property(badBool, (v) => refused(t, () => filterToRootTypes(v as boolean, 'both'), { param: 'hasMirroredTdp', value: v })), FC);
    // enum kvm_gfn_range_filter: KVM_FILTER_SHARED, KVM_FILTER_PRIVATE (kvm_host.h), 'both' for neither bit.
    fc.assert(fc.property(badEnum(['private', 'shared', 'both']), (v) => refused(t, () => filterToRootTypes(true, v as 'both'), { param: 'filter', value: v })), FC);
    fc.assert(fc.property(junk, (v) => refused(t, () => rootMatch(v as never, KVM_VALID_ROOTS), { param: 'root' })), RUNS);
    fc.assert(fc.property(badInt(0, 7), (v) => {
      refused(t, () => rootMatch(f.root, v as number), { param: 'types', value: v });
      refused(t, () => rootTypesText(v as number), { param: 'types', value: v });
    }), FC);
    void KVM_DIRECT_ROOTS;
  });

  it('PossibleNxHugePages: VM statistics, TDP or shadow pages', () => {
    const f = warm();
    const list = new PossibleNxHugePages(new Counters(VM_STAT_NAMES));
    list.track(f.sp);
    const state = () => JSON.stringify([list.size, list.first()?.gfn, f.sp.nxHugePageDisallowed]);
    fc.assert(fc.property(junk, (v) => refused(t, () => new PossibleNxHugePages(v as never), { param: 'stats' })), RUNS);
    const badSp = fc.oneof(junk, fc.constantFrom({ nxHugePageDisallowed: 'yes', gfn: 0 }, { nxHugePageDisallowed: true, gfn: -1 }, { nxHugePageDisallowed: true })) as fc.Arbitrary<unknown>;
    fc.assert(fc.property(badSp, (v) => {
      refused(t, () => list.track(v as never), { param: 'sp', state });
      refused(t, () => list.untrack(v as never), { param: 'sp', state });
      refused(t, () => list.unaccount(v as never), { param: 'sp', state });
      refused(t, () => list.has(v as never), { param: 'sp', state });
    }), RUNS);
  });
});

describe('TdpMmu refusals by rule, and the values the checks let through', () => {
  /** The call throws with `rule`, its message starting with the parameter and holding `text`. */
  function rule(call: () => unknown, param: string, r: string, text: string, state: () => string): void {
    const e = refusedRule(t, call, InvalidArgumentError, r, state);
    expect(e.message.startsWith(`${param} `), e.message).toBe(true);
    expect(e.message).toContain(text);
  }

  it('rules and texts of the TDP checks', () => {
    const f = warm();
    const { tdp } = f.vm;
    rule(() => tdp.zapLeafs(-1, 0), 'start', 'integer-range', 'must be in', f.state);
    // 2^40 + 1 is past the last gfn of a 52-bit GPA: the start is refused, not the end.
    rule(() => tdp.zapLeafs(GFN_END + 1, GFN_END + 1), 'start', 'integer-range', 'must be in', f.state);
    // KVM_ALL_ROOTS is 7 (tdp_mmu.h); 10 has a valid kind (bit 1) but a bit no filter has.
    rule(() => tdp.zapRoots(10), 'types', 'integer-range', 'must be in', f.state);
    rule(() => tdp.zapRoots(1), 'types', 'root-types', 'must name direct and/or mirror roots', f.state);
    rule(() => tdp.map(fault(f), f.root, 0, {} as never), 'vcpuStats', 'counters', 'must be a vCPU statistics object', f.state);
    rule(() => tdp.forEachEntry(f.root, 1 as never), 'fn', 'function-type', 'must be a function', f.state);
    rule(() => tdp.getRoot(5 as never, 0), 'role', 'page-role', 'must be a PageRole', f.state);
    rule(() => tdp.getRoot(f.root.role.with({ level: 3 }), 0), 'role', 'root-level', 'must be the role of a 4- or 5-level root', f.state);
    rule(() => tdp.getRoot(f.root.role.with({ invalid: true }), 0), 'role', 'root-invalid', 'must not be an invalid role', f.state);
    rule(() => tdp.map(fault(f, { gfn: 0x201 }), f.root, 0, f.v.stats), 'fault.gfn', 'fault-gfn', 'must be the frame of fault.addr (0x200)', f.state);
    rule(() => tdp.map(fault(f, { slot: { ...f.ram } }), f.root, 0, f.v.stats), 'fault.slot', 'memslot', 'must be undefined (MMIO) or a memslot of this VM', f.state);
    // A 52-bit GPA ends below 2^52: 2^52 with its frame 2^40 is refused by the address.
    rule(() => tdp.map(fault(f, { addr: 1n << 52n, gfn: GFN_END }), f.root, 0, f.v.stats), 'fault.addr', 'bigint-range', 'must be in', f.state);
  });

  it('rules and texts of pages, roots, memslots, old SPTEs and the src/tdp helpers', () => {
    const f = warm();
    const { tdp } = f.vm;
    rule(() => tdp.readSpte({ ...f.root } as never, 0), 'sp', 'tdp-page', 'must be a live page of this TDP MMU', f.state);
    // kvm_tdp_mmu_put_root (tdp_mmu.c:79-95) puts roots only: a table below one is refused.
    rule(() => tdp.putRoot(f.sp), 'root', 'tdp-root', 'must be a root of this TDP MMU', f.state);
    // tdp_mmu_set_spte gets iter->old_spte, the entry's current value (tdp_mmu.c:777-784).
    rule(() => tdp.setSpte(f.sp, f.idx, f.spte ^ 1n, 0n, -1), 'old', 'stale-old-spte', 'must be the current value of the SPTE', f.state);
    // A memslot is one of this VM's (its base gfn finds it): copies, gfns outside 52-bit GPAs, other
    // types are refused by the slot check itself, before a gfn lookup could refuse them as a gfn.
    const notSlots: unknown[] = [null, 5, { ...f.ram }, { ...f.ram, baseGfn: -1 }, { ...f.ram, baseGfn: GFN_END }, { ...f.ram, baseGfn: 0.5 }, { ...f.ram, baseGfn: '0' }, { ...f.ram, baseGfn: 2 ** 53 }];
    for (const s of notSlots) {
      rule(() => tdp.maxMappingLevel(s as never, 0x200, 3), 'slot', 'memslot', 'must be a memslot of this VM', f.state);
      rule(() => tdp.recoverHugePages(s as never), 'slot', 'memslot', 'must be a memslot of this VM', f.state);
      rule(() => tdp.map(fault(f, { slot: s }), f.root, 0, f.v.stats), 'fault.slot', 'memslot', 'must be undefined (MMIO) or a memslot of this VM', f.state);
      rule(() => tdp.hugepageAdjust(fault(f, { slot: s })), 'fault.slot', 'memslot', 'must be undefined (MMIO) or a memslot of this VM', f.state);
    }
    // RAM is [0, 1 GiB): 0x40000 is the first gfn past the slot.
    rule(() => tdp.maxMappingLevel(f.ram, 0x4_0000, 3), 'gfn', 'integer-range', 'must be in', f.state);
    expect(tdp.maxMappingLevel(f.ram, 0x3_ffff, 1)).toBe(1);
    rule(() => tdp.checkInvariants([0, 0, 0, 0, 0]), 'extraLeaves', 'extra-leaves', 'must hold at most 4 counts', f.state);
    rule(() => tdp.checkInvariants([0, undefined, 0, 0] as never), 'extraLeaves[1]', 'integer-type', '', f.state);
    const role = f.root.role;
    rule(() => new TdpPage(5 as never, 0, 0x10, null, 0), 'role', 'page-role', 'must be a PageRole', f.state);
    rule(() => new TdpPage(role, 0, 0x10, {} as never, 0), 'parent', 'tdp-page', 'must be a TdpPage or null (a root)', f.state);
    rule(() => rootMatch({} as never, KVM_VALID_ROOTS), 'root', 'tdp-page', 'must be a TdpPage', f.state);
    rule(() => new PossibleNxHugePages({} as never), 'stats', 'counters', 'must be the VM statistics (Counters)', f.state);
    const list = new PossibleNxHugePages(new Counters(VM_STAT_NAMES));
    for (const v of [null, 5]) rule(() => list.track(v as never), 'sp', 'nx-split-page', 'must be a TDP or shadow page', f.state);
    // A gfn of a 52-bit GPA is below 2^40 (SDM Vol. 3A 4.1.4).
    rule(() => list.track({ nxHugePageDisallowed: true, gfn: GFN_END }), 'sp.gfn', 'integer-range', 'must be in', f.state);
    list.track({ nxHugePageDisallowed: true, gfn: GFN_END - 1 });
    expect(list.size).toBe(1);
  });

  it('good values pass: a live root role, a fault with pfn -1 (newPageFault), a fault on a memslot of this VM', () => {
    const f = warm();
    const { tdp } = f.vm;
    const r = tdp.getRoot(f.root.role, 0);
    expect(r).toBe(f.root); // kvm_tdp_mmu_alloc_root reuses a valid root of the same role
    tdp.putRoot(r, 0);
    const pf = newPageFault(0x20_0000n, 0n);
    expect(() => tdp.hugepageAdjust(pf)).not.toThrow();
    // RAM gfn 0x200 is already mapped by the warm-up read: the fault is spurious (RET_PF_SPURIOUS, tdp_mmu.c tdp_mmu_map_handle_target_level).
    expect(tdp.map(fault(f, { errorCode: 0n, write: false }), f.root, 0, f.v.stats)).toBe(RET_PF.SPURIOUS);
  });
});
