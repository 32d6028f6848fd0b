import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Vm, PageTableBuilder, memslotPfn, CR0, CR4, EFER, InvalidArgumentError, GpaOutsideMemoryError, InvalidRegisterStateError, EPT_QUAL, NPF_GUEST_FINAL, NPF_GUEST_PAGE, decodeEptQualification } from '../../src';
import { fixture, LONG_MODE } from './fixtures';

describe('vCPU access pipeline under TDP', () => {
  for (const flavour of ['ept', 'npt'] as const) {
    it(`${flavour}: a cold access exits for the guest table page, then for the data page, then runs without exits`, () => {
      const { vm, v, pt } = fixture({ flavour });
      pt.map(0x7000_0000n, 0x20_0000n, { count: 2, flags: { writable: true } });
      const r = v.write(0x7000_0123n);
      expect(r.status).toBe('ok');
      expect(r.gpa).toBe(0x20_0123n);
      expect(r.exits.map((e) => [e.onGuestTable, e.gpa, e.ret])).toEqual([
        [true, 0x10_0000n, 'RET_PF_FIXED'], // the PML4 page (all tables share one 2M TDP page)
        [false, 0x20_0123n, 'RET_PF_FIXED'],
      ]);
      expect(r.attempts).toBe(3);
      expect(v.write(0x7000_1000n).exits).toEqual([]);
      expect(v.stats.get('pf_fixed')).toBe(2);
      expect(vm.stats.get('pages_2m')).toBe(2);
    });
  }

  it("EPT violation qualification and error code: a write to a write-protected page (KVM '6.16')", () => {
    const { vm, v, pt, ram } = fixture({ flavour: 'ept', kvm: '6.16' }, '4K');
    pt.map(0x7000_0000n, 0x20_0000n, { flags: { writable: true } });
    v.read(0x7000_0000n);
    vm.setDirtyLogging(ram, true);
    const e = v.write(0x7000_0008n).exits.find((x) => !x.onGuestTable)!;
    expect(e.kind).toBe('ept_violation');
    // write access; R and X allowed, W not; guest-linear, final translation
    expect(e.info).toBe(BigInt(EPT_QUAL.ACC_WRITE | EPT_QUAL.PROT_READ | EPT_QUAL.PROT_EXEC | EPT_QUAL.GVA_IS_VALID | EPT_QUAL.GVA_TRANSLATED));
    expect(decodeEptQualification(Number(e.info))).toBe('WRITE|PROT_READ|PROT_EXEC|GVA_IS_VALID|GVA_TRANSLATED');
    expect(e.errorCode).toBe(3n); // W|P (no GUEST_FINAL: the v6.16 bug, reference §6.5)
    expect(e.ret).toBe('RET_PF_FIXED');
    expect(e.fast).toBe(true);
  });

  it("EPT violation on a not-present entry: PROT bits 0, read access (KVM '6.16')", () => {
    const { v, pt } = fixture({ flavour: 'ept', adEnabled: false, kvm: '6.16' });
    pt.map(0x7000_0000n, 0x20_0000n);
    const e = v.read(0x7000_0000n).exits[0]!;
    // With EPT A/D off, guest table reads are reads.
    expect(e.info).toBe(BigInt(EPT_QUAL.ACC_READ | EPT_QUAL.GVA_IS_VALID));
    expect(e.errorCode).toBe(4n); // read → U
  });

  // KVM 7.3 __vmx_handle_ept_violation (kvm-7x.md §1.3, the 7.3 vmx/common.h [T]): a read sets no
  // PFERR bit (PFERR_USER is the user-mode linear address), and the stage comes from qualification
  // bits 7/8: GVA_TRANSLATED → PFERR_GUEST_FINAL (bit 32), else PFERR_GUEST_PAGE (bit 33).
  it("KVM '7.3' (the default): the same write-protected write gets W|P|PFERR_GUEST_FINAL", () => {
    const { vm, v, pt, ram } = fixture({ flavour: 'ept' }, '4K');
    expect(vm.config.kvm).toBe('7.3');
    pt.map(0x7000_0000n, 0x20_0000n, { flags: { writable: true } });
    v.read(0x7000_0000n);
    vm.setDirtyLogging(ram, true);
    const e = v.write(0x7000_0008n).exits.find((x) => !x.onGuestTable)!;
    // Bit 10: the supervisor page is writable at every guest level (advanced information, valid
    // with bits 7 and 8: kvm-7x.md §1.2; x86/vmx.h:659 EPT_VLT_GUEST_RW); bit 9 clear (U=0), so
    // no PFERR_USER (§1.3).
    expect(e.info).toBe(BigInt(EPT_QUAL.ACC_WRITE | EPT_QUAL.PROT_READ | EPT_QUAL.PROT_EXEC | EPT_QUAL.GVA_IS_VALID | EPT_QUAL.GVA_TRANSLATED | EPT_QUAL.GVA_WRITABLE));
    expect(e.errorCode).toBe(BigInt(NPF_GUEST_FINAL) | 3n);
    expect(e.ret).toBe('RET_PF_FIXED');
  });

  it("KVM '7.3': a read of a not-present guest table gets only PFERR_GUEST_PAGE (no U for a read)", () => {
    const { v, pt } = fixture({ flavour: 'ept', adEnabled: false });
    pt.map(0x7000_0000n, 0x20_0000n);
    const e = v.read(0x7000_0000n).exits[0]!;
    expect(e.info).toBe(BigInt(EPT_QUAL.ACC_READ | EPT_QUAL.GVA_IS_VALID));
    expect(e.errorCode).toBe(BigInt(NPF_GUEST_PAGE));
  });

  it('NPF: EXITINFO1 carries GUEST_PAGE for table accesses and GUEST_FINAL for the data', () => {
    const { v, pt } = fixture({ flavour: 'npt' });
    pt.map(0x7000_0000n, 0x20_0000n);
    const ex = v.fetch(0x7000_0000n).exits;
    expect(ex[0]!.info).toBe(BigInt(NPF_GUEST_PAGE) | 6n); // table walk: W|U, not present
    expect(ex[1]!.info).toBe(BigInt(NPF_GUEST_FINAL) | 4n | 16n); // fetch: U|I/D, not present
  });

  it('MMIO: first access creates an MMIO SPTE, the next is a misconfig served from it; a new memslot makes it stale', () => {
    const { vm, v, pt } = fixture({ flavour: 'ept' });
    pt.map(0x9000_0000n, 0x8000_0000n, { flags: { writable: true } });
    const a = v.read(0x9000_0000n);
    expect(a.status).toBe('emulated');
    expect(v.stats.get('pf_mmio_spte_created')).toBe(1);
    const b = v.read(0x9000_0000n);
    expect(b.exits.map((e) => [e.kind, e.ret, e.mmio])).toEqual([['ept_misconfig', 'RET_PF_EMULATE', true]]);
    vm.addMemslot({ base: 0x8000_0000n, size: 0x20_0000n, name: 'hotplug' });
    const c = v.read(0x9000_0000n);
    expect(c.status).toBe('ok');
    expect(c.exits.map((e) => [e.kind, e.ret])).toEqual([['ept_misconfig', 'RET_PF_FIXED']]);
  });

  it('a write to ROM is emulated; reads are mapped read-only', () => {
    const { v, pt } = fixture();
    pt.map(0x8000_0000n, 0x4000_0000n, { flags: { writable: true } });
    expect(v.read(0x8000_0000n).status).toBe('ok');
    const w = v.write(0x8000_0000n);
    expect(w.status).toBe('emulated');
    expect(w.emulation).toBe('write to a read-only memslot');
  });

  it('a guest #PF is delivered without an exit', () => {
    const { v } = fixture();
    const r = v.read(0x5000_0000n);
    expect(r.status).toBe('guest-pf');
    expect(r.guestWalk.status === 'fault' && r.guestWalk.errorCode).toBe(0);
  });

  it('host page size and slot alignment bound the TDP level (4K / 2M / 1G)', () => {
    for (const [host, level, stat] of [['4K', 1, 'pages_4k'], ['2M', 2, 'pages_2m'], ['1G', 3, 'pages_1g']] as const) {
      const { vm, v, pt } = fixture({ flavour: 'ept' }, host);
      pt.map(0x7000_0000n, 0x2000_0000n);
      v.read(0x7000_0000n);
      expect(vm.stats.get(stat), host).toBeGreaterThanOrEqual(1);
      const leaf = vm.tdp.leaves(v.currentRoot!).find(([g]) => g <= 0x20000 && 0x20000 < g + 512 ** (level - 1));
      expect(leaf![1]).toBe(level);
    }
  });

  it('property: a TDP-mapped access reaches the host frame the slot says, at the GPA the guest walk says', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ page: fc.integer({ min: 0, max: 4095 }), target: fc.integer({ min: 0, max: 0x3ffff }), w: fc.boolean() }), { minLength: 1, maxLength: 30 }),
        fc.array(fc.record({ page: fc.integer({ min: 0, max: 4095 }), off: fc.integer({ min: 0, max: 4095 }), kind: fc.constantFrom('read' as const, 'write' as const) }), { minLength: 1, maxLength: 40 }),
        fc.constantFrom('ept' as const, 'npt' as const),
        fc.constantFrom('4K' as const, '2M' as const),
        (maps, accesses, flavour, host) => {
          const { vm, v, pt, ram } = fixture({ flavour }, host);
          for (const m of maps) pt.map(0x7000_0000n + BigInt(m.page) * 4096n, BigInt(m.target) * 4096n, { flags: { writable: m.w } });
          for (const a of accesses) {
            const va = 0x7000_0000n + BigInt(a.page) * 4096n + BigInt(a.off);
            const plain = v.walker.walk(va, { kind: a.kind }); // the guest's own view
            const r = v.access(va, { kind: a.kind });
            if (plain.status === 'fault') {
              expect(r.status).toBe('guest-pf');
              continue;
            }
            expect(r.status).toBe('ok');
            expect(r.gpa).toBe(plain.gpa);
            const gfn = Number(plain.gpa >> 12n);
            expect(r.hpa).toBe(BigInt(memslotPfn(ram, gfn)) * 4096n + (va & 0xfffn));
          }
          vm.tdp.checkInvariants();
        },
      ),
      { seed: 4242, numRuns: 60 },
    );
  });
});

