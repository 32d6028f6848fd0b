/**
 * Property: random sequences of guest page-table writes (through the vCPU: unsynced direct writes
 * or emulated writes to write-protected tables), INVLPGs, guest TLB flushes, CR3 switches and
 * accesses. Every access is checked against an independent SDM paging model (test/model) over
 * guest memory and the memslot's frames: it must reach the frame of the current guest translation,
 * or of a translation the guest had for that address since the last flush covering it (what a
 * real TLB may still hold) — and right after a flush, exactly the current one.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { PageTableBuilder, CR4, type Vcpu } from '../../src';
import { modelWalk, type ModelCpu, type PagingMode } from '../model/sdm-paging-model';
import { shadowFixture, mapDirect, POOL, type GuestMode, type ShadowFixture } from './fixtures';

const NPAGES = 16;
const TARGETS = Array.from({ length: 8 }, (_, i) => 0x80_0000n + BigInt(i) * 0x1000n);

interface Layout {
  base: bigint;
  /** VA of data page i. */
  va: (i: number) => bigint;
  /** Huge page size at level 2. */
  huge: bigint;
}

function layout(mode: GuestMode): Layout {
  const base = mode === 'paging4' || mode === 'paging5' ? 0x7000_0000n : 0x4000_0000n;
  const huge = mode === 'paging32' ? 0x40_0000n : 0x20_0000n;
  return { base, huge, va: (i) => base + BigInt(i >> 3) * huge + BigInt(i & 7) * 0x1000n };
}

type Op =
  | { k: 'pte'; as: number; page: number; target: number; w: boolean; u: boolean; a: boolean; d: boolean; p: boolean }
  | { k: 'pde'; as: number; half: number; what: 'orig' | 'alt' | 'none' | 'huge-low' | 'huge-high' }
  | { k: 'invlpg'; page: number }
  | { k: 'flush' }
  | { k: 'cr3'; as: number }
  | { k: 'access'; page: number; kind: 'read' | 'write' | 'fetch'; user: boolean };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ k: fc.constant('pte' as const), as: fc.nat(1), page: fc.nat(NPAGES - 1), target: fc.nat(TARGETS.length - 1), w: fc.boolean(), u: fc.boolean(), a: fc.boolean(), d: fc.boolean(), p: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('pde' as const), as: fc.nat(1), half: fc.nat(1), what: fc.constantFrom('orig' as const, 'alt' as const, 'none' as const, 'huge-low' as const, 'huge-high' as const) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('invlpg' as const), page: fc.nat(NPAGES - 1) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('flush' as const) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('cr3' as const), as: fc.nat(1) }) },
  { weight: 8, arbitrary: fc.record({ k: fc.constant('access' as const), page: fc.nat(NPAGES - 1), kind: fc.constantFrom('read' as const, 'write' as const, 'fetch' as const), user: fc.boolean() }) },
);

class World {
  readonly f: ShadowFixture;
  readonly L: Layout;
  readonly spaces: PageTableBuilder[];
  readonly origPde: bigint[][] = [];
  readonly altPde: bigint[] = [];
  cur = 0;
  /** Per data page: translations (as model results keyed by access) seen since the last flush covering it. */
  history: string[][] = [];

  constructor(mode: GuestMode) {
    this.f = shadowFixture(mode);
    const { f } = this;
    this.L = layout(mode);
    const b = new PageTableBuilder(f.vm.guestMem, { mode, pool: { base: POOL.base + POOL.size, size: POOL.size } });
    mapDirect(b, f.dm);
    if (mode === 'pae') for (let q = 0n; q < 4n; q++) if (q !== 3n) b.setEntry(q << 30n, 2, 0n);
    this.spaces = [f.pt, b];
    for (const [s, pt] of this.spaces.entries()) {
      for (let i = 0; i < NPAGES; i++) pt.map(this.L.va(i), TARGETS[(i + s) % TARGETS.length]!, { flags: { writable: true, user: true } });
      this.origPde.push([0, 1].map((h) => pt.getEntry(this.L.va(h * 8), 2).value));
      // An alternative page table (reached from elsewhere) that a PDE may be switched to.
      pt.map(this.L.base + 16n * this.L.huge, TARGETS[7 - s]!, { count: 8, flags: { writable: true } });
      this.altPde.push(pt.getEntry(this.L.base + 16n * this.L.huge, 2).value);
    }
    f.v.movCr3(f.pt.root);
    this.resetHistory();
  }

  get v(): Vcpu {
    return this.f.v;
  }

  cpu(): ModelCpu {
    const r = this.v.regs;
    return {
      mode: this.f.mode as PagingMode, maxPhyAddr: 46, gbpages: true, vendor: 'intel',
      cr0WP: (r.cr0 & (1n << 16n)) !== 0n, cr4PSE: (r.cr4 & CR4.PSE) !== 0n, cr4SMEP: false, cr4SMAP: false, cr4PKE: false,
      eferNXE: (r.efer & (1n << 11n)) !== 0n, pkru: 0,
    };
  }

  /** The reference outcome for page i: "gpa:<hex>" or "fault", per access kind and privilege. */
  ref(i: number, kind: 'read' | 'write' | 'fetch', user: boolean): string {
    const mem = this.f.vm.guestMem;
    const read = (gpa: bigint, size: 4 | 8) => (mem.slotOf(Number(gpa >> 12n)) === undefined ? undefined : size === 4 ? BigInt(mem.read32(gpa as never)) : mem.read64(gpa as never));
    const m = modelWalk(this.cpu(), this.v.regs.cr3, this.L.va(i), { kind, user }, read, { idRule: 'kvm' });
    return m.status === 'ok' ? `gpa:${(m.gpa! >> 12n).toString(16)}` : 'fault';
  }

