/**
 * Bad input to the TLB model and the cost model (src/tlb, src/cost): tags, page numbers, levels,
 * fills, invalidation arguments, configurations ('toString' as a parameter name, arrays too large
 * to allocate) and cost inputs are refused with the library's error naming the parameter and value;
 * the TLB's entries and counters are unchanged.
 */
import fc from 'fast-check';
import { describe, it } from 'vitest';
import {
  Tlb, SetAssoc, makeTlbConfig, vpnOf, checkInvpcid, makeCostModel, accessCost, walkRefCycles, kvmHandlingCycles, costModelRows,
  DEFAULT_COST_MODEL, MAX_TLB_ARRAY_ENTRIES, type TlbTag, type TlbFill, type CostModel, type AccessCostInputs,
} from '../../src';
import { FC, Tally, badBigint, badBool, badEnum, badInt, junk, refused } from './support';

const t = new Tally('tlb');
const TAG: TlbTag = { vpid: 1, pcid: 0, eptp: -1 };
const FILL: TlbFill = { vpid: 1, pcid: 0, eptp: -1, vpn: 0x123, size: 0, global: false, hostFrame: 0x456, guestFrame: 0x123, acc: 7, pkey: 0, tdpAcc: 7 };

/** A TLB holding one entry of each kind, so an accepted bad invalidation would show. */
function warm() {
  const tlb = new Tlb();
  tlb.fill(FILL, false);
  tlb.fill({ ...FILL, vpn: 0x400, size: 1, global: true }, true);
  tlb.pscFill(TAG, 0x123, 2);
  tlb.nestedRefs(0x10, -1, 0x123, 4, 1, 0x456);
  const state = () => JSON.stringify([tlb.snapshot(), tlb.stats.snapshot()]);
  return { tlb, state };
}

/** Not a tag: other types, and each field out of its range. */
const badTag = fc.oneof(
  junk,
  badInt(0, 0xffff_ffff).map((vpid) => ({ ...TAG, vpid })),
  badInt(0, 0xfff).map((pcid) => ({ ...TAG, pcid })),
  badInt(-1, 2 ** 40 - 1).map((eptp) => ({ ...TAG, eptp })),
) as fc.Arbitrary<unknown>;
const badVpn = fc.oneof(badInt(0, 2 ** 45 - 1), fc.constant(2 ** 45));

