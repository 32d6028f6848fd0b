/** Bad input to register sets and CPUID features (src/cpu, src/role, src/walker): typed, named refusals. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  calcCpuRole, GvaWalker, GuestMemory, DEFAULT_FEATURES, CR0, CR4, EFER, PageRole, CpuRole, pageRoleLayout, pageRoleKvmName, extRoleBits,
  extRoleKvmName, validatePagingRegisters, type PagingRegisters, type CpuFeatures,
} from '../../src';
import { FC, Tally, badBigint, badBool, badEnum, badInt, junk, refused } from './support';

const t = new Tally('role');
const LONG: PagingRegisters = { cr0: CR0.PE | CR0.PG | CR0.WP, cr3: 0x1000n, cr4: CR4.PAE, efer: EFER.LME | EFER.LMA };

describe('calcCpuRole and GvaWalker refuse bad register sets and features', () => {
  it('registers: numbers, strings, negative or > 64-bit values; smm/guestMode not booleans; pkru out of range', () => {
    for (const r of ['cr0', 'cr3', 'cr4', 'efer'] as const) {
      fc.assert(fc.property(badBigint(), (v) => refused(t, () => calcCpuRole({ ...LONG, [r]: v } as PagingRegisters, DEFAULT_FEATURES), { param: `regs.${r}`, value: v })), FC);
    }
    fc.assert(fc.property(badBool, (v) => refused(t, () => calcCpuRole({ ...LONG, smm: v as boolean }, DEFAULT_FEATURES), { param: 'regs.smm', value: v })), FC);
    fc.assert(fc.property(badBool, (v) => refused(t, () => calcCpuRole({ ...LONG, guestMode: v as boolean }, DEFAULT_FEATURES), { param: 'regs.guestMode', value: v })), FC);
    fc.assert(fc.property(badInt(0, 0xffff_ffff), (v) => refused(t, () => calcCpuRole({ ...LONG, pkru: v as number }, DEFAULT_FEATURES), { param: 'regs.pkru', value: v })), FC);
    for (const v of [null, undefined, 3, 'regs']) refused(t, () => calcCpuRole(v as never, DEFAULT_FEATURES), { param: 'regs', value: v });
  });

  it('impossible combinations name the register and the rule', () => {
    const cases: [Partial<PagingRegisters>, string][] = [
      [{ cr0: CR0.PG }, 'CR0'], [{ cr4: 0n }, 'CR4'], [{ efer: EFER.LMA }, 'EFER'], [{ cr0: 1n << 40n }, 'CR0'],
      [{ cr3: 1n << 50n }, 'CR3'], [{ cr4: CR4.PAE | CR4.PCIDE, efer: 0n, cr0: CR0.PE | CR0.PG }, 'CR4'],
    ];
    for (const [u, p] of cases) refused(t, () => calcCpuRole({ ...LONG, ...u }, DEFAULT_FEATURES), { param: p });
  });

  it('features: MAXPHYADDR outside 32..52, flags not booleans, vendor "toString"', () => {
    const feat = (o: object) => ({ ...DEFAULT_FEATURES, ...o }) as CpuFeatures;
    fc.assert(fc.property(badInt(32, 52), (v) => refused(t, () => calcCpuRole(LONG, feat({ maxPhyAddr: v })), { param: 'features.maxPhyAddr', value: v })), FC);
    for (const k of ['nx', 'gbpages', 'la57', 'smep', 'smap', 'pku']) {
      fc.assert(fc.property(badBool, (v) => refused(t, () => calcCpuRole(LONG, feat({ [k]: v })), { param: `features.${k}`, value: v })), { ...FC, numRuns: 8 });
    }
    fc.assert(fc.property(badEnum(['intel', 'amd']), (v) => refused(t, () => calcCpuRole(LONG, feat({ vendor: v })), { param: 'features.vendor', value: v })), FC);
  });

  it('GvaWalker: the same checks before a walker exists; walk() with bad addresses', () => {
    const mem = new GuestMemory({ maxPhyAddr: 46 });
    fc.assert(fc.property(badBigint(), (v) => refused(t, () => new GvaWalker(mem, { ...LONG, cr3: v as bigint }), { param: 'regs.cr3', value: v })), FC);
    const w = new GvaWalker(mem, LONG);
    fc.assert(fc.property(badBigint({ numbersOk: true }), (v) => refused(t, () => w.walk(v as bigint, { kind: 'read' }), { param: 'GVA', value: v })), FC);
  });
});

describe('page roles and CPU roles refuse bad words, fields, versions and operands', () => {
  const role = PageRole.pack({ level: 4, access: 0xf, direct: true });
  const cpu = calcCpuRole(LONG, DEFAULT_FEATURES);
  /** Roles are frozen values: a refusal leaves them as they were. */
  const state = () => `${role.word}|${role.kvm}|${cpu.asU64}`;
  const badKvm = badEnum(['7.3', '6.16']).filter((v) => v !== undefined);
  const notObject = junk.filter((v) => v !== undefined && (typeof v !== 'object' || v === null));

  it('versions: pageRoleLayout, extRoleBits, fromWord, pack, fromU64 take "7.3" or "6.16"', () => {
    fc.assert(fc.property(badKvm, (v) => {
      refused(t, () => pageRoleLayout(v as '7.3'), { param: 'kvm', value: v, state });
      refused(t, () => extRoleBits(v as '7.3'), { param: 'kvm', value: v, state });
      refused(t, () => PageRole.fromWord(0, v as '7.3'), { param: 'kvm', value: v, state });
      refused(t, () => PageRole.pack({}, v as '7.3'), { param: 'kvm', value: v, state });
      refused(t, () => CpuRole.fromU64(0n, v as '7.3'), { param: 'kvm', value: v, state });
    }), FC);
  });

  it('PageRole.fromWord: an unsigned 32-bit word (union kvm_mmu_page_role, kvm_host.h); CpuRole.fromU64: as_u64 with the extended role in bits 39:32', () => {
    fc.assert(fc.property(fc.oneof(badInt(0, 0xffff_ffff), fc.constant(2 ** 32)), (v) => refused(t, () => PageRole.fromWord(v as number), { param: 'word', value: v, state })), FC);
    fc.assert(fc.property(fc.oneof(badBigint({ max: (1n << 40n) - 1n })), (v) => refused(t, () => CpuRole.fromU64(v as bigint), { param: 'v', value: v, state })), FC);
  });

  it('PageRole.pack / with: own field names, booleans or integers of the field width, version-only fields false', () => {
    fc.assert(fc.property(notObject, (v) => {
      refused(t, () => PageRole.pack(v as never), { param: 'fields', value: v, state });
      refused(t, () => role.with(v as never), { param: 'fields', value: v, state });
    }), FC);
    // Prototype keys are no fields: 'toString' used to reach a destructuring of Object.prototype.toString (TypeError).
    for (const k of ['toString', '__proto__', 'constructor', 'lvl', 'cr4_smep']) {
      refused(t, () => PageRole.pack(JSON.parse(`{"${k}": 1}`)), { param: `fields.${k}`, state });
      refused(t, () => role.with(JSON.parse(`{"${k}": 1}`)), { param: `fields.${k}`, state });
    }
    // level is 4 bits, access 4 bits in 7.3 (kvm-7x.md §3.1) and 3 in 6.16, quadrant 2, smm 8 (kvm_host.h).
    fc.assert(fc.property(fc.oneof(badInt(0, 15), fc.constant(16), fc.constant('4'), fc.constant(4n)), (v) => {
      refused(t, () => PageRole.pack({ level: v as number }), { param: 'fields.level', value: v, state });
      refused(t, () => role.with({ access: v as number }), { param: 'fields.access', value: v, state });
    }), FC);
    refused(t, () => PageRole.pack({ access: 8 }, '6.16'), { param: 'fields.access', value: 8, state });
    fc.assert(fc.property(fc.oneof(badInt(0, 255), fc.constant(256)), (v) => refused(t, () => PageRole.pack({ smm: v as number }), { param: 'fields.smm', value: v, state })), FC);
    fc.assert(fc.property(fc.constantFrom('yes', 'true', 1n, null, {}, []), (v) => refused(t, () => role.with({ direct: v as boolean }), { param: 'fields.direct', value: v, state })), FC);
    // cr4Smep is 7.3's base bit 20; smepAndnotWp is 6.16's bit 14 (kvm-7x.md §3.1).
    refused(t, () => PageRole.pack({ cr4Smep: true }, '6.16'), { param: 'fields.cr4Smep', value: true, state });
    refused(t, () => role.with({ smepAndnotWp: true }), { param: 'fields.smepAndnotWp', value: true, state });
    expect(role.with({ level: 3 }).level).toBe(3);
  });

  it('CpuRole.of: a PageRole base; an 8-bit extended word or boolean fields of the version', () => {
    fc.assert(fc.property(fc.oneof(junk, fc.constantFrom({ word: 0, kvm: '7.3' }, cpu)), (v) => refused(t, () => CpuRole.of(v as never, 0), { param: 'base', value: v, state })), FC);
    fc.assert(fc.property(fc.oneof(badInt(0, 0xff), fc.constant(0x100)).filter((v) => typeof v === 'number'), (v) => refused(t, () => CpuRole.of(role, v as number), { param: 'ext', value: v, state })), FC);
    fc.assert(fc.property(junk.filter((v) => typeof v !== 'number' && (typeof v !== 'object' || v === null)), (v) => refused(t, () => CpuRole.of(role, v as never), { param: 'ext', value: v, state })), FC);
    fc.assert(fc.property(fc.constantFrom('yes', 1, 0, 1n, null), (v) => refused(t, () => CpuRole.of(role, { cr4Pse: v as never }), { param: 'ext.cr4Pse', value: v, state })), FC);
    for (const k of ['toString', '__proto__', 'smep']) refused(t, () => CpuRole.of(role, JSON.parse(`{"${k}": true}`)), { param: `ext.${k}`, state });
    // ext.cr4_smep is 6.16's bit 5; 7.3 moved it to the base role (kvm-7x.md §3.2).
    refused(t, () => CpuRole.of(role, { cr4Smep: true }), { param: 'ext.cr4Smep', value: true, state });
  });

  it('equals: the other operand is a role of the same class', () => {
    fc.assert(fc.property(fc.oneof(junk, fc.constantFrom({ word: role.word, kvm: '7.3' }, cpu)), (v) => refused(t, () => role.equals(v as never), { param: 'other', value: v, state })), FC);
    fc.assert(fc.property(fc.oneof(junk, fc.constantFrom({ key: cpu.key, kvm: '7.3' }, role)), (v) => refused(t, () => cpu.equals(v as never), { param: 'o', value: v, state })), FC);
    expect(role.equals(PageRole.fromWord(role.word))).toBe(true);
  });

  it('pageRoleKvmName / extRoleKvmName: field names, not prototype keys', () => {
    fc.assert(fc.property(badEnum(['level', 'access', 'direct', 'smm', 'cr4Smep']), (v) => refused(t, () => pageRoleKvmName(v as 'level'), { param: 'k', value: v })), FC);
    fc.assert(fc.property(badEnum(['valid', 'execonly', 'cr4Pse', 'hasPferrFetch']), (v) => refused(t, () => extRoleKvmName(v as 'valid'), { param: 'k', value: v })), FC);
    expect(pageRoleKvmName('hasFourByteGpte')).toBe('has_4_byte_gpte');
  });

  it('validatePagingRegisters: the type checks of calcCpuRole', () => {
    fc.assert(fc.property(badBigint(), (v) => refused(t, () => validatePagingRegisters({ ...LONG, cr4: v as bigint }, DEFAULT_FEATURES), { param: 'regs.cr4', value: v })), FC);
    fc.assert(fc.property(junk, (v) => refused(t, () => validatePagingRegisters(LONG, v as never), { param: 'features' })), FC);
    // kvm_is_valid_cr4 / kvm_set_cr0: CR0.PG without CR0.PE (SDM Vol. 3A 2.5).
    refused(t, () => validatePagingRegisters({ ...LONG, cr0: CR0.PG }, DEFAULT_FEATURES), { param: 'CR0' });
    fc.assert(fc.property(badKvm, (v) => refused(t, () => calcCpuRole(LONG, DEFAULT_FEATURES, v as '7.3'), { param: 'kvm', value: v })), FC);
  });
});