describe('registers and roles', () => {
  it('recomputes the role on register changes and reconfigures only when it changed', () => {
    const { vm, v, pt } = fixture();
    pt.map(0x7000_0000n, 0x20_0000n);
    v.read(0x7000_0000n);
    const root = v.currentRoot;
    expect(v.setRegisters({ cr3: pt.root })).toEqual({ roleChanged: false, rootChanged: false });
    expect(v.currentRoot).toBe(root);
    // CR0.WP only: with TDP, no unload (kvm_post_set_cr0).
    expect(v.setRegisters({ cr0: CR0.PE | CR0.PG })).toEqual({ roleChanged: true, rootChanged: false });
    expect(v.currentRoot).toBe(root);
    // CR4.SMEP: reset context (unload); the next access shares the same root again.
    expect(v.setRegisters({ cr4: CR4.PAE | CR4.SMEP })).toEqual({ roleChanged: true, rootChanged: false });
    expect(v.currentRoot).toBeNull();
    v.read(0x7000_0000n);
    expect(v.currentRoot).toBe(root);
    // SMM is part of the root role: a separate root.
    expect(v.setRegisters({ smm: true }).rootChanged).toBe(true);
    v.read(0x7000_0000n);
    expect(v.currentRoot).not.toBe(root);
    expect(vm.tdp.roots.length).toBe(2);
  });

  it('vCPUs with the same root role share one root', () => {
    const { vm, v, pt } = fixture();
    const w = vm.createVcpu({ ...LONG_MODE, cr3: pt.root });
    pt.map(0x7000_0000n, 0x20_0000n);
    v.read(0x7000_0000n);
    expect(w.read(0x7000_0000n).exits).toEqual([]);
    expect(w.currentRoot).toBe(v.currentRoot);
  });
});

