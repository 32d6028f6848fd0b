/**
 * Property (nested EPT): L1 rewrites EPT12 leaves and page-directory entries (through its own TDP
 * mapping: unsynced hardware writes, or emulated writes to write-tracked tables), issues INVEPT,
 * and L2 accesses its pages. Every L2 access is checked against an EPT12 walk of L1's memory
 * (the ngpa walker, without A/D side effects) and the memslot: it reaches the frame of the current
 * EPT12 translation or of one EPT12 had since the last INVEPT (EPT-tagged TLB entries survive VM
 * exits and entries); a reflection to L1 happens only when the current EPT12 refuses the access.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { NgpaWalker, PFERR, DEFAULT_EPT_CAPS } from '../../src';
import { nested, DM, GVA, DATA_N } from './nested-fixture';

const NP = 16;
const TARGETS = Array.from({ length: 8 }, (_, i) => 0x600_0000n + BigInt(i) * 0x1000n);
const KINDS = ['read', 'write', 'fetch'] as const;

type Op =
  | { k: 'leaf'; page: number; target: number; rwx: number }
  | { k: 'pde'; half: number; what: 'orig' | 'alt' | 'none' }
  | { k: 'invept'; global: boolean }
  | { k: 'access'; page: number; kind: (typeof KINDS)[number] };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ k: fc.constant('leaf' as const), page: fc.nat(NP - 1), target: fc.nat(TARGETS.length - 1), rwx: fc.constantFrom(0, 1, 3, 4, 5, 7) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('pde' as const), half: fc.nat(1), what: fc.constantFrom('orig' as const, 'alt' as const, 'none' as const) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('invept' as const), global: fc.boolean() }) },
  { weight: 8, arbitrary: fc.record({ k: fc.constant('access' as const), page: fc.nat(NP - 1), kind: fc.constantFrom(...KINDS) }) },
);

describe('nested EPT: random EPT12 writes, INVEPT and L2 accesses against an EPT12 walk', () => {
  for (const ad of [false, true]) {
    it(`EPT12 A/D ${ad ? 'on' : 'off'}`, () => {
      fc.assert(
        fc.property(fc.array(opArb, { minLength: 10, maxLength: 40 }), (ops) => {
          const n = nested({ ad });
          // 16 L2 pages: GVA page i → nGPA page (i < 8 ? i : 512 + i - 8), two EPT12 page tables.
          const ngpa = (i: number) => DATA_N + BigInt(i < 8 ? i : 512 + i - 8) * 4096n;
          for (let i = 0; i < NP; i++) {
            n.l2pt.map(GVA + BigInt(i) * 4096n, ngpa(i), { flags: { writable: true } });
            n.ept.map(ngpa(i), TARGETS[i % 8]!);
          }
          const origPde = [0, 8].map((i) => n.ept.getEntry(ngpa(i), 2).value);
          n.ept.map(DATA_N + 0x100_0000n, TARGETS[7]!, { count: 8 });
          const altPde = n.ept.getEntry(DATA_N + 0x100_0000n, 2).value;
          const ref = NgpaWalker.ept(n.vm.guestMem, { eptp: n.eptp, caps: DEFAULT_EPT_CAPS });
          const snap = (i: number) =>
            [PFERR.USER, PFERR.WRITE, PFERR.FETCH].map((pfec) => {
              const g = ref.peekFrame(Number(ngpa(i) >> 12n), pfec);
              return g < 0 ? 'fault' : `gfn:${g}`;
            });
          let hist: string[][][] = [];
          const reset = () => (hist = Array.from({ length: NP }, (_, i) => [snap(i)]));
          const record = () => {
            for (let i = 0; i < NP; i++) {
              const s = snap(i);
              if (!hist[i]!.some((h) => h.join() === s.join())) hist[i]!.push(s);
            }
          };
          reset();
          const inL1 = () => {
            if (n.v.nested?.active) n.v.exitNested();
          };
          const check = (i: number, kind: (typeof KINDS)[number], exact: boolean) => {
            if (!n.v.nested?.active) n.enter();
            const r = n.v.access(GVA + BigInt(i) * 4096n, { kind });
            const col = KINDS.indexOf(kind);
            const cur = snap(i)[col]!;
            const allowed = (exact ? [cur] : [...hist[i]!.map((h) => h[col]!), cur]);
            let got: string;
            if (r.status === 'ok') got = `gfn:${(BigInt(r.hpa!) >> 12n) - BigInt(n.ram.pfnBase)}`;
            else {
              expect(r.status).toBe('l1-exit');
              expect(cur).toBe('fault');
              got = 'fault';
            }
            if (!allowed.includes(got)) throw new Error(`page ${i} ${kind}: got ${got}, allowed ${allowed.join(' | ')}`);
          };
          for (const op of ops) {
            switch (op.k) {
              case 'leaf': {
                inL1();
                const e = n.ept.getEntry(ngpa(op.page), 2);
                if ((e.value & 7n) === 0n) break; // no EPT12 page table on this path now
                const leaf = n.ept.getEntry(ngpa(op.page), 1);
                const r = n.v.store(DM + BigInt(leaf.gpa), TARGETS[op.target]! | BigInt(op.rwx) | (6n << 3n), 8);
                expect(['ok', 'emulated']).toContain(r.status);
                record();
                break;
              }
              case 'pde': {
                inL1();
                const e = n.ept.getEntry(ngpa(op.half * 8), 2);
                const v = op.what === 'orig' ? origPde[op.half]! : op.what === 'alt' ? altPde : 0n;
                const r = n.v.store(DM + BigInt(e.gpa), v, 8);
                // Emulated while an upper-level EPT02 page shadows that table (write-tracked); else plain.
                expect(['ok', 'emulated']).toContain(r.status);
                record();
                break;
              }
              case 'invept':
                inL1();
                if (op.global) n.v.invept('global');
                else n.v.invept('single', n.eptp);
                reset();
                for (let i = 0; i < NP; i++) check(i, 'read', true);
                break;
              case 'access':
                check(op.page, op.kind, false);
                break;
            }
          }
          inL1();
          n.v.invept('global');
          reset();
          for (let i = 0; i < NP; i++) for (const kind of KINDS) check(i, kind, true);
        }),
        { seed: ad ? 17 : 71, numRuns: 30 },
      );
    }, 120_000);
  }
});
