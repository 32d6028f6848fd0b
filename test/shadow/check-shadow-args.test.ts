/**
 * The shadow MMU's argument checks (src/shadow/check-shadow-args.ts) one by one: each refusal's
 * class, rule id and message text, each boundary accepted and its neighbour refused. The rule ids
 * and texts are this library's (src/errors.ts: an error names argument, value and rule); the
 * bounds are KVM's and the SDM's, cited where they are used (a page holds 512 SPTEs, mmu.h
 * SPTE_ENT_PER_PAGE; KVM_MAX_VCPUS at most 4096, kvm_host.h:54; MAXPHYADDR 32..52 and frames
 * below 2^40, SDM Vol. 3A 4.1.4; a #PF error code of 32 bits, SDM Vol. 3A 4.7).
 *
 * Equivalent mutant left alive: checkVmSlot's `base > GFN_MAX` → `base >= GFN_MAX`. A base of
 * exactly 2^40 - 1 is then refused before the VM's lookup instead of by it (no slot of the VM
 * starts there, so the lookup gives another object or none): the same refusal either way.
 */
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError, PageRole, PageSizeError, ShadowPage } from '../../src';
import * as A from '../../src/shadow/check-shadow-args';
import { warm } from '../validate/shadow-support';
import { shadowFixture } from './fixtures';
import { err, refuses } from './refusal';

