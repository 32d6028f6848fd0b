/**
 * A cached MMIO SPTE never bypasses the guest's permissions (src/shadow/shadow-vcpu.ts
 * mmioGvaToGpa): KVM emulates on the cached MMIO SPTE (`mmu.c: handle_mmio_page_fault`,
 * mmu.c:4344-4356), and the emulator's translation (`x86.c: vcpu_mmio_gva_to_gpa`,
 * x86.c:7877-7905) uses the access bits `mark_mmio_spte` stored only if `permission_fault`
 * allows the access; otherwise it walks the guest tables, and a failing walk is a #PF injected
 * into the guest.
 */
import { describe, expect, it } from 'vitest';
import { CR0, CR4 } from '../../src';
import { shadowFixture } from './fixtures';

const VA = 0x7000_0000n;
/** Above the 1 GiB RAM slot: no memslot, so KVM installs an MMIO SPTE. */
const MMIO = 0x4000_0000n;
const PF = { P: 1, W: 2, U: 4, ID: 16 };

function withMmio(flags: { writable?: boolean; user?: boolean; dirty?: boolean; nx?: boolean }, extra: { cr0?: bigint; cr4?: bigint } = {}) {
  const f = shadowFixture('paging4', { extraRegs: extra });
  f.pt.map(VA, MMIO, { flags: { accessed: true, dirty: true, ...flags } });
  const first = f.v.read(VA);
  expect(first.status).toBe('emulated');
  expect(f.v.stats.get('pf_mmio_spte_created')).toBe(1);
  return f;
}

function cached(r: { exits: readonly { kind: string; errorCode?: bigint }[] }): boolean {
  // The hardware stopped at the MMIO SPTE: a reserved-bit #PF (PFERR.RSVD = 8).
  return r.exits.some((e) => ((e.errorCode ?? 0n) & 8n) !== 0n);
}

describe('a cached MMIO SPTE and the guest PTE permissions', () => {
  it('the same access again is emulated on the cached SPTE, without a second SPTE', () => {
    const f = withMmio({ writable: true });
    const r = f.v.read(VA);
    expect(cached(r)).toBe(true);
    expect(r.status).toBe('emulated'); // mmu.c:4356 RET_PF_EMULATE; x86.c:7890-7896 the cached access permits it
    expect(f.v.stats.get('pf_mmio_spte_created')).toBe(1);
  });

  it('the emulated access reports the GPA of the cached MMIO SPTE, whatever was walked before', () => {
    // Found by the fuzzer (shadow, seed 7): the result's GPA came from the last walk of another
    // address. handle_mmio_page_fault caches the MMIO SPTE's gfn (mmu.c:4355) and the
    // emulator's translation uses it without walking (x86.c:7890-7896).
    const f = withMmio({ writable: true });
    f.pt.map(VA + 0x1000n, 0x20_0000n, { flags: { accessed: true, dirty: true } });
    expect(f.v.read(VA + 0x1000n).status).toBe('ok');
    const r = f.v.read(VA + 0x123n);
    expect(cached(r)).toBe(true);
    expect(r.status).toBe('emulated');
    expect(r.gpa).toBe(MMIO + 0x123n);
  });

  it('a user read through a supervisor-only gPTE is a #PF (P|U), not an emulation', () => {
    const f = withMmio({ writable: true, user: false });
    const r = f.v.read(VA, true);
    expect(cached(r)).toBe(true);
    // x86.c:7890-7892 permission_fault(mmio_access without U, PFERR_USER) → x86.c:7899 full walk,
    // which fails: paging_tmpl.h:436 permission_fault, error code P (paging_tmpl.h:436 errcode) | U (:477).
    expect(r.status).toBe('guest-pf');
    expect(r.guestWalk.status === 'fault' && r.guestWalk.errorCode).toBe(PF.P | PF.U);
    expect(f.v.stats.get('pf_guest')).toBe(1);
  });

  it('a write through a read-only gPTE (CR0.WP=1) is a #PF (P|W)', () => {
    const f = withMmio({ writable: false });
    const r = f.v.write(VA);
    expect(cached(r)).toBe(true);
    // x86.c:7890-7892 → :7899; paging_tmpl.h:436 and :477: P | W.
    expect(r.status).toBe('guest-pf');
    expect(r.guestWalk.status === 'fault' && r.guestWalk.errorCode).toBe(PF.P | PF.W);
  });

  it('a supervisor write through a read-only gPTE with CR0.WP=0 is emulated', () => {
    const f = withMmio({ writable: false }, { cr0: CR0.PE | CR0.PG });
    const r = f.v.write(VA);
    expect(cached(r)).toBe(true);
    // permission_fault allows supervisor writes to read-only pages when CR0.WP=0 (update_permission_bitmask).
    expect(r.status).toBe('emulated');
  });

  it('a write through a clean writable gPTE: the cached access lacks W, the walk succeeds and sets D', () => {
    const f = withMmio({ writable: true, dirty: false });
    // protect_clean_gpte (paging_tmpl.h) dropped W from the access the read stored in the MMIO SPTE.
    const r = f.v.write(VA);
    expect(cached(r)).toBe(true);
    expect(r.status).toBe('emulated'); // x86.c:7899 the full walk succeeds
    expect(f.pt.getEntry(VA, 1).value & 0x40n).toBe(0x40n); // paging_tmpl.h:454-467: the walk sets D
  });

  it('an instruction fetch through an NX gPTE is a #PF (P|I/D)', () => {
    const f = withMmio({ writable: true, nx: true });
    const r = f.v.fetch(VA);
    // kvm_fetch_guest_virt walks with PFERR_FETCH_MASK: paging_tmpl.h:436, :478 I/D with EFER.NX.
    expect(r.status).toBe('guest-pf');
    expect(r.guestWalk.status === 'fault' && r.guestWalk.errorCode).toBe(PF.P | PF.ID);
  });

  it('SMAP: a supervisor read through a user gPTE is a #PF, with EFLAGS.AC it is emulated', () => {
    const f = shadowFixture('paging4', { extraRegs: { cr4: CR4.SMAP } });
    f.pt.map(VA, MMIO, { flags: { accessed: true, dirty: true, writable: true, user: true } });
    expect(f.v.read(VA, true).status).toBe('emulated'); // a user read builds the MMIO SPTE
    const r = f.v.read(VA);
    expect(cached(r)).toBe(true);
    // update_permission_bitmask: SMAP faults a supervisor data access to a user page unless
    // EFLAGS.AC (permission_fault's not_smap); x86.c:7890-7892 → :7899 → #PF with P.
    expect(r.status).toBe('guest-pf');
    expect(r.guestWalk.status === 'fault' && r.guestWalk.errorCode).toBe(PF.P);
    expect(f.v.access(VA, { kind: 'read', ac: true }).status).toBe('emulated');
  });
});