describe('Tlb: lookups, fills and caches refuse bad tags, page numbers and levels', () => {
  it('lookup / pscLookup / pscFill: tag, vpn, fetch, top, level', () => {
    const { tlb, state } = warm();
    fc.assert(fc.property(badTag, (v) => {
      refused(t, () => tlb.lookup(v as TlbTag, 0x123, false), { param: 't', state });
      refused(t, () => tlb.pscLookup(v as TlbTag, 0x123, 4), { param: 't', state });
      refused(t, () => tlb.pscFill(v as TlbTag, 0x123, 2), { param: 't', state });
    }), FC);
    fc.assert(fc.property(badVpn, (v) => {
      refused(t, () => tlb.lookup(TAG, v as number, false), { param: 'vpn', value: v, state });
      refused(t, () => tlb.pscLookup(TAG, v as number, 4), { param: 'vpn', value: v, state });
      refused(t, () => tlb.pscFill(TAG, v as number, 2), { param: 'vpn', value: v, state });
    }), FC);
    fc.assert(fc.property(badBool, (v) => refused(t, () => tlb.lookup(TAG, 0x123, v as boolean), { param: 'fetch', value: v, state })), FC);
    fc.assert(fc.property(fc.oneof(badInt(1, 5), fc.constantFrom(0, 6)), (v) => refused(t, () => tlb.pscLookup(TAG, 0x123, v as number), { param: 'top', value: v, state })), FC);
    // PSCs hold PDEs up to PML5Es (levels 2..5).
    fc.assert(fc.property(fc.oneof(badInt(2, 5), fc.constantFrom(1, 6)), (v) => refused(t, () => tlb.pscFill(TAG, 0x123, v as number), { param: 'level', value: v, state })), FC);
    fc.assert(fc.property(badEnum(['l1', 'stlb']), (v) => refused(t, () => tlb.hit(v as 'l1'), { param: 'level', value: v, state })), FC);
  });

  it('fill: every field of the entry', () => {
    const { tlb, state } = warm();
    for (const v of [null, undefined, 5, 'fill']) refused(t, () => tlb.fill(v as never, false), { param: 'e', value: v, state });
    fc.assert(fc.property(badBool, (v) => refused(t, () => tlb.fill(FILL, v as boolean), { param: 'fetch', value: v, state })), FC);
    const fields: [keyof TlbFill, fc.Arbitrary<unknown>][] = [
      ['vpid', badInt(0, 0xffff_ffff)], ['pcid', badInt(0, 0xfff)], ['eptp', badInt(-1, 2 ** 40 - 1)], ['vpn', badVpn],
      ['size', badEnum([0, 1, 2])], ['global', badBool], ['hostFrame', badInt(0, 2 ** 40 - 1)], ['guestFrame', badInt(0, 2 ** 40 - 1)],
      ['acc', badInt(0, 0xf)], ['pkey', badInt(0, 15)], ['tdpAcc', badInt(0, 7)], ['gpaKind', badEnum(['ram', 'rom', 'noslot'])],
    ];
    for (const [k, arb] of fields) {
      fc.assert(fc.property(arb, (v) => refused(t, () => tlb.fill({ ...FILL, [k]: v }, false), { param: `e.${k}`, value: v, state })), { ...FC, numRuns: 12 });
    }
  });

  it('nestedRefs: EP4TA, ASID, gfn, top, leaf (1..3, at most top), host frame', () => {
    const { tlb, state } = warm();
    fc.assert(fc.property(badInt(-1, 2 ** 40 - 1), (v) => refused(t, () => tlb.nestedRefs(v as number, -1, 0x123, 4, 1, 0), { param: 'eptp', value: v, state })), FC);
    fc.assert(fc.property(badInt(-1, 0xffff_ffff), (v) => refused(t, () => tlb.nestedRefs(0x10, v as number, 0x123, 4, 1, 0), { param: 'asid', value: v, state })), FC);
    fc.assert(fc.property(badInt(0, 2 ** 40 - 1), (v) => {
      refused(t, () => tlb.nestedRefs(0x10, -1, v as number, 4, 1, 0), { param: 'gfn', value: v, state });
      refused(t, () => tlb.nestedRefs(0x10, -1, 0x123, 4, 1, v as number), { param: 'hostFrame', value: v, state });
    }), FC);
    fc.assert(fc.property(fc.oneof(badInt(1, 5), fc.constant(0)), (v) => refused(t, () => tlb.nestedRefs(0x10, -1, 0x123, v as number, 1, 0), { param: 'top', value: v, state })), FC);
    fc.assert(fc.property(fc.oneof(badInt(1, 3), fc.constantFrom(0, 4)), (v) => refused(t, () => tlb.nestedRefs(0x10, -1, 0x123, 4, v as number, 0), { param: 'leaf', value: v, state })), FC);
    refused(t, () => tlb.nestedRefs(0x10, -1, 0x123, 2, 3, 0), { param: 'leaf', value: 3, state });
  });
});

