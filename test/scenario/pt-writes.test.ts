/**
 * The VM's `unsync` what-if switch (no KVM knob: KVM lets every level-1 shadow page go unsync that
 * mmu_try_to_unsync_pages allows). Off, every guest store to a shadowed gPT must be emulated, as
 * KVM does for a gfn it refuses to unsync.
 */
import { expect, it } from 'vitest';
import { ptWriteScenario } from '../../src';

const N = 16;

it('unsync on: one write fault per flush, then the gPT is written at guest speed and synced at the flush', () => {
  const r = ptWriteScenario({ writesPerFlush: N, flushes: 1, checkInvariants: true });
  // mmu.c:2898-2930 mmu_try_to_unsync_pages returns 0 and marks the page unsync; spte.c:238
  // make_spte then leaves the SPTE writable, so no store is emulated.
  expect(r.stores.every((s) => s === 'ok')).toBe(true);
  expect(r.stats.pf_emulate).toBe(0);
  expect(r.vm.events.all.filter((e) => e.kind === 'unsync').length).toBe(1);
  // mmu.c:4171 kvm_mmu_sync_roots → mmu_sync_children (mmu.c:2172) syncs the one unsync page.
  expect(r.stats.mmu_sync_pages).toBe(1);
});

it('unsync off: every store to the shadowed gPT is write-protected and emulated, none is synced', () => {
  const r = ptWriteScenario({ writesPerFlush: N, flushes: 1, unsync: false, checkInvariants: true });
  // mmu.c:2919-2920 -EPERM → make_spte keeps the SPTE read-only (spte.c:238) → mmu.c:3055-3056
  // RET_PF_WRITE_PROTECTED → the store is emulated; each one is a #PF exit.
  expect(r.stores).toEqual(Array(N).fill('emulated'));
  expect(r.stats.pf_emulate).toBe(N);
  expect(r.stats.mmu_pte_write).toBe(N);
  expect(r.vm.events.all.filter((e) => e.kind === 'unsync').length).toBe(0);
  expect(r.stats.mmu_sync_pages).toBe(0);
  // mmu.c:6023-6024 detect_write_flooding skips level-1 pages, even these.
  expect(r.stats.mmu_flooded).toBe(0);
});

it('the switch changes exits: off pays one exit per store, on one per flush', () => {
  const on = ptWriteScenario({ writesPerFlush: N, flushes: 1, checkInvariants: true });
  const off = ptWriteScenario({ writesPerFlush: N, flushes: 1, unsync: false, checkInvariants: true });
  // Same refaults after the flush on both; the stores differ: 1 exit (on) vs N (off).
  expect(off.stats.exits! - on.stats.exits!).toBe(N - 1);
});

it('unsync must be a boolean', () => {
  expect(() => ptWriteScenario({ writesPerFlush: 1, unsync: 'no' as unknown as boolean })).toThrow(/options\.unsync/);
});
