/**
 * The vCPU side of shadow paging (src/shadow/shadow-vcpu.ts) as the public Vcpu shows it: its
 * root role is root_mmu's shadow role, not the TDP one.
 */
import { describe, expect, it } from 'vitest';
import { CR0 } from '../../src';
import { shadowFixture } from './fixtures';

describe('vcpu.rootRole without TDP', () => {
  it('4-level guest: cpu_role.base with efer_nx forced, indirect, and the role of the root shadow page', () => {
    const f = shadowFixture('paging4');
    const r = f.v.rootRole;
    expect(r.direct).toBe(false); // mmu.c:5691 root_role = cpu_role.base (paging on: indirect, mmu.c:5546)
    expect(r.level).toBe(4); // mmu.c:5694 max(level, PT32E_ROOT_LEVEL) with a 4-level guest (mmu.c:5557)
    expect(r.eferNx).toBe(true); // mmu.c:5705
    expect(r.word).toBe(f.v.role.base.with({ eferNx: true }).word); // mmu.c:5691-5705
    f.v.read(f.dm(0x10_0000n));
    // mmu_alloc_shadow_roots → mmu_alloc_root(root_gfn, 0, root_role.level): the root page has this role.
    expect(f.vm.shadow.find(Number(f.pt.root >> 12n))[0]!.role.word).toBe(r.word);
  });

  it('32-bit guest without NX: level raised to PAE, four-byte gPTEs, efer_nx still forced', () => {
    const f = shadowFixture('paging32');
    const r = f.v.rootRole;
    expect(f.v.role.base.level).toBe(2); // mmu.c:5562 PT32_ROOT_LEVEL
    expect(r.level).toBe(3); // mmu.c:5694 PT32E_ROOT_LEVEL
    expect(r.hasFourByteGpte).toBe(true); // mmu.c:5554 !CR4.PAE, copied from cpu_role.base
    expect(r.eferNx).toBe(true); // mmu.c:5705
    expect(r.direct).toBe(false);
  });

  it('follows the registers: paging off gives a direct role, and setRegisters reports the root change', () => {
    const f = shadowFixture('paging32');
    const before = f.v.rootRole.word;
    const res = f.v.setRegisters({ cr0: CR0.PE });
    expect(res.rootChanged).toBe(true);
    expect(f.v.rootRole.word).not.toBe(before);
    expect(f.v.rootRole.direct).toBe(true); // mmu.c:5545-5546 !CR0.PG → direct, level 0
    expect(f.v.rootRole.level).toBe(3); // mmu.c:5694: level 0 raised to PT32E_ROOT_LEVEL
  });
});