describe('Tlb: invalidations refuse bad arguments before dropping anything', () => {
  it('invlpg / pageFault / pagingOff / eptViolation: tag, address, gfn', () => {
    const { tlb, state } = warm();
    fc.assert(fc.property(badTag, (v) => {
      refused(t, () => tlb.invlpg(v as TlbTag, 0x123000n), { param: 't', state });
      refused(t, () => tlb.pageFault(v as TlbTag, 0x123000n), { param: 't', state });
      refused(t, () => tlb.pagingOff(v as TlbTag), { param: 't', state });
      refused(t, () => tlb.eptViolation(v as TlbTag, 0x123, undefined), { param: 't', state });
    }), FC);
    fc.assert(fc.property(badBigint(), (v) => {
      refused(t, () => tlb.invlpg(TAG, v as bigint), { param: 'va', value: v, state });
      refused(t, () => tlb.pageFault(TAG, v as bigint), { param: 'va', value: v, state });
      refused(t, () => tlb.eptViolation(TAG, 0x123, v as bigint), { param: 'va', value: v, state });
      refused(t, () => vpnOf(v as bigint), { param: 'va', value: v });
    }), FC);
    fc.assert(fc.property(badInt(0, 2 ** 40 - 1), (v) => refused(t, () => tlb.eptViolation(TAG, v as number, undefined), { param: 'gfn', value: v, state })), FC);
  });

  it('invpcid / checkInvpcid / movCr3 / movCr4: types, PCIDs, flags, CR4 values and bits', () => {
    const { tlb, state } = warm();
    fc.assert(fc.property(badInt(0, 3), (v) => {
      refused(t, () => tlb.invpcid(TAG, v as number, 0, 0n, true), { param: 'type', value: v, state });
      refused(t, () => checkInvpcid(v as number, 0, true), { param: 'type', value: v });
    }), FC);
    fc.assert(fc.property(badInt(0, 0xfff), (v) => {
      refused(t, () => tlb.invpcid(TAG, 1, v as number, 0n, true), { param: 'pcid', value: v, state });
      refused(t, () => tlb.movCr3(TAG, true, v as number, false), { param: 'newPcid', value: v, state });
    }), FC);
    fc.assert(fc.property(badBool, (v) => {
      refused(t, () => tlb.invpcid(TAG, 2, 0, 0n, v as boolean), { param: 'pcide', value: v, state });
      refused(t, () => tlb.movCr3(TAG, v as boolean, 0, false), { param: 'pcide', value: v, state });
      refused(t, () => tlb.movCr3(TAG, true, 0, v as boolean), { param: 'noFlush', value: v, state });
    }), FC);
    fc.assert(fc.property(badTag, (v) => {
      refused(t, () => tlb.invpcid(v as TlbTag, 2, 0, 0n, true), { param: 't', state });
      refused(t, () => tlb.movCr3(v as TlbTag, false, 0, false), { param: 't', state });
      refused(t, () => tlb.movCr4(v as TlbTag, 0n, 0n, { pge: 1n, pcide: 2n, pae: 4n, smep: 8n }), { param: 't', state });
    }), FC);
    const bits = { pge: 1n << 7n, pcide: 1n << 17n, pae: 1n << 5n, smep: 1n << 20n };
    fc.assert(fc.property(badBigint(), (v) => {
      refused(t, () => tlb.invpcid(TAG, 0, 0, v as bigint, true), { param: 'va', value: v, state });
      refused(t, () => tlb.movCr4(TAG, v as bigint, 0n, bits), { param: 'oldCr4', value: v, state });
      refused(t, () => tlb.movCr4(TAG, 0n, v as bigint, bits), { param: 'newCr4', value: v, state });
      refused(t, () => tlb.movCr4(TAG, 0n, 1n << 7n, { ...bits, pge: v as bigint }), { param: 'bits.pge', value: v, state });
    }), FC);
    for (const v of [null, undefined, 7, 'bits']) refused(t, () => tlb.movCr4(TAG, 0n, 0n, v as never), { param: 'bits', value: v, state });
  });

  it('invvpid / invept / flushAsid: types, VPIDs, EP4TAs, ASIDs', () => {
    const { tlb, state } = warm();
    fc.assert(fc.property(badInt(0, 3), (v) => refused(t, () => tlb.invvpid(v as number, 1), { param: 'type', value: v, state })), FC);
    fc.assert(fc.property(badInt(0, 0xffff), (v) => refused(t, () => tlb.invvpid(1, v as number), { param: 'vpid', value: v, state })), FC);
    fc.assert(fc.property(badBigint(), (v) => refused(t, () => tlb.invvpid(0, 1, v as bigint), { param: 'va', value: v, state })), FC);
    fc.assert(fc.property(badEnum([1, 2]), (v) => refused(t, () => tlb.invept(v as number), { param: 'type', value: v, state })), FC);
    fc.assert(fc.property(badInt(-1, 2 ** 40 - 1), (v) => refused(t, () => tlb.invept(1, v as number), { param: 'eptp', value: v, state })), FC);
    fc.assert(fc.property(badInt(0, 0xffff_ffff), (v) => refused(t, () => tlb.flushAsid(v as number), { param: 'asid', value: v, state })), FC);
  });
});

