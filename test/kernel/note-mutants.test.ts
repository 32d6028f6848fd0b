/**
 * Each design note written for issue 14 depends on the engine behaviour its conclusion rests on:
 * with that behaviour mutated (in a temporary copy of the built engine, as the note-07 test in
 * claims.test.ts does) a named claim of the note fails. Only the one note runs, in check mode,
 * and it stops at the first false claim; design-notes.test.ts shows the same notes hold on the
 * real engine.
 */
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { mutatedRoot, notesCli, type EngineMutation } from './helpers';

interface NoteMutant {
  note: string;
  /** What the mutant changes, in KVM's terms. */
  what: string;
  mutation: EngineMutation;
  /** The notebook cell (0-based, markdown counted) and the label of the claim that must fail. */
  cell: number;
  claim: string;
}

const MUTANTS: NoteMutant[] = [
  {
    note: '17-nested-tdp-cost.ipynb',
    what: "nested_svm_transition_tlb_flush's KVM_REQ_MMU_SYNC (svm/nested.c:485) dropped: VMRUN no longer syncs guest_mmu",
    mutation: { file: 'shadow/guest-mmu-npt.js', from: '(0, roots_1.syncRootsUnchecked)(this.vm.shadow, ctx);', to: '; // mutant: no sync at VMRUN' },
    cell: 8,
    claim: "NPT: each edit costs 4 — L1's store faults again, because the VMRUN before it synced and re-protected the NPT12 page",
  },
  {
    note: '18-dirty-logging.ipynb',
    what: 'kvm_mmu_slot_apply_flags with PML (x86.c:13249-13251) write-protects every leaf instead of clearing D',
    mutation: { file: 'vm/vm.js', from: 'this.tdp.clearDirtySlot(a, b);', to: 'this.tdp.wrprotRange(a, b); // mutant: PML enable write-protects' },
    cell: 5,
    claim: 'eager split off: enabling splits nothing; write protection writes one SPTE per huge leaf, PML two (D cleared, then W: x86.c:13250-13251)',
  },
  {
    note: '19-per-vm-vs-per-vcpu.ipynb',
    what: 'kvm_calc_tdp_mmu_root_page_role (mmu.c:5617-5632) takes has_4_byte_gpte from the guest: the TDP root role depends on the paging mode',
    mutation: { file: 'vm/vcpu.js', from: 'hasFourByteGpte: false,', to: 'hasFourByteGpte: cpu.base.hasFourByteGpte, // mutant' },
    cell: 7,
    claim: 'TDP: one root_role for every L1 vCPU whatever its paging mode (kvm_calc_tdp_mmu_root_page_role, mmu.c:5617-5632); guest_mmu adds one',
  },
  {
    note: '20-five-level-paging.ipynb',
    what: 'kvm_mmu_get_tdp_level (mmu.c:5596-5606) ignores the guest MAXPHYADDR: 5-level EPT whenever the host has it',
    mutation: { file: 'spte/tdp-level.js', from: 'guestMaxPhyAddr <= 48', to: 'false /* mutant */' },
    cell: 9,
    claim: 'EPT on a 5-level host: 4-level up to guest MAXPHYADDR 48, 5-level above',
  },
  {
    note: '21-mmio-generation.ipynb',
    what: 'check_mmio_spte accepts every generation: memslot updates no longer invalidate MMIO SPTEs',
    mutation: { file: 'spte/spte.js', from: 'return mmioSpteGeneration(c, spte) === (generation & c.layout.mmioGenMask);', to: 'return true; // mutant' },
    cell: 4,
    claim: 'with caching, a page takes the slow path once, then once per round that follows updates',
  },
  {
    note: '22-tlb-shadow-vs-tdp.ipynb',
    what: 'kvm_flush_remote_tlbs reaches no vCPU (no KVM_REQ_TLB_FLUSH): stale TLB entries outlive zaps and write protection',
    mutation: { file: 'vm/vm.js', from: 'flushRemoteTlbs() {\n        for (const v of this.vcpus)', to: 'flushRemoteTlbs() {\n        for (const v of []) // mutant' },
    cell: 5,
    claim: 'the TLB changes no KVM counter: exits are equal with the model on and off, in every run',
  },
];

describe('a mutated engine fails a claim of each new design note', () => {
  for (const m of MUTANTS) {
    it(`${m.note}: ${m.what}`, { timeout: 600_000 }, async () => {
      const dir = mutatedRoot(`mutant-${m.note.slice(0, 2)}`, m.note, m.mutation);
      const r = await notesCli(['--check', '--no-report', '--root', dir, path.join(dir, 'notebooks', m.note)]);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toContain(`claim failed (cell ${m.cell}): ${m.claim} [`);
    });
  }
});
