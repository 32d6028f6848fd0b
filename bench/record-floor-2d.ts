/**
 * The floor of any record-producing 2D walk with the public record's shape: a raw 2D walk, then
 * the objects a successful record consists of, as walk() makes them on bench/walk2d.bench.ts's
 * walks — the `Walk2DOk` through walk-2d.ts's own constructor (walk-2d-ok-record.ts: the same map and
 * prototype), its references array with the references before L2's leaf entry shared (the traced
 * walk's segment caches hand those out frozen on the bench's walks: tiers A and B cover 19 of the
 * 24), a new reference for the leaf entry and one per entry of the final nested walk, L2's trace
 * with the steps above the leaf shared and a new leaf step, an empty `dirtyLogged`, and the
 * bigints walk() makes anew: the leaf entry's GPA, nGPA and value (its step shares them), the final
 * nested walk's nGPA, the GPA and value of each of its entries below the top one (the top one
 * shares the bigints of the reference to the same entry in the nested walk before it, as the
 * traced walk's in-walk sharing does), and the record's GPA and nGPA.
 * Nothing is looked up: no segment cache, no canonical check, no access encoded, no memory kind,
 * no bookkeeping of the nested walker. So no record walk can take less time than this on the same
 * walks, whatever it does inside; `record_floor_over_raw` beside `record_over_raw` tells how much
 * of the record walk's cost is the record itself.
 *
 * The new references' numbers are stand-ins of the same magnitude (built from the frames the raw
 * walk found, through the U64View expressions the traced walk uses): this is a cost, not a record
 * anyone reads. The final nested walk is taken to read `nestedLevels` entries (4 KiB EPT12/NPT12
 * pages, as the bench's tables).
 */
import type { Gfn, Gpa, Gva, Ngpa } from '../src/address/address';
import type { Access } from '../src/walker/access';
import type { WalkScratch } from '../src/walker/walk-scratch';
import type { WalkStep } from '../src/walker/walk-result';
import type { Walk2D } from '../src/nested/walk-2d';
import { OkRecord } from '../src/nested/walk-2d-ok-record';
import type { MemRef2D, Walk2DOk } from '../src/nested/walk-2d-result';
import { U64View } from '../src/u64-view';

/** `floor(vhi, vlo, access, address, accessObj)`: Walk2D.walkRaw, then the record's objects. */
export type RecordFloor2D = (vhi: number, vlo: number, access: number, address: Gva, accessObj: Access) => Walk2DOk | undefined;

export function makeRecordFloor2D(w: Walk2D): RecordFloor2D {
  const s = (w as unknown as { scratch: WalkScratch }).scratch;
  const u64 = new U64View();
  const n = w.guestLevels;
  const m = w.nestedLevels;
  // The shared references of a full-depth walk, in walk order: per L2 level l = n..1 its table's
  // nested walk (levels m..1), then its entry; frozen, as the segment caches keep them.
  const shared: MemRef2D[] = [];
  for (let l = n; l >= 1; l--) {
    for (let k = m; k >= 1; k--) {
      shared.push(Object.freeze({ seq: shared.length + 1, kind: 'nested' as const, guestLevel: l, level: k, gpa: 0x1000n as Gpa, ngpa: 0x1_0000_0000n as Ngpa, value: 0x2107n }));
    }
    shared.push(Object.freeze({ seq: shared.length + 1, kind: 'guest' as const, guestLevel: l, level: l, gpa: 0x1_0000_1000n as Gpa, ngpa: 0x1_0000_1000n as Ngpa, value: 0x1_0000_2027n }));
  }
  // L2's steps by trace position (level n at 0), frozen as the segment caches' steps.
  const steps: WalkStep[] = [];
  for (let l = n; l >= 1; l--) {
    steps.push(Object.freeze({ level: l, source: 'memory' as const, entryGpa: 0x1_0000_1000n as Gpa, value: 0x1_0000_2027n, present: true, leaf: false, access: 15 }));
  }
  // Kept above V8's 460-byte limit for inlining a callee by its loops and literals (as
  // record-floor.ts): inlined into the bench's loop, whose only use of the record is `.refCount`,
  // its objects would be replaced by their fields (escape analysis) and never allocated.
  return function recordFloor2D(vhi, vlo, access, address, accessObj) {
    if (w.walkRaw(vhi, vlo, access) !== 0) return undefined;
    const g = s.gfn;
    const ng = s.guestGfn;
    const level = s.level;
    const pageOff = vlo & 0xfff;
    // References before the leaf entry: n - level table walks and entries above, and the leaf
    // table's nested walk.
    const before = (n - level) * (m + 1) + m;
    const count = before + 1 + m;
    const out = new Array<MemRef2D>(count);
    for (let k = 0; k < before; k++) out[k] = shared[k]!;
    const trace = new Array<WalkStep>(n);
    for (let k = 0; k < n - level; k++) trace[k] = steps[k]!;
    // The leaf entry (stand-ins: its offset from the address, its value from the final frame).
    const off = (vlo >>> 9) & 0xff8;
    const gpaBig = u64.makeNum(g * 4096 + off) as Gpa;
    const value = u64.make((((g & 0xfffff) << 12) | 0x67) >>> 0, g >>> 20);
    out[before] = { seq: before + 1, kind: 'guest', guestLevel: level, level, gpa: gpaBig, ngpa: u64.makeNum(ng * 4096 + off) as Ngpa, value };
    trace[n - level] = { level, source: 'memory', entryGpa: gpaBig, value, present: true, leaf: true, access: s.pteAccess };
    if (level !== 1) trace.length = n - level + 1;
    // The final nested walk: its top entry's bigints from the reference to it in the walk before.
    const ngBig = u64.makeNum(ng * 4096) as Ngpa;
    const top = shared[before - m]!;
    out[before + 1] = { seq: before + 2, kind: 'nested', guestLevel: 0, level: m, gpa: top.gpa, ngpa: ngBig, value: top.value };
    for (let k = m - 1; k >= 1; k--) {
      const i = before + 1 + m - k;
      out[i] = {
        seq: i + 1,
        kind: 'nested',
        guestLevel: 0,
        level: k,
        gpa: u64.makeNum((g >>> (9 * k)) * 4096 + ((g >>> (9 * k - 9)) & 511) * 8) as Gpa,
        ngpa: ngBig,
        value: u64.make((((g & 0xfffff) << 12) | 0x107) >>> 0, g >>> 20),
      };
    }
    // The record's two addresses as fastOkRecord writes them out.
    return new OkRecord(
      address,
      accessObj,
      trace,
      BigInt.asUintN(64, (BigInt(g >>> 20) << 32n) | BigInt((((g & 0xfffff) << 12) | pageOff) >>> 0)) as Gpa,
      g as Gfn,
      level,
      level === 1 ? 4096 : level === 2 ? 0x20_0000 : 4096 * 512 ** (level - 1),
      s.pteAccess,
      s.pkey,
      'ram',
      0,
      BigInt.asUintN(64, (BigInt(ng >>> 20) << 32n) | BigInt((((ng & 0xfffff) << 12) | pageOff) >>> 0)) as Ngpa,
      n,
      m,
      out,
      w.lastRefCount,
      [],
    );
  };
}