describe('TLB configurations and set-associative arrays', () => {
  it("makeTlbConfig / new Tlb: 'toString' and '__proto__' are no parameters, arrays in range, vpid a boolean", () => {
    for (const v of [null, 5, 'skylake', Symbol('s'), []]) {
      refused(t, () => makeTlbConfig(v as never), { param: 'spec', value: v });
      refused(t, () => new Tlb(v as never), { param: 'spec', value: v });
    }
    fc.assert(fc.property(fc.constantFrom('toString', '__proto__', 'constructor', 'valueOf', 'hasOwnProperty', 'stlbX'), (k) => {
      const spec = JSON.parse(`{"${k}": {"entries": 4, "ways": 1}}`) as object;
      refused(t, () => makeTlbConfig(spec), { param: 'spec', value: k });
    }), FC);
    fc.assert(fc.property(badBool, (v) => refused(t, () => makeTlbConfig({ vpid: v as boolean }), { param: 'spec.vpid', value: v })), FC);
    fc.assert(fc.property(badInt(0, MAX_TLB_ARRAY_ENTRIES), (v) => refused(t, () => makeTlbConfig({ stlb: { entries: v as number, ways: 1 } }), { param: 'spec.stlb' })), FC);
    fc.assert(fc.property(badInt(1, 64), (v) => refused(t, () => makeTlbConfig({ dtlb4k: { entries: 64, ways: v as number } }), { param: 'spec.dtlb4k' })), FC);
    refused(t, () => makeTlbConfig({ dtlb4k: { entries: 10, ways: 4 } }), { param: 'spec.dtlb4k' });
    for (const v of [null, 64, 'x', 1n]) refused(t, () => makeTlbConfig({ pdeCache: v as never }), { param: 'spec.pdeCache' });
  });

  it('new SetAssoc: geometry in range', () => {
    for (const v of [null, undefined, 5, 'g']) refused(t, () => new SetAssoc(v as never), { param: 'geom', value: v });
    fc.assert(fc.property(badInt(0, MAX_TLB_ARRAY_ENTRIES), (v) => refused(t, () => new SetAssoc({ entries: v as number, ways: 1 }), { param: 'geom.entries', value: v })), FC);
    fc.assert(fc.property(badInt(1, Number.MAX_SAFE_INTEGER), (v) => refused(t, () => new SetAssoc({ entries: 8, ways: v as number }), { param: 'geom.ways', value: v })), FC);
    refused(t, () => new SetAssoc({ entries: 10, ways: 4 }), { param: 'geom.entries', value: 10 });
  });
});

