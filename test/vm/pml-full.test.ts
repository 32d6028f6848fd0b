/**
 * The PML buffer: the CPU logs a GPA each time it sets D in a 4 KiB EPT leaf, into a 512-entry page
 * (vmx.h:275 `PML_LOG_NR_ENTRIES 512`); when the index is out of 0..511 the next logging is a
 * "page-modification log-full event" VM exit (exit reason 62, vmx.c:6293 `handle_pml_full`), and
 * KVM empties the buffer on every VM exit (vmx.c:6628 `vmx_flush_pml_buffer` in
 * `__vmx_handle_exit`). So a guest that dirties L pages between two other exits takes
 * ⌈L / 512⌉ − 1 PML-full exits, and none when another exit comes before the buffer is full.
 */
import { describe, expect, it } from 'vitest';
import { guest } from '../../src';

const VA = 0x4000_0000n;
const PA = 0x100_0000n;

function pmlGuest(pages: number) {
  const g = guest({ spte: { flavour: 'ept', pml: true }, hostPageSize: '4K', checkInvariants: false });
  g.pt.map(VA, PA, { count: pages, flags: { writable: true, accessed: true, dirty: true } });
  // Mapped before logging starts: no write below faults (D cleared, W kept: x86.c:13249-13251).
  for (let i = 0; i < pages; i++) g.vcpu.write(VA + BigInt(i) * 4096n);
  g.vm.setDirtyLogging(g.ram, true);
  return g;
}

describe('PML-full exits (vmx.c: handle_pml_full, vmx_flush_pml_buffer)', () => {
  it('1,200 pages dirtied with no other exit: ⌈logged / 512⌉ − 1 PML-full exits, nothing else', () => {
    const g = pmlGuest(1200);
    const before = g.vcpu.stats.get('exits');
    for (let i = 0; i < 1200; i++) expect(g.vcpu.write(VA + BigInt(i) * 4096n).exits).toEqual([]);
    const exits = g.vcpu.stats.get('exits') - before;
    const logged = g.vm.getDirtyLog(g.ram).length; // data pages + the guest table pages the walks wrote (EPT A/D: table accesses are writes)
    expect(logged).toBeGreaterThanOrEqual(1200);
    // vmx.h:275 (512 entries), vmx.c:6628 (flushed at each exit): the 513th, 1025th, … logging exits.
    expect(exits).toBe(Math.ceil(logged / 512) - 1);
    expect(g.vcpu.stats.get('pml_full_exits')).toBe(Math.ceil(logged / 512) - 1);
    expect(g.vm.events.all.filter((e) => e.kind === 'pml_full').length).toBe(Math.ceil(logged / 512) - 1);
  });
  it('any other exit empties the buffer: 2 × 400 pages with an EPT violation between take no PML-full exit', () => {
    const g = pmlGuest(800);
    g.pt.map(VA + 0x1000_0000n, PA + 0x1000_0000n, { flags: { writable: true } });
    for (let i = 0; i < 400; i++) g.vcpu.write(VA + BigInt(i) * 4096n);
    const x = g.vcpu.read(VA + 0x1000_0000n); // never mapped by KVM: an EPT violation (vmx.c:6628 flushes)
    expect(x.exits.length).toBeGreaterThan(0);
    for (let i = 400; i < 800; i++) g.vcpu.write(VA + BigInt(i) * 4096n);
    expect(g.vcpu.stats.get('pml_full_exits')).toBe(0);
  });
  it('a harvest kicks every vCPU (x86.c:6558 kvm_arch_sync_dirty_log → kvm_vcpu_kick): one exit each, which empties its buffer', () => {
    const g = pmlGuest(800);
    const second = g.vm.createVcpu(g.vcpu.regs);
    for (let i = 0; i < 400; i++) g.vcpu.write(VA + BigInt(i) * 4096n);
    const [e0, e1] = [g.vcpu.stats.get('exits'), second.stats.get('exits')];
    g.vm.getDirtyLog(g.ram); // kvm_main.c:2181/2245: kvm_arch_sync_dirty_log before the bitmap is read
    expect([g.vcpu.stats.get('exits') - e0, second.stats.get('exits') - e1]).toEqual([1, 1]);
    for (let i = 400; i < 800; i++) g.vcpu.write(VA + BigInt(i) * 4096n);
    // 400 + 400 loggings, but the kick's exit flushed the first 400 (vmx.c:6628): no PML-full exit.
    expect(g.vcpu.stats.get('pml_full_exits')).toBe(0);
    g.vm.setManualDirtyLogProtect({ enable: true });
    const e2 = g.vcpu.stats.get('exits');
    g.vm.getDirtyLog(g.ram);
    g.vm.clearDirtyLog(g.ram); // kvm_main.c:2367: KVM_CLEAR_DIRTY_LOG syncs (kicks) too
    expect(g.vcpu.stats.get('exits') - e2).toBe(2);
  });
  it('without PML (write protection) there is no PML buffer: every first write exits instead', () => {
    const g = guest({ spte: { flavour: 'ept', pml: false }, hostPageSize: '4K', checkInvariants: false });
    g.pt.map(VA, PA, { count: 600, flags: { writable: true, accessed: true, dirty: true } });
    for (let i = 0; i < 600; i++) g.vcpu.write(VA + BigInt(i) * 4096n);
    g.vm.setDirtyLogging(g.ram, true);
    const before = g.vcpu.stats.get('exits');
    for (let i = 0; i < 600; i++) g.vcpu.write(VA + BigInt(i) * 4096n);
    // mmu.c: fast_page_fault restores W on each write-protected leaf (kvm_mmu_slot_remove_write_access).
    expect(g.vcpu.stats.get('exits') - before).toBeGreaterThanOrEqual(600);
    expect(g.vcpu.stats.get('pml_full_exits')).toBe(0);
    // x86.c:6569: kvm_arch_sync_dirty_log returns at once without cpu_dirty_log_size: no kick.
    const e = g.vcpu.stats.get('exits');
    g.vm.getDirtyLog(g.ram);
    expect(g.vcpu.stats.get('exits')).toBe(e);
  });
});
