import { describe, expect, it } from 'vitest';
import { Vm, ImpossibleConfigurationError, InvalidArgumentError, GpaOutsideMemoryError, MisalignedError, makeTdConfig, naturalGfn } from '../../src';
import { caught, tdFixture } from './fixtures';

describe('TDX bad input', () => {
  it('a TD with shadow paging or without TDP cannot exist', () => {
    for (const opts of [{ mmu: 'shadow' as const }, { tdp: false }]) {
      const e = caught(() => new Vm({ type: 'tdx', gpaw: 48, ...opts }));
      expect(e).toBeInstanceOf(ImpossibleConfigurationError);
      expect(e.rule).toBe('td-needs-tdp');
    }
  });

  it('a TD with NPT cannot exist', () => {
    const e = caught(() => new Vm({ type: 'tdx', spte: { flavour: 'npt' } }));
    expect([e.constructor, e.rule]).toEqual([ImpossibleConfigurationError, 'td-needs-ept']);
  });

  it('spte.mbec on a TD is refused (ASSUMPTION: kvm-7x.md is silent on MBEC for a TD, src/vm/vm.ts tdOptions); the same MBEC VM without TDX exists', () => {
    const e = caught(() => new Vm({ type: 'tdx', kvm: '7.3', spte: { flavour: 'ept', mbec: true } }));
    expect([e.constructor, e.rule, e.value]).toEqual([ImpossibleConfigurationError, 'td-mbec', 'true']);
    expect(e.message).toContain('spte.mbec');
    expect(new Vm({ kvm: '7.3', spte: { flavour: 'ept', mbec: true } }).config.mbec).toBe(true);
    expect(new Vm({ type: 'tdx', kvm: '7.3', spte: { flavour: 'ept', mbec: false } }).config.mbec).toBe(false);
  });

  it('GPAW other than 48 or 52, and an EPT depth that contradicts it', () => {
    for (const gpaw of [47, 50, 57, 0]) {
      const e = caught(() => new Vm({ type: 'tdx', gpaw }));
      expect([e.constructor, e.rule, e.value]).toEqual([InvalidArgumentError, 'td-gpaw', String(gpaw)]);
    }
    expect(caught(() => new Vm({ type: 'tdx', gpaw: 52, spte: { flavour: 'ept', tdpLevel: 4 } })).rule).toBe('td-ept-level');
    expect(caught(() => new Vm({ type: 'tdx', gpaw: 52, spte: { flavour: 'ept', hostMaxPhyAddr: 46 } })).rule).toBe('td-host-maxphyaddr');
  });

  it('a GPA with bits beyond GPAW has no natural gfn', () => {
    const cfg = makeTdConfig(48);
    expect(naturalGfn(cfg, (1n << 47n) | 0x5000n)).toBe(5);
    const e = caught(() => naturalGfn(cfg, 1n << 48n));
    expect([e.constructor, e.rule]).toEqual([InvalidArgumentError, 'td-gpa-beyond-gpaw']);
  });

  it('a guest PTE pointing beyond GPAW is a reserved-bit guest #PF, no exit (the guest MAXPHYADDR is GPAW)', () => {
    const { v, pt, shared } = tdFixture(48);
    pt.map(0x7000_0000n, 0x20_0000n | shared); // the shared bit is a valid address bit
    v.read(0x7000_0000n); // fault the table pages in
    const pte = pt.getEntry(0x7000_0000n, 1);
    pt.setEntry(0x7000_0000n, 1, pte.value | (1n << 48n)); // bit 48: beyond GPAW 48
    const r = v.read(0x7000_0000n);
    expect(r.status).toBe('guest-pf');
    expect(r.exits).toEqual([]);
    expect(r.guestWalk.status === 'fault' && (r.guestWalk.errorCode & 8) !== 0).toBe(true); // PFERR.RSVD
  });

  it('a TD memslot may not reach the shared bit; nothing is added', () => {
    const { vm } = tdFixture(48);
    const n = vm.memslots.length;
    const e = caught(() => vm.addMemslot({ base: 0x7fff_ffe0_0000n, size: 0x40_0000n }));
    expect([e.constructor, e.rule]).toEqual([GpaOutsideMemoryError, 'td-memslot-shared-bit']);
    expect(vm.memslots.length).toBe(n);
  });

  it('bad attribute conversions change nothing', () => {
    const { vm, shared } = tdFixture(48);
    const mark = vm.events.all.length;
    expect(caught(() => vm.setMemoryAttributes(0x1000n, 0x1800n, 'shared'))).toBeInstanceOf(MisalignedError);
    expect(caught(() => vm.setMemoryAttributes(0x2000n, 0x1000n, 'shared')).rule).toBe('mem-attr-range');
    expect(caught(() => vm.setMemoryAttributes(shared, shared + 0x1000n, 'shared')).rule).toBe('mem-attr-shared-bit');
    expect(caught(() => vm.setMemoryAttributes(0n, 0x1000n, 'secret' as 'shared')).rule).toBe('mem-attr-value');
    expect(vm.td!.attributes.privateCount).toBe(1 << 18); // the fixture's 1 GiB, unchanged
    expect(vm.events.all.length).toBe(mark);
    expect(caught(() => new Vm().setMemoryAttributes(0n, 0x1000n, 'shared')).rule).toBe('mem-attr-no-private-mem');
    expect(caught(() => new Vm({ type: 'sev' as 'tdx' })).rule).toBe('vm-type');
  });
});
