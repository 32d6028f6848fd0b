/**
 * Bad input to the rich views (src/display): a view of an engine record refuses anything that is
 * not such a record with the library's error naming the argument (it used to fail deep inside
 * with `Cannot read properties of undefined` or render `undefined`); the HTML/text helpers refuse
 * non-strings, non-arrays and non-u64 values; prose refuses values that are no number, bigint,
 * string or boolean (a note citing `undefined`). Rendering changes nothing.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  GuestMemory, GvaWalker, PageRole, CpuRole, Prose, Vm, calcCpuRole, eptFormat, paging4Format, makeTlbConfig, makeCostModel,
  longMode, DEFAULT_FEATURES, richBundle,
  esc, hex64, table, textTable, permissionsChart, reservedBitsChart, walkTraceChart, costModelBundle, tlbConfigBundle,
  accessIndexName, formatBundle, nestedRecordBundle, ngpaVerdict, ngpaWalkBundle, ngpaWalkerBundle, walk2dBundle, walk2dChart,
  walk2dVerdict, walk2dWalkerBundle, md, proseValue, cpuRoleBundle, pageRoleBundle, tdxSeptBundle, verdict, walkBundle,
} from '../../src';
import { FC, Tally, badBigint, badInt, junk, refused, vmFingerprint } from './support';
import { twoDSetup, GVA } from '../nested/support';

const t = new Tally('display');

const mem = new GuestMemory({ maxPhyAddr: 46 });
const gw = new GvaWalker(mem, longMode({ cr3: 0x1000n }), DEFAULT_FEATURES);
const walkRec = gw.walk(0x1000n, { kind: 'read' });
const s2 = twoDSetup('paging4', 'ept4');
const ngpaRec = s2.w.walk(0x1000n, { kind: 'read' });
const rec2d = s2.w2.walk(GVA, { kind: 'read' });
const fmt = paging4Format({ maxPhyAddr: 46, nx: true, gbpages: true, pse: false, amd: false, cr0Wp: true, cr4Smep: false, cr4Smap: false, cr4Pke: false });
/** Records and formats are data: rendering must not change them. */
const state = () => JSON.stringify([walkRec, ngpaRec, rec2d, fmt.permissions], (_k, v) => (typeof v === 'bigint' ? `${v}n` : v));

/** Not a record of any kind: junk, empty objects, a record of another kind, a record with a field of the wrong type. */
const notRecord = fc.oneof(junk, fc.constantFrom({}, { status: 'ok' }, { ...fmt }, { ...walkRec, trace: null }, { ...walkRec, address: 5 }, { ...walkRec, access: 'read' }));

describe('views of walk records refuse what is no such record', () => {
  it('walk views (verdict, walkBundle, walkTraceChart): a GvaWalker/NgpaWalker walk record', () => {
    expect(verdict(walkRec)).toContain('gva_walk');
    fc.assert(fc.property(notRecord, (v) => {
      for (const f of [verdict, walkBundle, walkTraceChart]) refused(t, () => f(v as never), { param: 'r', state });
    }), FC);
  });

  it('ngpa views: an ngpa walk record; a GVA walk record is not one', () => {
    expect(ngpaVerdict(ngpaRec)).toContain('EPT12');
    const bad = fc.oneof(notRecord, fc.constantFrom(walkRec, rec2d, { ...ngpaRec, tdp: 'toString' }));
    fc.assert(fc.property(bad, (v) => {
      for (const f of [ngpaVerdict, ngpaWalkBundle]) refused(t, () => f(v as never), { param: 'r', state });
    }), FC);
  });

  it('2D views: a Walk2D record; an ngpa record is not one', () => {
    expect(walk2dVerdict(rec2d)).toContain('2D walk');
    const bad = fc.oneof(notRecord, fc.constantFrom(walkRec, ngpaRec, { ...rec2d, refs: {} }, { ...rec2d, guestLevels: 'toString' }));
    fc.assert(fc.property(bad, (v) => {
      for (const f of [walk2dVerdict, walk2dBundle, walk2dChart]) refused(t, () => f(v as never), { param: 'r', state });
    }), FC);
  });

  it('nestedRecordBundle: either nested record, nothing else', () => {
    expect(nestedRecordBundle(rec2d)['text/plain']).toContain('2D walk');
    expect(nestedRecordBundle(ngpaRec)['text/plain']).toContain('ngpa_walk');
    fc.assert(fc.property(fc.oneof(notRecord, fc.constant(walkRec)), (v) => refused(t, () => nestedRecordBundle(v as never), { param: 'r', state })), FC);
  });

  it('walker views: an NgpaWalker, a Walk2D', () => {
    const bad = fc.oneof(junk, fc.constantFrom({}, { tdp: 'ept' }, gw));
    fc.assert(fc.property(bad, (v) => refused(t, () => ngpaWalkerBundle(v as never), { param: 'w', value: v })), FC);
    fc.assert(fc.property(fc.oneof(bad, fc.constant(s2.w)), (v) => refused(t, () => walk2dWalkerBundle(v as never), { param: 'w', value: v })), FC);
  });
});

