/**
 * Property (nested NPT): L1 rewrites NPT12 leaves (target, W, U, NX, present) and page-directory
 * entries through its direct map (unsynced hardware writes, or emulated writes to write-tracked
 * tables), re-enters L2, and L2 reads, writes and fetches its pages. Every L2 access is checked
 * against an NPT12 walk of L1's memory (the ngpa walker without A/D side effects) composed with
 * L2's own walk (identity for these pages: GVA page i → nGPA page i) and the memslot. Because
 * every VMRUN requests KVM_REQ_MMU_SYNC (`nested_svm_transition_tlb_flush`), the allowance is
 * reset at each transition: after an entry, L2 sees exactly the current NPT12, and an NPF reaches
 * L1 exactly when the current NPT12 refuses the access.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { NgpaWalker, PFERR } from '../../src';
import { nestedNpt, GVA, DATA_N } from './nested-npt-fixture';

const NP = 16;
const TARGETS = Array.from({ length: 8 }, (_, i) => 0x600_0000n + BigInt(i) * 0x1000n);
const KINDS = ['read', 'write', 'fetch'] as const;
// NPT12 leaf flag sets: P|W|U, P|U, P|W (supervisor), P|W|U|NX, not present.
const FLAGS = [0x7n, 0x5n, 0x3n, 0x7n | (1n << 63n), 0x6n];

type Op =
  | { k: 'leaf'; page: number; target: number; flags: number }
  | { k: 'pde'; half: number; what: 'orig' | 'alt' | 'none' }
  | { k: 'reenter' }
  | { k: 'access'; page: number; kind: (typeof KINDS)[number] };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ k: fc.constant('leaf' as const), page: fc.nat(NP - 1), target: fc.nat(TARGETS.length - 1), flags: fc.nat(FLAGS.length - 1) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('pde' as const), half: fc.nat(1), what: fc.constantFrom('orig' as const, 'alt' as const, 'none' as const) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('reenter' as const) }) },
  { weight: 8, arbitrary: fc.record({ k: fc.constant('access' as const), page: fc.nat(NP - 1), kind: fc.constantFrom(...KINDS) }) },
);

describe('nested NPT: random NPT12 writes, transitions and L2 accesses against an NPT12 walk', () => {
  for (const [host, npt12, seed] of [[4, 'paging4', 23], [5, 'paging4', 41], [4, 'pae', 67]] as const) {
    it(`${npt12} NPT12 on a ${host}-level host`, () => {
      fc.assert(
        fc.property(fc.array(opArb, { minLength: 10, maxLength: 40 }), (ops) => {
          const n = nestedNpt({ host, npt12 });
          // 16 L2 pages: GVA page i → nGPA page (i < 8 ? i : 512 + i - 8), two NPT12 page tables.
          const ngpa = (i: number) => DATA_N + BigInt(i < 8 ? i : 512 + i - 8) * 4096n;
          for (let i = 0; i < NP; i++) {
            n.l2pt.map(GVA + BigInt(i) * 4096n, ngpa(i), { flags: { writable: true } });
            n.npt.map(ngpa(i), TARGETS[i % 8]!, { flags: { writable: true, user: true } });
          }
          const origPde = [0, 8].map((i) => n.npt.getEntry(ngpa(i), 2).value);
          n.npt.map(DATA_N + 0x100_0000n, TARGETS[7]!, { count: 8, flags: { writable: true, user: true } });
          const altPde = n.npt.getEntry(DATA_N + 0x100_0000n, 2).value;
          const ref = NgpaWalker.npt(n.vm.guestMem, { ncr3: n.ncr3, l1: { ...n.l1Regs, cr3: 0n } });
          const snap = (i: number, kind: (typeof KINDS)[number]) => {
            const pfec = [0, PFERR.WRITE, PFERR.FETCH][KINDS.indexOf(kind)]!;
            const g = ref.peekFrame(Number(ngpa(i) >> 12n), pfec);
            return g < 0 ? 'fault' : `gfn:${g}`;
          };
          const inL1 = () => {
            if (n.v.nestedNpt?.active) n.v.exitNested();
          };
          const check = (i: number, kind: (typeof KINDS)[number]) => {
            if (!n.v.nestedNpt?.active) n.enter(); // a transition: the allowance is the current NPT12 only
            const r = n.v.access(GVA + BigInt(i) * 4096n, { kind });
            const want = snap(i, kind);
            let got: string;
            if (r.status === 'ok') got = `gfn:${(BigInt(r.hpa!) >> 12n) - BigInt(n.ram.pfnBase)}`;
            else {
              expect(r.status).toBe('l1-exit');
              expect(r.nestedExit?.kind).toBe('npf');
              got = 'fault';
            }
            if (got !== want) throw new Error(`page ${i} ${kind}: got ${got}, NPT12 says ${want}`);
          };
          for (const op of ops) {
            switch (op.k) {
              case 'leaf': {
                inL1();
                const e = n.npt.getEntry(ngpa(op.page), 2);
                if ((e.value & 1n) === 0n) break; // no NPT12 page table on this path now
                const r = n.storeEntry(ngpa(op.page), 1, TARGETS[op.target]! | FLAGS[op.flags]!);
                expect(['ok', 'emulated']).toContain(r.status);
                break;
              }
              case 'pde': {
                inL1();
                const v = op.what === 'orig' ? origPde[op.half]! : op.what === 'alt' ? altPde : 0n;
                const r = n.storeEntry(ngpa(op.half * 8), 2, v);
                expect(['ok', 'emulated']).toContain(r.status);
                break;
              }
              case 'reenter':
                inL1();
                n.enter();
                break;
              case 'access':
                check(op.page, op.kind);
                break;
            }
          }
          inL1();
          for (let i = 0; i < NP; i++) for (const kind of KINDS) check(i, kind);
        }),
        { seed, numRuns: 30 },
      );
    }, 120_000);
  }
});
