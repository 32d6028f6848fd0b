/**
 * The floor of any record-producing gva walk with the public record's shape: a raw walk, then the
 * objects a successful 4-level, 4 KiB record consists of — the `WalkOk` (14 fields), its trace
 * array, a new level-1 `WalkStep` and three bigints (the step's entry GPA and value, the record's
 * GPA) — with the level-4..2 steps shared, as walk-record-fast.ts's step cache shares them on the
 * bench's walks. Nothing is looked up: no step cache, no canonical check, no access object read.
 * So no record walk can take less time than this on the same walks, whatever it does inside;
 * `record_floor_over_raw` beside `record_over_raw` tells how much of the record walk's cost is the
 * record itself.
 *
 * The level-1 step's entry GPA and value are stand-ins of the same magnitude (built from the GFN
 * the raw walk found, through the same 64-bit BigInt expressions the record walk uses): this is a
 * cost, not a record anyone reads.
 */
import type { Gfn, Gpa, Gva } from '../src/address/address';
import type { Access } from '../src/walker/access';
import type { GvaWalker } from '../src/walker/gva-walker';
import type { WalkScratch } from '../src/walker/walk-scratch';
import type { WalkOk, WalkStep } from '../src/walker/walk-result';

const TWO20 = 0x100000;

const shared = (level: number): WalkStep =>
  Object.freeze({ level, source: 'memory' as const, entryGpa: 0x1000n as Gpa, value: 0x2027n, present: true, leaf: false, access: 15 });

/** `floor(vhi, vlo, access, address, accessObj)`: walkRaw, then the record's objects. */
export type RecordFloor = (vhi: number, vlo: number, access: number, address: Gva, accessObj: Access) => WalkOk | undefined;

export function makeRecordFloor(w: GvaWalker): RecordFloor {
  const s = (w as unknown as { scratch: WalkScratch }).scratch;
  const s5 = shared(5);
  const s4 = shared(4);
  const s3 = shared(3);
  const s2 = shared(2);
  const five = w.role.pagingMode === '5-level';
  // The tail of x86RecordWalk (walk-record-fast.ts), large leaves and 5-level paging included. Also
  // what keeps this function, like x86RecordWalk, above V8's 460-byte limit for inlining a callee:
  // inlined into the bench's loop, whose only use of the record is `.level`, its objects would be
  // replaced by their fields (escape analysis) and never allocated.
  return function recordFloor(vhi, vlo, access, address, accessObj) {
    if (w.walkRaw(vhi, vlo, access) !== 0) return undefined;
    const gfn = s.gfn;
    const level = s.level;
    // As in the record walk: halves typed as 32-bit integers, so the BigInt expressions compile
    // to 64-bit integer operations and one allocation each (a half V8 sees as a double makes
    // BigInt() call the runtime: 3-4x the time).
    const glo = ((gfn & 0xfffff) << 12) >>> 0;
    const ghi = (gfn / TWO20) >>> 0;
    let trace: WalkStep[];
    if (level === 1) {
      const s1: WalkStep = {
        level: 1,
        source: 'memory',
        entryGpa: BigInt.asUintN(64, (BigInt(ghi) << 32n) | BigInt((glo | ((vlo >>> 9) & 0xff8)) >>> 0)) as Gpa,
        value: BigInt.asUintN(64, (BigInt(ghi) << 32n) | BigInt((glo | 0x67) >>> 0)),
        present: true,
        leaf: true,
        access: s.pteAccess,
      };
      trace = five ? [s5, s4, s3, s2, s1] : [s4, s3, s2, s1];
    } else if (level === 2) trace = five ? [s5, s4, s3, s2] : [s4, s3, s2];
    else trace = five ? [s5, s4, s3] : [s4, s3];
    return {
      status: 'ok',
      stage: 'gva_walk',
      address,
      access: accessObj,
      trace,
      gpa: BigInt.asUintN(64, (BigInt(ghi) << 32n) | BigInt((glo | (vlo & 0xfff)) >>> 0)) as Gpa,
      gfn: gfn as Gfn,
      level,
      pageSize: level === 1 ? 4096 : level === 2 ? 0x20_0000 : 0x4000_0000,
      pteAccess: s.pteAccess,
      pkey: s.pkey,
      gpaKind: 'ram',
      adUpdates: 0,
    };
  };
}
