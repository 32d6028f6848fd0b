/**
 * EPT with A/D disabled: the CPU reads a guest paging-structure entry, and when it must set A/D
 * it writes the entry as a separate read+write access through EPT (kvm-unit-tests
 * x86/vmx_tests.c:3287-3293). A write-protected SPTE (dirty logging without PML) turns that write
 * into an EPT violation, and KVM's fast path marks the page-table page dirty
 * (`fast_pf_fix_direct_spte` → `mark_page_dirty_in_slot`, mmu.c:3544): the CPU's write is in the
 * next harvest like any other write.
 */
import { describe, expect, it } from 'vitest';
import { EPT_QUAL } from '../../src';
import { fixture } from './fixtures';

describe('TDP, EPT A/D off: the CPU\'s A/D writes to guest entries go through EPT', () => {
  it('setting A in a guest PTE on a write-protected page exits, is fixed by the fast path and logged dirty', () => {
    const { vm, v, pt, ram } = fixture({ flavour: 'ept', adEnabled: false }, '4K');
    pt.map(0x7000_0000n, 0x20_0000n, { count: 2 });
    expect(v.read(0x7000_0000n).status).toBe('ok');
    expect(v.read(0x7000_1000n).status).toBe('ok'); // both data pages mapped
    // The guest clears A in the second PTE (page aging), then logging starts.
    const pte = pt.getEntry(0x7000_1000n, 1);
    pt.setEntry(0x7000_1000n, 1, pte.value & ~0x20n);
    vm.setDirtyLogging(ram, true);
    const pteGpa = BigInt(pte.gpa);
    expect(pteGpa & 0xfffn).toBe(8n); // PTE index 1
    expect(pt.getEntry(0x7000_1000n, 1).value & 0x20n).toBe(0n);
    const r = v.read(0x7000_1000n);
    expect(r.status).toBe('ok');
    expect(pt.getEntry(0x7000_1000n, 1).value & 0x20n).toBe(0x20n); // the CPU set A
    const e = r.exits.filter((x) => x.onGuestTable);
    expect(e.map((x) => [x.gpa, x.info, x.ret, x.fast])).toEqual([
      // vmx_tests.c:3293: WR|RD|PERM_RD for a read-only EPT entry (here also X: only W was removed);
      // the address is the written PTE's own GPA, its table + 8 × 1 (SDM Vol. 3C §28.2.1: the
      // guest-physical address that caused the violation; ept-table-access-gpa.test.ts)
      [pteGpa, BigInt(EPT_QUAL.ACC_READ | EPT_QUAL.ACC_WRITE | EPT_QUAL.PROT_READ | EPT_QUAL.PROT_EXEC | EPT_QUAL.GVA_IS_VALID), 'RET_PF_FIXED', true],
    ]);
    // The page table page was written by the CPU; the data page only read (mmu.c:3544).
    expect(vm.getDirtyLog(ram)).toEqual([pteGpa & ~0xfffn]);
  });

  it('an entry whose A is already set needs no write: no exit for a read', () => {
    const { vm, v, pt, ram } = fixture({ flavour: 'ept', adEnabled: false }, '4K');
    pt.map(0x7000_0000n, 0x20_0000n, { count: 2, flags: { accessed: true } });
    expect(v.read(0x7000_0000n).status).toBe('ok');
    expect(v.read(0x7000_1000n).status).toBe('ok');
    vm.setDirtyLogging(ram, true);
    expect(v.read(0x7000_1000n).exits).toEqual([]);
    expect(vm.getDirtyLog(ram)).toEqual([]);
  });
});