describe('views of formats, roles, models and VMs refuse other values', () => {
  const badFormat = fc.oneof(junk, fc.constantFrom({}, walkRec, { ...fmt, permissions: null }, { ...fmt, rsvdBitsMask: [] }, { ...fmt, acc: undefined }));

  it('formatBundle, reservedBitsChart, permissionsChart: a page format', () => {
    expect(formatBundle(eptFormat({ level: 4, maxPhyAddr: 46, adEnabled: true, execonly: true, hugePageLevel: 3 }))['text/plain']).toContain('EPT');
    fc.assert(fc.property(badFormat, (v) => {
      for (const f of [formatBundle, reservedBitsChart, permissionsChart]) refused(t, () => f(v as never), { param: 'f', state });
    }), FC);
  });

  it('accessIndexName: an index of permissions[16], 0..15', () => {
    // update_permission_bitmask fills permissions[16]: index = error-code bits 4:1 (mmu.c, reference §4.3).
    fc.assert(fc.property(fc.oneof(badInt(0, 15), fc.constantFrom(16, -1)), (v) => refused(t, () => accessIndexName(v as number), { param: 'idx', value: v })), FC);
  });

  it('role views: a PageRole, a CpuRole', () => {
    const cpu = calcCpuRole(longMode(), DEFAULT_FEATURES);
    fc.assert(fc.property(fc.oneof(junk, fc.constantFrom({ word: 1 }, cpu)), (v) => refused(t, () => pageRoleBundle(v as never), { param: 'r', value: v })), FC);
    fc.assert(fc.property(fc.oneof(junk, fc.constantFrom({ base: cpu.base, ext: 1 }, cpu.base)), (v) => refused(t, () => cpuRoleBundle(v as never), { param: 'r', value: v })), FC);
    expect(pageRoleBundle(cpu.base)['text/plain']).toContain('PageRole');
    expect(cpuRoleBundle(cpu)['text/plain']).toContain('CpuRole');
    expect(PageRole.fromWord(0)).toBeInstanceOf(PageRole);
    expect(CpuRole.fromU64(0n)).toBeInstanceOf(CpuRole);
  });

  it('costModelBundle and tlbConfigBundle: a cost model, a TLB configuration', () => {
    const tlb = makeTlbConfig();
    const bad = fc.oneof(junk, fc.constantFrom({}, { ...tlb, vpid: 'yes' }, { ...tlb, stlb: null }, { ...tlb, dtlb4k: { entries: '64', ways: 4 } }));
    fc.assert(fc.property(bad, (v) => refused(t, () => tlbConfigBundle(v as never), { param: 'c', value: v })), FC);
    fc.assert(fc.property(fc.oneof(junk, fc.constantFrom({}, tlb)), (v) => refused(t, () => costModelBundle(v as never), { param: 'm', value: v })), FC);
    expect(costModelBundle(makeCostModel())['text/plain']).toContain('Cost model');
  });

  it('tdxSeptBundle: a Vm', () => {
    const vm = new Vm({ type: 'tdx' });
    const st = () => vmFingerprint(vm);
    fc.assert(fc.property(fc.oneof(junk, fc.constantFrom({}, { td: undefined }, { td: {} })), (v) => refused(t, () => tdxSeptBundle(v as never), { param: 'vm', value: v, state: st })), FC);
    expect(tdxSeptBundle(vm)['text/plain']).toContain('S-EPT');
  });

  it('richBundle still dispatches on the records it knows and answers undefined for others', () => {
    expect(richBundle(walkRec)?.['text/plain']).toContain('gva_walk');
    expect(richBundle(fmt)?.['text/plain']).toContain('4-level');
    expect(richBundle({ status: 'ok' })).toBeUndefined();
  });
});

describe('HTML and text helpers, prose', () => {
  it('esc: a string', () => {
    fc.assert(fc.property(junk.filter((v) => typeof v !== 'string'), (v) => refused(t, () => esc(v as string), { param: 's', value: v })), FC);
  });

  it('hex64: a u64 bigint', () => {
    fc.assert(fc.property(badBigint(), (v) => refused(t, () => hex64(v as bigint), { param: 'v', value: v })), FC);
    expect(hex64(0xffn)).toBe('0x00000000000000ff');
  });

  it('table / textTable: headers strings, rows arrays of strings or numbers, caption a string', () => {
    const notArray = junk.filter((v) => !Array.isArray(v));
    fc.assert(fc.property(notArray, (v) => {
      refused(t, () => table(v as never, []), { param: 'headers', value: v });
      refused(t, () => textTable(v as never, []), { param: 'headers', value: v });
      refused(t, () => table(['a'], v as never), { param: 'rows', value: v });
      refused(t, () => textTable(['a'], v as never), { param: 'rows', value: v });
      refused(t, () => table(['a'], [v as never]), { param: 'rows[0]', value: v });
    }), FC);
    const notCell = junk.filter((v) => typeof v !== 'string' && typeof v !== 'number');
    fc.assert(fc.property(notCell, (v) => {
      refused(t, () => table(['a', v as string], []), { param: 'headers[1]', value: v });
      refused(t, () => textTable(['a'], [['x', v as string]]), { param: 'rows[0][1]', value: v });
    }), FC);
    fc.assert(fc.property(notCell.filter((v) => v !== undefined), (v) => refused(t, () => table(['a'], [], v as string), { param: 'caption', value: v })), FC);
    expect(textTable(['a', 'b'], [[1, 'x']])).toBe('a  b\n1  x');
  });

  it('proseValue / md / Prose: prose cites numbers, bigints, strings, booleans', () => {
    const notProse = fc.oneof(fc.constantFrom(undefined, null, {}, Symbol('s'), () => 1, [1, undefined], [{}]));
    fc.assert(fc.property(notProse, (v) => {
      refused(t, () => proseValue(v), { param: 'v' });
      refused(t, () => md`x ${1} y ${v}`, { param: 'values[1]' });
    }), FC);
    fc.assert(fc.property(junk.filter((v) => typeof v !== 'string'), (v) => refused(t, () => new Prose(v as string), { param: 'markdown', value: v })), FC);
    fc.assert(fc.property(junk.filter((v) => !Array.isArray(v)), (v) => refused(t, () => md(v as never), { param: 'strings', value: v })), FC);
    expect(md`${1234} and ${0x10n} and ${[1, 2]}`.markdown).toBe('1,234 and 0x10 and 1, 2');
  });
});
