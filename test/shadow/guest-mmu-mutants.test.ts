/**
 * Nested EPT (src/shadow/guest-mmu.ts): what mutation testing showed the other guest_mmu tests
 * miss — the hardware exit KVM receives (its qualification bits 5:3 and 6 from EPT02), the exit L1
 * receives for each access kind and version, L1's EPT capabilities, the 6.16 rule that a fetch
 * carries no "user = readable" bit to the hardware, a 5-level EPT12, an L1 frame at GPA 0, the
 * counters and events of one L2 access, and INVEPT's bookkeeping.
 *
 * Equivalent mutants left in guest-mmu.ts (line numbers of f41bd2a; no input can tell them apart):
 * - 83 `active = false` → true: the object is created only by `enterNestedEpt`, which sets it.
 * - 111 `e.caps !== undefined` → true, 112 `e.mbec !== undefined` → true: an absent and an undefined
 *   option are the same to NgpaWalker.
 * - 122 `fetchSetsId: false` → true: only the PRESENT and RSVD bits of the EPT12 walk's error
 *   code are read (finishNestedFault); L1's exit comes from the second walk.
 * - 127 `isPae: false` → true: ShadowContext never reads isPae.
 * - 151 `hpa >= 0` → `> 0`, and `injected`'s `r.hpa >= 0` → `> 0`: a root is a host table frame,
 *   and those come from the top half of host memory (HostMemory.allocTable), never frame 0.
 * - `injected`'s `r.hpa >= 0` → true: invalidateAddrInRootUnchecked returns at once for a root of
 *   hpa < 0 (sync.ts, as __kvm_mmu_invalidate_addr does for an invalid root, mmu.c:6344-6345).
 * - 188 `g < 0` → false (and its two texts): an EPT02 leaf always maps a memslot's frame (an invariant).
 * - 215 `isMmioSpte` → true, 218 (3): a misconfiguration stops at an MMIO SPTE, so the RET_PF_RETRY
 *   branch (handle_mmio_page_fault's, mmu.c:4363) is not reached.
 * - 227:52 `walkFault === undefined` → true: shadowPageFault reports a walk fault only with RET_PF_RETRY.
 * - 228 (3): the emulator's re-walk of an emulation whose fault walk used the same access bits
 *   (7.3; 6.16 writes and emulated non-MMIO accesses) finds nothing new.
 * - 232 'EPT12' and `?.`: the text of an invariant violation; an exit always has its pending record.
 * - 258 (6): `rewalkUser` — the hardware error code of a 6.16 read always has PFERR_USER, so both
 *   closures give the same walk; only a stale MMIO SPTE over an EPT12 entry made not present
 *   (error code PFERR_RSVD alone, vmx.c:5803) tells them apart, where the model's ACC_READ itself is
 *   unverified (paging_tmpl.h:502-507 would give bits 2:0 = 0): left for a follow-up, not killed.
 * - 299:18 `kvm === '7.3'` → false, 299:41 '7.3' → '': PFERR_USER on a 7.3 read selects nothing.
 * - 304 `attempt <= MAX` → `<`: no access needs eight exits.
 * Not killed yet: 92 (an L2 table at L1 GPA 0 with EPT A/D off), 114 (L2's CPUID: the hardware walk
 * of L2's tables does not read it), 275/276/282/283 (an MMIO L2 page table; a 7.3 MBEC
 * fetch emulated from MMIO), 327 (texts of the no-progress invariant).
 */
import { describe, expect, it } from 'vitest';
import { Vm, PageTableBuilder, makeEptp, DEFAULT_EPT_CAPS, EPT_QUAL, nestedMbecScenario, NESTED_MBEC_LAYOUT, InvalidArgumentError, CR0, CR4, EFER, gpa, type KvmVersion } from '../../src';
import { nested, LONG, GVA, DATA_N, DATA_G, DM } from './nested-fixture';