describe('cost model', () => {
  const X: AccessCostInputs = { tlb: 'miss', walkRefs: 4, exits: [{ ret: 'RET_PF_FIXED', fast: false, mmio: false }], emulated: false, userspaceExit: false, remoteFlushes: 0 };
  const state = () => JSON.stringify(DEFAULT_COST_MODEL);
  const badModel = fc.oneof(junk, fc.constantFrom({}, { params: {}, walkRefLevel: 'L2' }, { ...DEFAULT_COST_MODEL, walkRefLevel: 'toString' }, { params: DEFAULT_COST_MODEL.params }));

  it("makeCostModel: spec, cycles ('toString' is no parameter, NaN/negative/Infinity cycles), walkRefLevel", () => {
    for (const v of [null, 5, 'spec', []]) refused(t, () => makeCostModel(v as never), { param: 'spec', value: v });
    for (const v of [null, 5, 'x']) refused(t, () => makeCostModel({ cycles: v as never }), { param: 'spec.cycles', value: v });
    fc.assert(fc.property(fc.constantFrom('toString', '__proto__', 'constructor', 'l1tlbhit'), (k) => refused(t, () => makeCostModel({ cycles: JSON.parse(`{"${k}": 3}`) as never }), { param: 'spec.cycles', value: k })), FC);
    fc.assert(fc.property(fc.oneof(fc.constantFrom(NaN, -1, Infinity, -Infinity, 1n, '5', null), junk.filter((v) => typeof v !== 'number' || !Number.isFinite(v))), (v) => refused(t, () => makeCostModel({ cycles: { stlbHit: v as number } }), { param: 'spec.cycles.stlbHit', value: v })), FC);
    fc.assert(fc.property(badEnum(['L1', 'L2', 'L3', 'DRAM']), (v) => refused(t, () => makeCostModel({ walkRefLevel: v as 'L1' }), { param: 'spec.walkRefLevel', value: v })), FC);
  });

  it('accessCost / walkRefCycles / kvmHandlingCycles / costModelRows: a model, inputs in range', () => {
    fc.assert(fc.property(badModel, (v) => {
      refused(t, () => accessCost(v as CostModel, X), { param: 'm', state });
      refused(t, () => walkRefCycles(v as CostModel), { param: 'm', state });
      refused(t, () => kvmHandlingCycles(v as CostModel, X.exits[0]!), { param: 'm', state });
      refused(t, () => costModelRows(v as CostModel), { param: 'm', state });
    }), FC);
    for (const v of [null, undefined, 3, 'x']) refused(t, () => accessCost(DEFAULT_COST_MODEL, v as never), { param: 'x', value: v, state });
    fc.assert(fc.property(badEnum(['l1', 'stlb', 'miss']), (v) => refused(t, () => accessCost(DEFAULT_COST_MODEL, { ...X, tlb: v as 'l1' }), { param: 'x.tlb', value: v, state })), FC);
    for (const k of ['walkRefs', 'remoteFlushes'] as const) {
      fc.assert(fc.property(badInt(0, Number.MAX_SAFE_INTEGER), (v) => refused(t, () => accessCost(DEFAULT_COST_MODEL, { ...X, [k]: v }), { param: `x.${k}`, value: v, state })), FC);
    }
    for (const k of ['emulated', 'userspaceExit'] as const) {
      fc.assert(fc.property(badBool, (v) => refused(t, () => accessCost(DEFAULT_COST_MODEL, { ...X, [k]: v }), { param: `x.${k}`, value: v, state })), { ...FC, numRuns: 10 });
    }
    for (const v of [null, 'exits', 3]) refused(t, () => accessCost(DEFAULT_COST_MODEL, { ...X, exits: v as never }), { param: 'x.exits', value: v, state });
    fc.assert(fc.property(badBool, (v) => {
      refused(t, () => accessCost(DEFAULT_COST_MODEL, { ...X, exits: [{ ret: 'RET_PF_FIXED', fast: v as boolean, mmio: false }] }), { param: 'x.exits[0].fast', value: v, state });
      refused(t, () => kvmHandlingCycles(DEFAULT_COST_MODEL, { ret: 'RET_PF_FIXED', fast: false, mmio: v as boolean }), { param: 'e.mmio', value: v, state });
    }), FC);
    for (const v of [null, 5, Symbol('r')]) refused(t, () => kvmHandlingCycles(DEFAULT_COST_MODEL, { ret: v as never, fast: false, mmio: false }), { param: 'e.ret', value: v, state });
  });
});