describe('bad input leaves the VM unchanged', () => {
  it('overlapping slots, GPAs beyond the host MAXPHYADDR, guest MAXPHYADDR above the host', () => {
    const vm = new Vm({ spte: { flavour: 'ept', hostMaxPhyAddr: 39 }, checkInvariants: true });
    vm.addMemslot({ base: 0n, size: 0x100_0000n });
    expect(() => vm.addMemslot({ base: 0x80_0000n, size: 0x100_0000n })).toThrow(InvalidArgumentError);
    expect(() => vm.addMemslot({ base: 0x80_0000n, size: 0x100_0000n })).toThrow(/memslot-overlap/);
    expect(() => vm.addMemslot({ base: 1n << 39n, size: 0x1000n })).toThrow(GpaOutsideMemoryError);
    expect(() => vm.addMemslot({ base: 0x1001n, size: 0x1000n })).toThrow(/memslot-alignment/);
    expect(vm.memslots.length).toBe(1);
    expect(vm.guestMem.slots.length).toBe(1);
    expect(() => new Vm({ spte: { flavour: 'ept', hostMaxPhyAddr: 39 }, features: { maxPhyAddr: 46, nx: true, gbpages: true, la57: true, smep: true, smap: true, pku: true, vendor: 'intel' } })).toThrow(/guest-maxphyaddr-above-host/);
  });

  it('an access with paging on before CR3 is loaded; an impossible register change', () => {
    const vm = new Vm({ checkInvariants: true });
    vm.addMemslot({ base: 0n, size: 0x100_0000n });
    const v = vm.createVcpu();
    expect(v.read(0x1000n).status).toBe('ok'); // paging off: GVA = GPA
    v.setRegisters({ cr0: CR0.PE | CR0.PG });
    expect(() => v.read(0x1000n)).toThrow(InvalidRegisterStateError);
    expect(() => v.read(0x1000n)).toThrow(/cr3-unset/);
    const before = v.regs;
    expect(() => v.setRegisters({ efer: EFER.LME | EFER.LMA })).toThrow(/lma-without-pae|long-mode-without-pae/);
    expect(v.regs).toBe(before);
  });

  it('a non-canonical GVA', () => {
    const { v } = fixture();
    expect(() => v.read(0x8000_0000_0000n)).toThrow(/canonical-48/);
  });
});

describe('PageTableBuilder over VM memory', () => {
  it('is the same builder (sanity)', () => {
    const { vm } = fixture();
    expect(() => new PageTableBuilder(vm.guestMem, { mode: 'paging4', pool: { base: 0x4000_0000n, size: 0x1000n } })).toThrow(/pool-in-ram/);
  });
});