const MT_WB = 6n << 3n; // EPT memory type WB in bits 5:3 of a leaf
const Q_LOW = 0x3f; // qualification bits 5:0: access (2:0) and EPT permissions (5:3)

describe('nested EPT: the hardware exit KVM takes (EPT02) and the exit L1 gets (EPT12)', () => {
  it('a write to a read-only page: the EPT02 violation reports R as the leaf\'s permissions; L1 gets WR | PERM_RD', () => {
    for (const kvm of ['6.16', '7.3'] as KvmVersion[]) {
      const n = nested({ ad: true, accessed: true, kvm });
      n.ept.setEntry(DATA_N + 0x1000n, 1, (DATA_G + 0x1000n) | 1n | MT_WB);
      n.enter();
      expect(n.v.read(GVA + 0x1000n).status).toBe('ok'); // vmx_tests.c:2987 read allowed: EPT02 leaf gets R
      const r = n.v.write(GVA + 0x1000n);
      expect(r.exits[0]!.kind).toBe('ept_violation');
      // SDM Vol. 3C Table 28-7: bit 1 = data write; bits 5:3 = the AND of R/W/X over the EPT02
      // entries used (upper levels RWX, the leaf R); KVM reads them in __vmx_handle_ept_violation
      // (vmx/common.h:100 EPT_VIOLATION_PROT_MASK → PFERR_PRESENT).
      expect(Number(r.exits[0]!.info) & Q_LOW).toBe(EPT_QUAL.ACC_WRITE | EPT_QUAL.PROT_READ);
      expect(r.status).toBe('l1-exit');
      // vmx_tests.c:2988 EPT_VLT_WR | EPT_VLT_PERM_RD (paging_tmpl.h:502-503, :513).
      expect(r.nestedExit!.kind).toBe('ept-violation');
      if (r.nestedExit!.kind !== 'ept-violation') return;
      expect(r.nestedExit!.qualification & Q_LOW).toBe(EPT_QUAL.ACC_WRITE | EPT_QUAL.PROT_READ);
      expect(r.nestedExit!.guestPhysicalAddress).toBe(DATA_N + 0x1000n);
    }
  });

  it('6.16: a read EPT12 does not map is reflected with ACC_READ only, a write with ACC_WRITE only', () => {
    const n = nested({ kvm: '6.16' });
    n.l2pt.map(GVA + 0x10_0000n, 0x380_0000n, { flags: { writable: true } });
    for (const op of ['read', 'write'] as const) {
      n.enter();
      const r = op === 'read' ? n.v.read(GVA + 0x10_0010n) : n.v.write(GVA + 0x10_0010n);
      expect(r.status).toBe('l1-exit');
      if (r.nestedExit?.kind !== 'ept-violation') throw new Error('no EPT violation');
      // vmx_tests.c:2976-2977 (EPT_VLT_RD, EPT_VLT_WR): common.h:91-95 turns ACC_READ into
      // PFERR_USER and ACC_WRITE into PFERR_WRITE; paging_tmpl.h:502-505 gives back ACC_WRITE for
      // the write and ACC_READ for the user bit only; nothing present, bits 5:3 = 0 (:513).
      expect(r.nestedExit.qualification & Q_LOW).toBe(op === 'read' ? EPT_QUAL.ACC_READ : EPT_QUAL.ACC_WRITE);
      expect(r.nestedExit.guestPhysicalAddress).toBe(0x380_0010n);
    }
    expect(n.v.stats.get('nested_reflected')).toBe(2);
  });

  it('6.16 without MBEC: a user-mode fetch from an execute-only EPT12 page runs (vmx_tests.c:3030)', () => {
    const n = nested({ kvm: '6.16', execOnly: true, ad: true, accessed: true });
    n.ept.setEntry(DATA_N + 0x2000n, 1, (DATA_G + 0x2000n) | 4n | MT_WB);
    const va = GVA + 0x20_0000n;
    n.l2pt.map(va, DATA_N + 0x2000n, { flags: { user: true, writable: true } });
    n.enter();
    // ept_access_allowed(EPT_EA, OP_EXEC_USER) without MBEC: the hardware checks X only for a
    // fetch (SDM Vol. 3C 29.3.3.2); KVM's PFERR_USER = "readable" is not part of the hardware walk.
    const r = n.v.fetch(va, true);
    expect(r.status).toBe('ok');
    expect(BigInt(r.hpa!) >> 12n).toBe(n.frameOf(DATA_G + 0x2000n));
    expect(n.v.stats.get('nested_reflected')).toBe(0);
  });

  it('6.16: an L2 read of an execute-only EPT12 page is an EPT violation for L1 (vmx_tests.c:3020-3021)', () => {
    const n = nested({ kvm: '6.16', execOnly: true, ad: true, accessed: true });
    n.ept.setEntry(DATA_N + 0x2000n, 1, (DATA_G + 0x2000n) | 4n | MT_WB);
    n.enter();
    expect(n.v.fetch(GVA + 0x2000n).status).toBe('ok'); // EPT02 gets the leaf's X
    const r = n.v.read(GVA + 0x2000n);
    // The hardware checks R for a read (SDM Vol. 3C 29.3.3.2): an EPT violation with ACC_READ
    // and PROT_EXEC; ept_access_violation(EPT_EA, OP_READ, EPT_VLT_RD | EPT_VLT_PERM_EX).
    expect(Number(r.exits.at(-1)!.info) & Q_LOW).toBe(EPT_QUAL.ACC_READ | EPT_QUAL.PROT_EXEC);
    expect(r.status).toBe('l1-exit');
    if (r.nestedExit?.kind !== 'ept-violation') throw new Error('no EPT violation');
    expect(r.nestedExit.qualification & Q_LOW).toBe(EPT_QUAL.ACC_READ | EPT_QUAL.PROT_EXEC);
  });

  it('L1 without execute-only EPT support: an execute-only EPT12 leaf is a misconfiguration for L1 (vmx_tests.c:3032)', () => {
    for (const execOnly of [false, true]) {
      const n = nested({ execOnly });
      n.ept.setEntry(DATA_N + 0x2000n, 1, (DATA_G + 0x2000n) | 4n | MT_WB);
      n.enter();
      const r = n.v.fetch(GVA + 0x2000n);
      // mmu.c:5250-5253 (__reset_rsvds_bits_mask_ept): XWR = 100 is reserved unless execonly,
      // which nested_ept_new_eptp takes from L1's EPT capabilities (vmx/nested.c:464-473).
      if (execOnly) expect(r.status).toBe('ok');
      else expect([r.status, r.nestedExit?.kind]).toEqual(['l1-exit', 'ept-misconfig']);
    }
  });
});