describe('check-shadow-args', () => {
  it('numbers: index 0..511, vCPU -1..4095, root frame -1..2^40-1, GPA below 2^52, error codes and flags', () => {
    expect([A.checkSpteIndex('i', 0), A.checkSpteIndex('i', 511)]).toEqual([0, 511]);
    refuses(() => A.checkSpteIndex('i', 512), InvalidArgumentError, 'integer-range', 'i must be in [0, 511]');
    refuses(() => A.checkSpteIndex('i', -1), InvalidArgumentError, 'integer-range', 'i must be in [0, 511]');
    expect([A.checkVcpuArg('v', -1), A.checkVcpuArg('v', 4095)]).toEqual([-1, 4095]);
    refuses(() => A.checkVcpuArg('v', -2), InvalidArgumentError, 'integer-range', 'v must be in [-1, 4095]');
    refuses(() => A.checkVcpuArg('v', 4096), InvalidArgumentError, 'integer-range', 'v must be in [-1, 4095]');
    expect([A.checkRootHpa('r', -1), A.checkRootHpa('r', 2 ** 40 - 1)]).toEqual([-1, 2 ** 40 - 1]);
    refuses(() => A.checkRootHpa('r', -2), InvalidArgumentError, 'integer-range', 'r must be in [-1, 1099511627775]');
    expect(A.checkGpaNumber('g', 2 ** 52 - 1)).toBe(2 ** 52 - 1);
    refuses(() => A.checkGpaNumber('g', 2 ** 52), InvalidArgumentError, 'integer-range', 'g must be in [0, 4503599627370495]');
    expect(A.checkPageLevel('l', 5)).toBe(5);
    refuses(() => A.checkPageLevel('l', 6), PageSizeError, 'integer-range', 'l must be in [1, 5]');
    refuses(() => A.checkPageLevel('l', 0), PageSizeError, 'integer-range', 'l must be in [1, 5]');
    expect(A.checkAccess('a', 7, 7)).toBe(7);
    refuses(() => A.checkAccess('a', 8, 7), InvalidArgumentError, 'integer-range', 'a must be in [0, 7]');
    expect(A.checkMaxPhyAddr('m', 32)).toBe(32);
    refuses(() => A.checkMaxPhyAddr('m', 53), InvalidArgumentError, 'integer-range', 'm must be in [32, 52]');
    expect(() => A.checkFaultCode('ec', 0xffff_ffff)).not.toThrow();
    refuses(() => A.checkFaultCode('ec', 2 ** 32), InvalidArgumentError, 'integer-range', 'ec must be in [0, 4294967295]');
    expect(() => A.checkFaultCode('ec', 0, 'f', 3, 3)).not.toThrow();
    refuses(() => A.checkFaultCode('ec', 0, 'f', 4, 3), InvalidArgumentError, 'access-flags', 'f must be ACCESS_AC and/or ACCESS_IMPLICIT');
    refuses(() => A.checkFaultCode('ec', 0, 'f', 2 ** 32, 3), InvalidArgumentError, 'integer-range', 'f must be in [0, 4294967295]');
    expect(A.checkLinear('x', 5)).toBe(5n);
    expect(A.checkLinear('x', (1n << 64n) - 1n)).toBe((1n << 64n) - 1n);
    refuses(() => A.checkLinear('x', 1n << 64n), InvalidArgumentError, 'bigint-range', 'x must be in [0x0, 0xffffffffffffffff]');
    refuses(() => A.checkLinear('x', '0x1000'), InvalidArgumentError, 'bigint-type', 'x must be a bigint or a safe integer');
  });

  it('ranges: end up to 2^40 and not below start', () => {
    expect(() => A.checkGfnRange(5, 5)).not.toThrow();
    expect(() => A.checkGfnRange(0, 2 ** 40)).not.toThrow();
    refuses(() => A.checkGfnRange(0, 2 ** 40 + 1), InvalidArgumentError, 'integer-range', 'end must be in [0, 1099511627776]');
    refuses(() => A.checkGfnRange(6, 5), InvalidArgumentError, 'range-order', 'end must not be below start (0x6)');
  });

  it('pages, lists, roles, slots, reasons, walkers, contexts', () => {
    const { f, m, pt, pd, ctx, stranger } = warm();
    const pages = new Map(m.allPages.map((p) => [p.pfn, p]));
    refuses(() => A.checkShadowPage('sp', {}), InvalidArgumentError, 'shadow-page', 'sp must be a ShadowPage');
    refuses(() => A.checkOwnPage('sp', stranger, pages), InvalidArgumentError, 'shadow-page-unknown', 'sp is not a live shadow page of this MMU (freed, or made outside it)');
    refuses(() => A.checkPageOf('sp', stranger, m), InvalidArgumentError, 'shadow-page-unknown', 'sp is not a live shadow page of this MMU (freed, or made outside it)');
    expect(A.checkPageOf('sp', pt, m)).toBe(pt);
    expect(A.checkPageList('l', [pt, pd], pages)).toEqual([pt, pd]);
    refuses(() => A.checkPageList('l', [pt, pd, pt], pages), InvalidArgumentError, 'duplicate-page', 'l[2] is listed twice');
    expect(A.checkPagesOf('l', [pt, pd], m)).toEqual([pt, pd]);
    refuses(() => A.checkPagesOf('l', [pd, pt, pd], m), InvalidArgumentError, 'duplicate-page', 'l[2] is listed twice');
    refuses(() => A.checkRole('r', 5, '6.16'), InvalidArgumentError, 'page-role', 'r must be a PageRole');
    refuses(() => A.checkRole('r', PageRole.pack({ level: 1 }, '7.3'), '6.16'), InvalidArgumentError, 'page-role-version', 'r must be a role of KVM 6.16 (the VM\'s version)');
    refuses(() => A.checkRole('r', PageRole.pack({ level: 6 }, '6.16'), '6.16'), PageSizeError, 'integer-range', 'r.level must be in [1, 5]');
    const slotOf = (g: number) => f.vm.slotOfGfn(g);
    expect(A.checkVmSlot('s', f.ram, slotOf)).toBe(f.ram);
    for (const base of [-1, 2 ** 40, 1.5, 'x']) refuses(() => A.checkVmSlot('s', { ...f.ram, baseGfn: base }, slotOf), InvalidArgumentError, 'memslot-unknown', 's is not a memslot of this VM (pass the object addMemslot returned, not a copy)');
    // A base of 2^40 - 1 reaches the VM's lookup (no slot there) and is refused as a copy.
    refuses(() => A.checkVmSlot('s', { ...f.ram, baseGfn: 2 ** 40 - 1 }, slotOf), InvalidArgumentError, 'memslot-unknown', 's is not a memslot');
    refuses(() => A.checkReason('w', 5), InvalidArgumentError, 'string-type', 'w must be a string');
    refuses(() => A.checkWalker('w', {}), InvalidArgumentError, 'gva-walker', 'w must be a GvaWalker');
    expect(A.checkContext('c', ctx, f.vm.guestMem)).toBe(ctx);
    expect(A.checkContext('c', ctx)).toBe(ctx);
    refuses(() => A.checkContext('c', {}), InvalidArgumentError, 'shadow-context', 'c must be a ShadowContext of this VM');
    const other = shadowFixture('paging4');
    refuses(() => A.checkContext('c', ctx, other.vm.guestMem), InvalidArgumentError, 'shadow-context', 'c must be a ShadowContext of this VM');
    void ShadowPage;
  });

  it('checkMmuOps and checkNestedMmuArgs: what a ShadowMmu has', () => {
    const { f, m } = warm();
    const fn = () => 0;
    expect(A.checkMmuOps('mmu', m)).toBe(m);
    for (const v of [undefined, null, 5, {}, { pageAtUnchecked: fn, vm: {} }, { setSpteUnchecked: fn, vm: {} }, { setSpteUnchecked: fn, pageAtUnchecked: fn }, { setSpteUnchecked: fn, pageAtUnchecked: fn, vm: null }, { setSpteUnchecked: fn, pageAtUnchecked: fn, vm: 5 }]) {
      refuses(() => A.checkMmuOps('mmu', v), InvalidArgumentError, 'shadow-mmu', 'mmu must be a ShadowMmu (a VM\'s vm.shadow)');
    }
    expect(() => A.checkNestedMmuArgs(f.vm, 4095, f.v.stats)).not.toThrow();
    for (const shadow of [undefined, null, 5, {}]) refuses(() => A.checkNestedMmuArgs({ shadow }, 0, f.v.stats), InvalidArgumentError, 'shadow-mmu', 'vm.shadow must be the VM\'s ShadowMmu');
    refuses(() => A.checkNestedMmuArgs(f.vm, 4096, f.v.stats), InvalidArgumentError, 'integer-range', 'index must be in [0, 4095]');
    refuses(() => A.checkNestedMmuArgs(f.vm, 0, {}), InvalidArgumentError, 'counters', 'stats must be the vCPU\'s Counters');
    refuses(() => A.checkEntered(undefined), InvalidArgumentError, 'nested-not-entered', 'an L2 access before the first nested entry (enter) has no L2 walker');
    expect(err(() => A.checkEntered(undefined)).value).toBe('undefined');
    expect(() => A.checkEntered(f.v.walker)).not.toThrow();
  });
});