  snapshot(i: number): string {
    const out: string[] = [];
    for (const kind of ['read', 'write', 'fetch'] as const) for (const user of [false, true]) out.push(this.ref(i, kind, user));
    return out.join(',');
  }

  resetHistory(page?: number): void {
    if (page === undefined) this.history = Array.from({ length: NPAGES }, (_, i) => [this.snapshot(i)]);
    else this.history[page] = [this.snapshot(page)];
  }

  afterGuestWrite(): void {
    for (let i = 0; i < NPAGES; i++) {
      const s = this.snapshot(i);
      if (!this.history[i]!.includes(s)) this.history[i]!.push(s);
    }
  }

  check(i: number, kind: 'read' | 'write' | 'fetch', user: boolean, exact: boolean): void {
    const r = this.v.access(this.L.va(i), { kind, user });
    const col = ['read', 'write', 'fetch'].indexOf(kind) * 2 + (user ? 1 : 0);
    const allowed = (exact ? [this.snapshot(i)] : [...this.history[i]!, this.snapshot(i)]).map((s) => s.split(',')[col]!);
    const current = this.ref(i, kind, user);
    let got: string;
    if (r.status === 'ok') got = `gpa:${(BigInt(r.hpa!) >> 12n) - BigInt(this.f.ram.pfnBase) + BigInt(this.f.ram.baseGfn)}`;
    else if (r.status === 'guest-pf') got = 'fault';
    else {
      // Emulation only for a write to a page that is one of the guest's own page tables.
      expect(r.status).toBe('emulated');
      expect(kind).toBe('write');
      expect(r.gpa! >= POOL.base && r.gpa! < POOL.base + 2n * POOL.size).toBe(true);
      got = `gpa:${(BigInt(r.gpa!) >> 12n).toString(16)}`;
    }
    if (r.status === 'ok') got = `gpa:${BigInt(got.slice(4)).toString(16)}`;
    if (r.status === 'guest-pf') expect(current).toBe('fault'); // a #PF is injected only after KVM walks the current tables
    if (!allowed.includes(got)) {
      throw new Error(`page ${i} ${user ? 'user' : 'supervisor'} ${kind}: got ${got}, allowed ${allowed.join(' | ')} (current ${current}, exact ${exact})`);
    }
  }

  run(op: Op): void {
    const { f, L } = this;
    switch (op.k) {
      case 'pte': {
        const pt = this.spaces[op.as]!;
        const va = L.va(op.page);
        const pde = pt.getEntry(va, 2);
        if ((pde.value & 1n) === 0n || (pde.value & 0x80n) !== 0n) return; // no page table on this path now
        const t = TARGETS[op.target]!;
        const v = t | (op.p ? 1n : 0n) | (op.w ? 2n : 0n) | (op.u ? 4n : 0n) | (op.a ? 0x20n : 0n) | (op.d ? 0x40n : 0n);
        const e = pt.getEntry(va, 1);
        const r = this.v.store(f.dm(e.gpa as bigint), v, f.entryBytes);
        expect(['ok', 'emulated']).toContain(r.status);
        break;
      }
      case 'pde': {
        const pt = this.spaces[op.as]!;
        const va = L.va(op.half * 8);
        let v: bigint;
        if (op.what === 'orig') v = this.origPde[op.as]![op.half]!;
        else if (op.what === 'alt') v = this.altPde[op.as]!;
        else if (op.what === 'none') v = 0n;
        else v = (op.what === 'huge-low' ? 0n : 0x400_0000n) | 0x87n | 0x60n; // P|W|U|PS, A|D
        const e = pt.getEntry(va, 2);
        const r = this.v.store(f.dm(e.gpa as bigint), v, f.entryBytes);
        expect(['ok', 'emulated']).toContain(r.status);
        break;
      }
      case 'invlpg':
        this.v.invlpg(L.va(op.page));
        this.resetHistory(op.page);
        this.check(op.page, 'read', false, true);
        return;
      case 'flush':
        this.v.flushGuestTlb();
        this.resetHistory();
        for (let i = 0; i < NPAGES; i++) this.check(i, 'read', true, true);
        return;
      case 'cr3':
        this.cur = op.as;
        this.v.movCr3(this.spaces[op.as]!.root);
        this.resetHistory();
        for (let i = 0; i < NPAGES; i++) this.check(i, 'write', false, true);
        return;
      case 'access':
        this.check(op.page, op.kind, op.user, false);
        return;
    }
    this.afterGuestWrite();
  }
}

describe('shadow paging: random page-table writes, flushes, CR3 switches and accesses against the SDM model', () => {
  for (const mode of ['paging4', 'pae', 'paging32', 'paging5'] as const) {
    it(`${mode}`, () => {
      const totals: Record<string, number>[] = [];
      fc.assert(
        fc.property(fc.array(opArb, { minLength: 10, maxLength: 40 }), (ops) => {
          const w = new World(mode);
          for (const op of ops) w.run(op);
          // Finally the guest flushes everything: every page, every access, exactly as the guest walk says.
          w.v.flushGuestTlb();
          w.resetHistory();
          for (let i = 0; i < NPAGES; i++) for (const kind of ['read', 'write', 'fetch'] as const) for (const user of [false, true]) w.check(i, kind, user, true);
          if (process.env.SHADOW_STATS) totals.push({ ...w.f.vm.stats.snapshot(), ...w.v.stats.snapshot() });
        }),
        { seed: 0x5eed + mode.length, numRuns: 40 },
      );
      if (process.env.SHADOW_STATS) {
        const sum: Record<string, number> = {};
        for (const t of totals) for (const [k, v] of Object.entries(t)) sum[k] = (sum[k] ?? 0) + v;
        console.log(mode, JSON.stringify(sum));
      }
    }, 120_000);
  }
});