describe("nested EPT with MBEC (KVM '7.3'): bit 6 of the hardware exit is the AND of XU over EPT02", () => {
  /** Note 12's setup (R|W|X|XU tables, kvm-unit-tests __setup_ept under MBEC, kvm-7x.md §6.1): a read builds the EPT02 leaf, then a write. */
  function mbec(leaf: bigint) {
    const { cpu } = nestedMbecScenario('7.3', true, leaf);
    expect(cpu.read(NESTED_MBEC_LAYOUT.gvaSupervisor).status).toBe('ok'); // EPT02 gets the leaf's R (and XU)
    return cpu.write(NESTED_MBEC_LAYOUT.gvaSupervisor);
  }

  it('leaf R|XU under R|W|X|XU tables: bit 6 set; leaf R: clear (SDM Vol. 3C Table 28-7 bit 6 with MBEC)', () => {
    for (const [leaf, bit6] of [[1n | (1n << 10n), EPT_QUAL.PROT_USER_EXEC], [1n, 0]] as const) {
      const r = mbec(leaf);
      expect(r.exits[0]!.kind).toBe('ept_violation');
      // kvm-7x.md §1.2: with MBEC bit 6 is the AND of bit 10 over the entries; bits 5:3 R.
      expect(Number(r.exits[0]!.info) & 0x7f).toBe(EPT_QUAL.ACC_WRITE | EPT_QUAL.PROT_READ | bit6);
      expect(r.status).toBe('l1-exit');
    }
  });
});

describe('nested EPT: walks that only a mutant gets wrong', () => {
  it('a 5-level EPT12: the EPT02 walk indexes nGPA bits 48-56 from the frame number, not its low bits', () => {
    const vm = new Vm({ spte: { flavour: 'ept' }, checkInvariants: true });
    const ram = vm.addMemslot({ base: 0n, size: 1n << 30n, name: 'ram', hostPageSize: '4K' });
    const l1pt = new PageTableBuilder(vm.guestMem, { mode: 'paging4', pool: { base: 0x10_0000n, size: 0x10_0000n } });
    const ept = new PageTableBuilder(vm.guestMem, { mode: 'ept5', pool: { base: 0x20_0000n, size: 0x10_0000n } });
    const l2pt = new PageTableBuilder(vm.guestMem, { mode: 'paging4', pool: { base: 0x100_0000n, size: 0x10_0000n } });
    ept.map(0x100_0000n, 0x100_0000n, { count: 16 });
    l2pt.map(GVA, DATA_N + 0x1000n, { flags: { writable: true } });
    ept.map(DATA_N + 0x1000n, DATA_G + 0x1000n);
    const v = vm.createVcpu({ ...LONG, cr3: l1pt.root });
    // vmx_eptp_page_walk_level (mmu.c:5766): EPTP bits 5:3 = 3 → a 5-level EPT12 and EPT02.
    v.enterNestedEpt({ eptp: makeEptp({ root: ept.root, level: 5, adEnabled: false }), caps: DEFAULT_EPT_CAPS, l2: { ...LONG, cr3: l2pt.root } });
    const r = v.read(GVA + 0x18n);
    expect(r.status).toBe('ok');
    expect(BigInt(r.hpa!)).toBe((BigInt(ram.pfnBase) << 12n) + DATA_G + 0x1018n);
    expect(v.nested!.rootRole.level).toBe(5); // kvm_calc_shadow_ept_root_page_role: level from EPTP12
  });

  it('EPT12 maps an nGPA to L1 GPA 0: the data lands in the frame of GPA 0', () => {
    const n = nested();
    n.ept.map(0x380_0000n, 0n);
    n.l2pt.map(GVA + 0x10_0000n, 0x380_0000n, { flags: { writable: true } });
    n.enter();
    const r = n.v.read(GVA + 0x10_0040n);
    expect(r.status).toBe('ok');
    expect(r.l1Gpa).toBe(0x40n);
    expect(BigInt(r.hpa!) >> 12n).toBe(n.frameOf(0n));
  });
});

describe('nested EPT: counters, events and attempts of L2 accesses; entry, exit and INVEPT records', () => {
  it('two EPT violations fixed by KVM: exits, pf_taken, events at the nGPAs, three attempts', () => {
    const n = nested({ ad: true, accessed: true });
    const from = n.vm.events.length;
    n.enter();
    expect(n.v.nested!.name).toBe('guest_mmu'); // vcpu->arch.mmu = &vcpu->arch.guest_mmu (vmx/nested.c:479)
    // kvm_calc_cpu_role (mmu.c) sets guest_mode for L2's walker (is_guest_mode).
    expect(n.v.nested!.l2Walker!.role.base.guestMode).toBe(true);
    const entry = n.vm.events.all.slice(from).filter((e) => e.kind === 'nested_exit');
    expect(entry.map((e) => [e.gpa, e.outcome])).toEqual([[n.eptp, 'L2 entry: vcpu->arch.mmu = guest_mmu']]);
    // kvm_mmu_reload → mmu_alloc_shadow_roots of guest_mmu at EPTP12 (roots.ts mmuLoad names the MMU).
    const before = n.vm.events.length;
    const r = n.v.read(GVA + 0x123n);
    expect(n.vm.events.all.slice(before).filter((e) => e.kind === 'root_alloc').map((e) => e.outcome)).toEqual([`guest_mmu pgd 0x${n.eptp.toString(16)}`]);
    expect(r.status).toBe('ok');
    // One exit on L2's tables (the other three prefetched), one on the data page, then the walk.
    expect(r.attempts).toBe(3);
    // Each exit: kvm_mmu_page_fault → pf_taken++ (mmu.c:6274) and pf_fixed++ (mmu.c:6290).
    for (const [k, want] of [['guest_accesses', 1], ['exits', 2], ['ept_violations', 2], ['ept_misconfigs', 0], ['pf_taken', 2], ['pf_fixed', 2]] as const) expect(n.v.stats.get(k)).toBe(want);
    const ev = n.vm.events.all.slice(before).filter((e) => e.kind === 'ept_violation');
    expect(ev.map((e) => [e.gva, e.gpa, e.outcome])).toEqual([
      [GVA + 0x123n, r.exits[0]!.gpa, 'L2: EPT02 (shadow of EPT12)'],
      [GVA + 0x123n, DATA_N + 0x123n, 'L2: EPT02 (shadow of EPT12)'],
    ]);
    expect(ev.map((e) => e.code)).toEqual(r.exits.map((e) => e.info));
    n.v.exitNested();
    // nested_ept_uninit_mmu_context (vmx/nested.c:488-490, called at :4718).
    expect(n.vm.events.all.at(-1)!.outcome).toBe('L2 exit: vcpu->arch.mmu = root_mmu');
    expect(n.v.nested!.active).toBe(false);
  });

  it('a reflected EPT12 fault is a nested VM exit: its record names the reason', () => {
    const n = nested();
    n.l2pt.map(GVA + 0x10_0000n, 0x380_0000n, { flags: { writable: true } });
    n.enter();
    const r = n.v.read(GVA + 0x10_0000n);
    expect(r.status).toBe('l1-exit');
    const ex = n.vm.events.all.filter((e) => e.kind === 'nested_exit').map((e) => e.outcome);
    // nested_ept_inject_page_fault → nested_vmx_vmexit (vmx/nested.c:409-461) → root_mmu.
    expect(ex).toContain('EPT12 fault reflected to L1: vcpu->arch.mmu = root_mmu');
  });

  it('a cached MMIO SPTE: an EPT misconfiguration emulated as MMIO without a page fault taken', () => {
    const n = nested({ ad: true, accessed: true });
    n.ept.map(0x380_0000n, 0x4000_0000n, { flags: { read: true, write: true, exec: false, accessed: true, dirty: true } });
    n.l2pt.map(GVA + 0x10_0000n, 0x380_0000n, { flags: { writable: true, accessed: true, dirty: true } });
    n.enter();
    expect(n.v.read(GVA + 0x10_0000n).status).toBe('emulated'); // the first access makes the MMIO SPTE
    const taken = n.v.stats.get('pf_taken');
    const r = n.v.read(GVA + 0x10_0000n);
    // kvm_mmu_page_fault (mmu.c:6262-6270): PFERR_RSVD → handle_mmio_page_fault → RET_PF_EMULATE
    // (mmu.c:4344-4356) goes straight to emulation: pf_taken is not counted.
    expect([r.status, r.emulation, r.exits.at(-1)!.kind, r.exits.at(-1)!.mmio]).toEqual(['emulated', 'MMIO', 'ept_misconfig', true]);
    expect(n.v.stats.get('pf_taken')).toBe(taken);
    expect(n.v.stats.get('ept_misconfigs')).toBe(1);
    expect(n.vm.events.all.filter((e) => e.kind === 'ept_misconfig').map((e) => [e.gpa, e.code])).toEqual([[0x380_0000n, 0n]]);
  });

  it('a stale MMIO SPTE whose GPA a new memslot now backs: fixed by the slow path, then the write is an EPT violation for L1', () => {
    const n = nested({ ad: true, accessed: true });
    n.ept.map(0x380_0000n, 0x4000_0000n, { flags: { read: true, write: false, exec: false, accessed: true, dirty: true } });
    n.l2pt.map(GVA + 0x10_0000n, 0x380_0000n, { flags: { writable: true, accessed: true, dirty: true } });
    n.enter();
    expect(n.v.read(GVA + 0x10_0000n).status).toBe('emulated'); // no memslot: an MMIO SPTE in EPT02
    n.vm.addMemslot({ base: 0x4000_0000n, size: 0x1000n, name: 'now-ram', hostPageSize: '4K' });
    const r = n.v.write(GVA + 0x10_0000n);
    // handle_ept_misconfig passes PFERR_RSVD alone (vmx.c:5803); the SPTE's generation is stale
    // (mmu.c:4348-4349), so kvm_mmu_do_page_fault walks EPT12 for that error code (a read in 7.3,
    // allowed) and maps the now backed GPA read-only: RET_PF_FIXED (mmu.c:6290). The retried
    // write then takes an EPT violation that EPT12 refuses: vmx_tests.c:2988 EPT_VLT_WR | EPT_VLT_PERM_RD.
    expect(r.exits.map((e) => [e.kind, e.ret])).toEqual([['ept_misconfig', 'RET_PF_FIXED'], ['ept_violation', 'reflected to L1']]);
    expect(r.status).toBe('l1-exit');
    if (r.nestedExit?.kind !== 'ept-violation') throw new Error('no EPT violation');
    expect(r.nestedExit.qualification & Q_LOW).toBe(EPT_QUAL.ACC_WRITE | EPT_QUAL.PROT_READ);
  });

  it('INVEPT: events name the type, the EPTP and the roots freed (handle_invept, vmx/nested.c:5920-5947)', () => {
    const n = nested();
    n.enter();
    n.v.read(GVA);
    n.v.exitNested();
    expect(n.v.invept('single', n.eptp)).toBe(1);
    expect(n.v.invept('global')).toBe(0); // no root left: nothing freed
    const ev = n.vm.events.all.filter((e) => e.kind === 'invept').map((e) => [e.vcpu, e.gpa, e.outcome]);
    expect(ev).toEqual([
      [0, n.eptp, 'single: 1 root(s) freed'],
      [0, null, 'global: 0 root(s) freed'],
    ]);
  });

  it("guest_mmu's own INVEPT refuses a single-context INVEPT without an EPTP", () => {
    const n = nested();
    n.enter();
    const mmu = n.v.nested!;
    let err: unknown;
    try {
      mmu.invept('single');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InvalidArgumentError);
    const e = err as InvalidArgumentError;
    expect([e.rule, e.value]).toEqual(['invept-single-eptp', 'undefined']);
    expect(e.message).toMatch(/eptp is needed by a single-context INVEPT/);
  });

  it('nested EPT on an NPT VM: refused naming the host flavour', () => {
    const vm = new Vm({ spte: { flavour: 'npt' } });
    vm.addMemslot({ base: 0n, size: 1n << 24n, name: 'ram' });
    const v = vm.createVcpu({ cr0: CR0.PE | CR0.PG, cr4: CR4.PAE, efer: EFER.LME | EFER.LMA, cr3: 0x1000n });
    let err: unknown;
    try {
      v.enterNestedEpt({ eptp: makeEptp({ root: 0x2000n, level: 4, adEnabled: false }), l2: { ...LONG, cr3: 0x3000n } });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InvalidArgumentError);
    const e = err as InvalidArgumentError;
    expect([e.rule, e.value]).toEqual(['nested-ept-needs-ept', 'npt']);
    expect(e.message).toMatch(/nested EPT needs an EPT host \(this VM uses NPT or shadow paging\)/);
  });
});

describe('nested EPT: which previous roots a reflected fault syncs (nested_ept_inject_page_fault, vmx/nested.c:409-461)', () => {
  const R = 1n | MT_WB;
  const NEW_G = 0x600_0000n;

  /**
   * Two cached EPT02 roots for L2: `other` (A/D off) in prev_roots, A (A/D on) current; their EPT02
   * leaf pages for DATA_N differ (roles differ in ad_disabled) and L1's rewrite of the EPT12 leaf
   * to `next` made both unsync. `sameEp4ta`: `other` is an EPTP of the same EPT12 root; else of a
   * second EPT12 PML4 that shares the lower tables.
   */
  function twoRoots(next: bigint, sameEp4ta: boolean) {
    const n = nested({ ad: true, accessed: true });
    n.ept.setEntry(DATA_N, 1, DATA_G | R);
    let root = BigInt(n.ept.root);
    if (!sameEp4ta) {
      // A second PML4 in an unused page of L1 memory, with the first's entry 0 (nGPAs below 512 GiB).
      root = 0x3f_f000n;
      n.vm.guestMem.write64(gpa(root), n.vm.guestMem.read64(gpa(BigInt(n.ept.root))));
    }
    const other = makeEptp({ root, level: 4, adEnabled: false });
    n.enter(other);
    expect(BigInt(n.v.read(GVA).hpa!) >> 12n).toBe(n.frameOf(DATA_G));
    n.v.exitNested();
    n.enter(); // EPTP A: the other root goes to prev_roots
    expect(BigInt(n.v.read(GVA).hpa!) >> 12n).toBe(n.frameOf(DATA_G));
    n.v.exitNested();
    const e = n.ept.getEntry(DATA_N, 1);
    expect(n.v.store(DM + BigInt(e.gpa), next, 8).status).toBe('ok');
    expect(n.vm.shadow.find(Number(BigInt(e.gpa) >> 12n)).map((sp) => sp.unsync)).toEqual([true, true]);
    n.enter();
    return { n, other };
  }

  it('an EPT violation does not sync a previous root of another EP4TA (nested_ept_root_matches, vmx/nested.c:383-387)', () => {
    const { n, other } = twoRoots(NEW_G | R, false);
    expect(n.v.write(GVA).status).toBe('l1-exit'); // EPT02 and EPT12 read-only (vmx_tests.c:2988)
    // nested_ept_invalidate_addr (vmx/nested.c:389-407) picks the prev roots whose EP4TA is
    // vmcs12's: not this one, so L2 on it (a root cache hit, no sync) still reads the old frame.
    n.enter(other);
    expect(BigInt(n.v.read(GVA).hpa!) >> 12n).toBe(n.frameOf(DATA_G));
  });

  it('an EPT misconfiguration syncs no previous root, even of the same EP4TA (vmx/nested.c:438-440: only the EPT-violation branch calls nested_ept_invalidate_addr, :456-457)', () => {
    // Bit 51 is reserved below MAXPHYADDR 52: FNAME(is_rsvd_bits_set) → PFERR_RSVD_MASK, so
    // kvm_inject_emulated_page_fault does not invalidate the current root either (x86.c:983-984).
    const { n, other } = twoRoots(NEW_G | R | 2n | (1n << 51n), true);
    const w = n.v.write(GVA);
    expect(w.status).toBe('l1-exit');
    expect(w.nestedExit?.kind).toBe('ept-misconfig'); // vmx/nested.c:438-440
    n.enter(other);
    expect(BigInt(n.v.read(GVA).hpa!) >> 12n).toBe(n.frameOf(DATA_G));
  });
});
