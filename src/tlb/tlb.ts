/**
 * One logical processor's TLBs and paging-structure caches (per-vCPU state: each vCPU owns one).
 *
 * Entries carry the tags SDM Vol. 3A §4.10.2.4 / Vol. 3C §28.3.1 give them: the VPID (AMD: the
 * ASID), the PCID, the EP4TA of the EPTP for combined mappings (−1: a linear mapping, made with
 * EPT off — shadow paging or NPT), and the global bit. Guest-physical mappings (GPA → HPA, made by
 * the EPT/NPT dimension of a 2D walk) are tagged by the EP4TA only (SDM §28.3.1; on AMD also the
 * ASID). Lookups and fills are architectural; every invalidation is one method named after the
 * instruction or event, implementing the SDM rule cited there.
 */
import { Counters, counterSlot } from '../events/stats';
import type { EventInput } from '../events/event-log';
import { InvalidArgumentError, hex } from '../errors';
import { SetAssoc } from './set-assoc';
import { describeValue } from '../validate/describe-value';
import { MAX_FRAME, checkBigint, checkBool, checkEnum, checkFill, checkInt, checkLevel, checkObject, checkTag, checkTagFrame, checkVa, checkVpn } from './check-tlb-args';
import { makeTlbConfig, type TlbConfig, type TlbConfigSpec } from './tlb-config';

export const TLB_STAT_NAMES = [
  'lookups', 'l1_hits', 'stlb_hits', 'misses', 'fills', 'walk_refs', 'walk_refs_guest', 'walk_refs_nested',
  'psc_hits', 'nested_tlb_hits', 'nested_psc_hits', 'invalidations', 'entries_invalidated',
  'flush_all', 'flush_current', 'flush_guest',
] as const;
export type TlbStatName = (typeof TLB_STAT_NAMES)[number];
const LOOKUPS = counterSlot(TLB_STAT_NAMES, 'lookups');
const L1_HITS = counterSlot(TLB_STAT_NAMES, 'l1_hits');
const STLB_HITS = counterSlot(TLB_STAT_NAMES, 'stlb_hits');
const MISSES = counterSlot(TLB_STAT_NAMES, 'misses');

export type { TlbTag, SizeIndex, TlbEntry, PscEntry, NestedEntry, TlbHitLevel, TlbFill } from './tlb-entry';
import type { TlbEntry, TlbTag, PscEntry, NestedEntry, TlbHitLevel, TlbFill } from './tlb-entry';

/**
 * A fresh entry with one fixed shape. Built field by field, not by object spread/rest: those
 * took ~100 µs per fill on the (loaded) build machine, two orders of magnitude over this.
 */
function copyEntry(e: Omit<TlbEntry, 'used' | 'index'>, index: number): TlbEntry {
  return {
    index, used: 0, vpid: e.vpid, pcid: e.pcid, eptp: e.eptp, size: e.size, global: e.global,
    hostFrame: e.hostFrame, guestFrame: e.guestFrame, acc: e.acc, pkey: e.pkey, tdpAcc: e.tdpAcc, gpaKind: e.gpaKind,
  };
}

const SPAN = [1, 512, 262144] as const;
const VPN_MASK = (1n << 45n) - 1n;

/** 4 KiB page number of a linear address (bits 56:12, so 5-level addresses fit a double). */
export function vpnOf(va: bigint): number {
  return vpnOfUnchecked(checkVa('va', va));
}
/** `vpnOf` for the vCPU's access path (its addresses are u64 bigints already). */
export function vpnOfUnchecked(va: bigint): number {
  // Below 2^53 the address is exact as a double: no BigInt is made (a TLB hit computes this).
  const n = Number(va);
  if (n >= 0 && n < 2 ** 53) return Math.floor(n / 4096);
  return Number((va >> 12n) & VPN_MASK);
}

function refuseLevel(level: unknown): void {
  checkEnum('level', level, ['l1', 'stlb']);
}

/** The #GP checks of INVPCID (SDM Vol. 2A "INVPCID"), apart so a vCPU without a TLB model makes them too. */
export function checkInvpcid(type: number, pcid: number, pcide: boolean): void {
  if (!Number.isInteger(type) || type < 0 || type > 3) throw new InvalidArgumentError('invpcid-type', 'type: INVPCID types are 0-3 (#GP otherwise)', describeValue(type));
  if (!Number.isInteger(pcid) || pcid < 0 || pcid > 0xfff) throw new InvalidArgumentError('invpcid-pcid', 'pcid: the INVPCID descriptor\'s bits 63:12 must be 0 (#GP otherwise)', describeValue(pcid));
  checkBool('pcide', pcide);
  if (!pcide && (type === 0 || type === 1) && pcid !== 0) throw new InvalidArgumentError('invpcid-pcide', 'pcid: with CR4.PCIDE=0 a type 0/1 INVPCID names PCID 0 (#GP otherwise)', String(pcid));
}

/**
 * An L1 TLB array as the vCPU's TLB-hit path uses it (`Tlb.l1Unchecked`): the entry of page size
 * `s` for `index` whose tag matches `t` (nothing changes), and marking an entry most recently used.
 */
export interface TlbSizedArray {
  peekSized(index: number, t: TlbTag, s: number): TlbEntry | undefined;
  touch(e: TlbEntry): void;
}

/**
 * A TLB array: a set-associative array whose lookup (`findWithUnchecked(index, match)` with the
 * match `Tlb.matches` and the page size) compares the tag inline instead of calling a match per
 * way — it runs on every TLB hit. Not exported: the TLB's own.
 */
class TlbArray extends SetAssoc<TlbEntry> implements TlbSizedArray {
  /** The entry of page size `s` for `index` whose tag `Tlb.matches` `t`, marked most recently used. */
  findSized(index: number, t: TlbTag, s: number): TlbEntry | undefined {
    const e = this.peekSized(index, t, s);
    if (e !== undefined) this.touch(e);
    return e;
  }

  /**
   * `findSized` without marking the entry used (nothing changes). Kept small in bytecode (no
   * destructuring of `t`: its fields are read only for the way whose index and size match), so
   * that V8 inlines it into the vCPU's TLB hit within that function's inlining budget.
   */
  peekSized(index: number, t: TlbTag, s: number): TlbEntry | undefined {
    if (this.sets === 0) return undefined;
    const b = this.base(index);
    const end = b + this.ways;
    for (let w = b; w < end; w++) {
      const e = this.slots[w];
      // SDM §4.10.2.4: a global translation may be used whatever the current PCID.
      if (e !== undefined && e.index === index && e.size === s && e.vpid === t.vpid && e.eptp === t.eptp && (e.pcid === t.pcid || e.global)) return e;
    }
    return undefined;
  }

  /** Mark `e`, an entry of this array, most recently used (what `findSized` does to the entry it returns). */
  touch(e: TlbEntry): void {
    e.used = ++this.clock;
  }
}

export class Tlb {
  readonly config: Readonly<TlbConfig>;
  readonly stats = new Counters<TlbStatName>(TLB_STAT_NAMES);
  /** Where invalidation events go (the VM's event log); set by the owner. */
  sink: ((e: EventInput) => void) | undefined;
  /** The vCPU index for events. */
  vcpu = -1;
  private readonly l1d: TlbArray[];
  private readonly l1i: TlbArray[];
  private readonly l2: TlbArray[];
  /** PSC by level: [5] PML5E, [4] PML4E, [3] PDPTE, [2] PDE. */
  private readonly psc: (SetAssoc<PscEntry> | undefined)[];
  private readonly ntlb: SetAssoc<NestedEntry>;
  /** Nested PSC by level: [4] PML4E, [3] PDPTE, [2] PDE. */
  private readonly npsc: (SetAssoc<NestedEntry> | undefined)[];

  constructor(spec: TlbConfigSpec = {}) {
    const c = makeTlbConfig(spec);
    this.config = c;
    this.l1d = [new TlbArray(c.dtlb4k), new TlbArray(c.dtlb2m), new TlbArray(c.dtlb1g)];
    this.l1i = [new TlbArray(c.itlb4k), new TlbArray(c.itlb2m), new TlbArray({ entries: 0, ways: 1 })];
    const shared = new TlbArray(c.stlb);
    this.l2 = [shared, shared, new TlbArray(c.stlb1g)];
    this.psc = [undefined, undefined, new SetAssoc(c.pdeCache), new SetAssoc(c.pdpteCache), new SetAssoc(c.pml4eCache), new SetAssoc(c.pml5eCache)];
    this.ntlb = new SetAssoc(c.nestedTlb);
    this.npsc = [undefined, undefined, new SetAssoc(c.nestedPdeCache), new SetAssoc(c.nestedPdpteCache), new SetAssoc(c.nestedPml4eCache)];
  }

  // ---- lookup and fill ----

  private static matches(e: TlbEntry, t: TlbTag): boolean {
    // SDM §4.10.2.4: a global translation may be used whatever the current PCID.
    return e.vpid === t.vpid && e.eptp === t.eptp && (e.pcid === t.pcid || e.global);
  }

  private findIn(arrays: TlbArray[], t: TlbTag, vpn: number): TlbEntry | undefined {
    for (let s = 0; s < 3; s++) {
      const e = arrays[s]!.findSized(s === 0 ? vpn : Math.floor(vpn / SPAN[s]!), t, s);
      if (e !== undefined) return e;
    }
    return undefined;
  }

  /** Where the last `find` hit: its level ('l1' or 'stlb'). */
  lastHitLevel: TlbHitLevel = 'l1';

  /**
   * `lookupUnchecked` without the result object (the access pipeline's hit path): the entry,
   * with the level it came from in `lastHitLevel`.
   */
  findUnchecked(t: TlbTag, vpn: number, fetch: boolean): TlbEntry | undefined {
    this.stats.add(LOOKUPS);
    const l1 = fetch ? this.l1i : this.l1d;
    let e = this.findIn(l1, t, vpn);
    if (e !== undefined) {
      this.lastHitLevel = 'l1';
      return e;
    }
    e = this.findIn(this.l2, t, vpn);
    if (e === undefined) return undefined;
    this.insertL1(l1, copyEntry(e, e.index));
    this.lastHitLevel = 'stlb';
    return e;
  }

  /**
   * The L1 arrays (ITLB for fetches, DTLB otherwise) by page size, for the vCPU's TLB-hit path:
   * it looks for the L1 entry `findUnchecked` would return from its L1 for `vpn` in context `t`
   * with nothing changed (no lookup counted, no entry marked used): `l1[0].peekSized(vpn, t, 0)`,
   * the 4 KiB array first as `findIn` does, then `peekL1LargeUnchecked`. When it uses the entry it
   * calls `useL1Unchecked`, which makes the changes `findUnchecked` + `hit('l1')` make; otherwise
   * it takes the full lookup, which finds the same entry (or none) as if the peek had not happened.
   * The hit calls `peekSized` itself, not through a method of this class, so that V8 considers it
   * for inlining into the hit as a call of the hit's own, before its budget is spent (a call nested
   * in an inlined method is considered last and stayed a call, with the VPN boxed as a heap number).
   */
  l1Unchecked(fetch: boolean): readonly TlbSizedArray[] {
    return fetch ? this.l1i : this.l1d;
  }

  /** The L1 entry for `vpn` in context `t` in the 2 MiB and 1 GiB arrays of `l1` (from `l1Unchecked`), in that order; nothing changes. */
  peekL1LargeUnchecked(l1: readonly TlbSizedArray[], t: TlbTag, vpn: number): TlbEntry | undefined {
    for (let s = 1; s < 3; s++) {
      const e = l1[s]!.peekSized(Math.floor(vpn / SPAN[s]!), t, s);
      if (e !== undefined) return e;
    }
    return undefined;
  }

  /** Use `e`, the entry found in `l1` (from `l1Unchecked`): count the lookup and the L1 hit, mark `e` most recently used. */
  useL1Unchecked(e: TlbEntry, l1: readonly TlbSizedArray[]): void {
    const st = this.stats;
    st.addUnchecked(LOOKUPS);
    l1[e.size]!.touch(e); // peekSized found `e` in the array of its size
    this.lastHitLevel = 'l1';
    st.addUnchecked(L1_HITS);
  }

  /**
   * The entry translating `vpn` in context `t`: the L1 (ITLB for fetches, DTLB otherwise), then
   * the STLB, whose hit is copied into the L1. Counts the lookup; a miss is counted by the caller
   * once it knows the access really walked (`miss()`).
   */
  lookup(t: TlbTag, vpn: number, fetch: boolean): { entry: TlbEntry; level: TlbHitLevel } | undefined {
    return this.lookupUnchecked(checkTag('t', t), checkVpn('vpn', vpn), checkBool('fetch', fetch));
  }

  /** `lookup` for the vCPU's access path. */
  lookupUnchecked(t: TlbTag, vpn: number, fetch: boolean): { entry: TlbEntry; level: TlbHitLevel } | undefined {
    const e = this.findUnchecked(t, vpn, fetch);
    return e === undefined ? undefined : { entry: e, level: this.lastHitLevel };
  }

  /** Count a hit the caller used. */
  hit(level: TlbHitLevel): void {
    if (level !== 'l1' && level !== 'stlb') refuseLevel(level); // a call: the access pipeline inlines this
    this.stats.add(level === 'l1' ? L1_HITS : STLB_HITS);
  }

  /** Count a miss: the access walked. */
  miss(): void {
    this.stats.add(MISSES);
  }

  private insertL1(l1: TlbArray[], e: TlbEntry): void {
    l1[e.size]!.insertUnchecked(e, (o) => o.size === e.size && o.vpid === e.vpid && o.pcid === e.pcid && o.eptp === e.eptp);
  }

  /** Cache a translation after a successful walk (L1 and STLB). */
  fill(e: TlbFill, fetch: boolean): void {
    this.fillUnchecked(checkFill('e', e), checkBool('fetch', fetch));
  }

  /** `fill` for the vCPU's access path. */
  fillUnchecked(e: TlbFill, fetch: boolean): void {
    const entry = copyEntry(e, Math.floor(e.vpn / SPAN[e.size]!));
    this.stats.inc('fills');
    this.insertL1(fetch ? this.l1i : this.l1d, entry);
    const l2 = this.l2[e.size]!;
    l2.insertUnchecked(copyEntry(entry, entry.index), (o) => o.size === entry.size && o.vpid === entry.vpid && o.pcid === entry.pcid && o.eptp === entry.eptp);
  }

  // ---- paging-structure caches (§4.10.3) ----

  /**
   * The lowest level whose entry the PSCs hold for `vpn` (a walk starts below it): 2 means the
   * PDE cache had the PDE, so only the PT is read. Returns `top + 1` when nothing is cached.
   */
  pscLookup(t: TlbTag, vpn: number, top: number): number {
    return this.pscLookupUnchecked(checkTag('t', t), checkVpn('vpn', vpn), checkLevel('top', top, 1, 5));
  }

  /** `pscLookup` for the vCPU's access path. */
  pscLookupUnchecked(t: TlbTag, vpn: number, top: number): number {
    for (let level = 2; level <= top && level <= 5; level++) {
      const arr = this.psc[level]!;
      if (arr.capacity === 0) continue;
      const idx = Math.floor(vpn / 512 ** (level - 1));
      if (arr.findUnchecked(idx, (p) => p.vpid === t.vpid && p.pcid === t.pcid && p.eptp === t.eptp && p.level === level) !== undefined) {
        this.stats.inc('psc_hits');
        return level;
      }
    }
    return top + 1;
  }

  /** Cache the non-leaf entry of `level` read by a walk of `vpn`. */
  pscFill(t: TlbTag, vpn: number, level: number): void {
    this.pscFillUnchecked(checkTag('t', t), checkVpn('vpn', vpn), checkLevel('level', level, 2, 5));
  }

  /** `pscFill` for the vCPU's access path. */
  pscFillUnchecked(t: TlbTag, vpn: number, level: number): void {
    const arr = this.psc[level];
    if (arr === undefined) return;
    const idx = Math.floor(vpn / 512 ** (level - 1));
    arr.insertUnchecked({ index: idx, used: 0, level, vpid: t.vpid, pcid: t.pcid, eptp: t.eptp }, (o) => o.vpid === t.vpid && o.pcid === t.pcid && o.eptp === t.eptp);
  }

  /**
   * References the second dimension needs to translate guest frame `gfn` whose nested walk has
   * `top` levels and ends at `leaf`: 0 on a nested-TLB hit, else the levels below the deepest
   * nested-PSC hit. Fills the caches as the walk would.
   */
  nestedRefs(eptp: number, asid: number, gfn: number, top: number, leaf: number, hostFrame: number): number {
    checkTagFrame('eptp', eptp);
    checkInt('asid', asid, { min: -1, max: 0xffff_ffff });
    checkInt('gfn', gfn, { max: MAX_FRAME });
    const tp = checkLevel('top', top, 1, 5);
    // The nested TLB holds 4 KiB, 2 MiB and 1 GiB pages: a leaf at level 1..3, at most the top.
    checkLevel('leaf', leaf, 1, Math.min(3, tp));
    checkInt('hostFrame', hostFrame, { max: MAX_FRAME });
    return this.nestedRefsUnchecked(eptp, asid, gfn, top, leaf, hostFrame);
  }

  /** `nestedRefs` for the vCPU's access path. */
  nestedRefsUnchecked(eptp: number, asid: number, gfn: number, top: number, leaf: number, hostFrame: number): number {
    const sz = leaf - 1;
    const tag = (e: NestedEntry) => e.eptp === eptp && e.asid === asid;
    if (this.ntlb.capacity > 0 && this.ntlb.findUnchecked(Math.floor(gfn / SPAN[sz]!) * 4 + sz, (e) => tag(e) && e.level === sz) !== undefined) {
      this.stats.inc('nested_tlb_hits');
      return 0;
    }
    let start = top;
    for (let level = 2; level <= top && level <= 4; level++) {
      if (level <= leaf) continue;
      const arr = this.npsc[level]!;
      if (arr.capacity > 0 && arr.findUnchecked(Math.floor(gfn / 512 ** (level - 1)), (e) => tag(e) && e.level === level) !== undefined) {
        this.stats.inc('nested_psc_hits');
        start = level - 1;
        break;
      }
    }
    for (let level = leaf + 1; level <= top && level <= 4; level++) {
      this.npsc[level]!.insertUnchecked({ index: Math.floor(gfn / 512 ** (level - 1)), used: 0, eptp, asid, level, hostFrame: 0 }, (o) => tag(o) && o.level === level);
    }
    this.ntlb.insertUnchecked({ index: Math.floor(gfn / SPAN[sz]!) * 4 + sz, used: 0, eptp, asid, level: sz, hostFrame }, (o) => tag(o) && o.level === sz);
    return start - leaf + 1;
  }

  // ---- invalidation ----

  private static covers(e: TlbEntry, vpn: number): boolean {
    return Math.floor(vpn / SPAN[e.size]!) === e.index;
  }

  private dropTlb(pred: (e: TlbEntry) => boolean): number {
    let n = 0;
    for (const arr of [...this.l1d, ...this.l1i, this.l2[0]!, this.l2[2]!]) n += arr.invalidate(pred);
    return n;
  }

  private dropPsc(pred: (e: PscEntry) => boolean): number {
    let n = 0;
    for (const arr of this.psc) if (arr !== undefined) n += arr.invalidate(pred);
    return n;
  }

  private dropNested(pred: (e: NestedEntry) => boolean): number {
    let n = this.ntlb.invalidate(pred);
    for (const arr of this.npsc) if (arr !== undefined) n += arr.invalidate(pred);
    return n;
  }

  private done(what: string, n: number, va?: bigint): number {
    this.stats.inc('invalidations');
    this.stats.inc('entries_invalidated', n);
    this.sink?.({ kind: 'tlb_invalidate', vcpu: this.vcpu, gva: va ?? null, outcome: `${what}: ${n} entries` });
    return n;
  }

  /**
   * INVLPG (SDM Vol. 3A §4.10.4.1): the TLB entries for the page of `va` in the current VPID and
   * PCID, global ones included, and every paging-structure-cache entry of the current PCID. In VMX
   * non-root operation this acts on the current VPID (Vol. 3C §28.3.3.1), for every EP4TA.
   */
  invlpg(t: TlbTag, va: bigint): number {
    checkTag('t', t);
    const vpn = vpnOf(va);
    let n = this.dropTlb((e) => e.vpid === t.vpid && (e.pcid === t.pcid || e.global) && Tlb.covers(e, vpn));
    n += this.dropPsc((p) => p.vpid === t.vpid && p.pcid === t.pcid);
    return this.done('INVLPG', n, va);
  }

  /**
   * INVPCID (SDM Vol. 2A "INVPCID"; Vol. 3A §4.10.4.1), in the current VPID:
   * 0 individual-address: non-global entries of (`pcid`, page of `va`) and the PSC entries of `pcid`;
   * 1 single-context: non-global entries of `pcid` and its PSC entries;
   * 2 all-context including globals: every entry;
   * 3 all-context: every non-global entry (and all PSC entries).
   * #GP (thrown, nothing changed): type > 3, PCID > 4095, a non-canonical type-0 address (checked by
   * the caller, which knows the paging mode), and with CR4.PCIDE=0 a type 0/1 PCID other than 0.
   */
  invpcid(t: TlbTag, type: number, pcid: number, va: bigint, pcide: boolean): number {
    checkTag('t', t);
    checkInvpcid(type, pcid, pcide);
    const vpn = vpnOf(va);
    const v = t.vpid;
    let n: number;
    if (type === 0) n = this.dropTlb((e) => e.vpid === v && e.pcid === pcid && !e.global && Tlb.covers(e, vpn)) + this.dropPsc((p) => p.vpid === v && p.pcid === pcid);
    else if (type === 1) n = this.dropTlb((e) => e.vpid === v && e.pcid === pcid && !e.global) + this.dropPsc((p) => p.vpid === v && p.pcid === pcid);
    else if (type === 2) n = this.dropTlb((e) => e.vpid === v) + this.dropPsc((p) => p.vpid === v);
    else n = this.dropTlb((e) => e.vpid === v && !e.global) + this.dropPsc((p) => p.vpid === v);
    return this.done(`INVPCID type ${type} pcid ${pcid}`, n, type === 0 ? va : undefined);
  }

  /**
   * MOV to CR3 (SDM Vol. 3A §4.10.4.1): with CR4.PCIDE=0, the non-global entries of PCID 0 and its
   * PSC entries; with PCIDE=1 and bit 63 clear, those of the new PCID; with bit 63 set, nothing.
   */
  movCr3(t: TlbTag, pcide: boolean, newPcid: number, noFlush: boolean): number {
    checkTag('t', t);
    checkBool('pcide', pcide);
    checkInt('newPcid', newPcid, { max: 0xfff });
    checkBool('noFlush', noFlush);
    if (pcide && noFlush) return this.done('MOV CR3 (no-flush)', 0);
    const p = pcide ? newPcid : 0;
    const n = this.dropTlb((e) => e.vpid === t.vpid && e.pcid === p && !e.global) + this.dropPsc((x) => x.vpid === t.vpid && x.pcid === p);
    return this.done(`MOV CR3 pcid ${p}`, n);
  }

  /**
   * MOV to CR4 (SDM Vol. 3A §4.10.4.1): a change of PGE, or PCIDE 1 → 0, invalidates every TLB and
   * PSC entry (globals too, all PCIDs); a change of PAE, or SMEP 0 → 1, invalidates the entries of
   * the current PCID (INFERRED: global entries made under that PCID included).
   */
  movCr4(t: TlbTag, oldCr4: bigint, newCr4: bigint, bits: { pge: bigint; pcide: bigint; pae: bigint; smep: bigint }): number {
    checkTag('t', t);
    checkBigint('oldCr4', oldCr4);
    checkBigint('newCr4', newCr4);
    checkObject('bits', bits);
    for (const k of ['pge', 'pcide', 'pae', 'smep'] as const) checkBigint(`bits.${k}`, bits[k]);
    const changed = oldCr4 ^ newCr4;
    if ((changed & bits.pge) !== 0n || ((oldCr4 & bits.pcide) !== 0n && (newCr4 & bits.pcide) === 0n)) {
      return this.done('MOV CR4 (PGE / PCIDE 1→0): all', this.dropTlb((e) => e.vpid === t.vpid) + this.dropPsc((p) => p.vpid === t.vpid));
    }
    if ((changed & bits.pae) !== 0n || ((newCr4 & bits.smep) !== 0n && (oldCr4 & bits.smep) === 0n)) {
      return this.done('MOV CR4 (PAE / SMEP 0→1): current PCID', this.dropTlb((e) => e.vpid === t.vpid && e.pcid === t.pcid) + this.dropPsc((p) => p.vpid === t.vpid && p.pcid === t.pcid));
    }
    return 0;
  }

  /** MOV to CR0 clearing PG (SDM Vol. 3A §4.10.4.1): every TLB and PSC entry, globals too. */
  pagingOff(t: TlbTag): number {
    checkTag('t', t);
    return this.done('MOV CR0 (PG 1→0): all', this.dropTlb((e) => e.vpid === t.vpid) + this.dropPsc((p) => p.vpid === t.vpid));
  }

  /**
   * INVVPID (SDM Vol. 3C §28.3.3.1 and "INVVPID"): linear and combined mappings (every EP4TA) and
   * PSC entries; guest-physical mappings are untouched. 0 individual-address: `vpid`'s entries
   * for the page of `va`; 1 single-context: all of `vpid`; 2 all-context: all VPIDs but 0000H;
   * 3 single-context retaining globals. VMfailValid (thrown, nothing changed): type > 3, and VPID 0
   * for types 0, 1, 3.
   */
  invvpid(type: number, vpid: number, va: bigint = 0n): number {
    if (!Number.isInteger(type) || type < 0 || type > 3) throw new InvalidArgumentError('invvpid-type', 'type: INVVPID types are 0-3 (VMfailValid otherwise)', describeValue(type));
    if (!Number.isInteger(vpid) || vpid < 0 || vpid > 0xffff) throw new InvalidArgumentError('invvpid-vpid', 'vpid: a VPID is 16 bits', describeValue(vpid));
    if (type !== 2 && vpid === 0) throw new InvalidArgumentError('invvpid-vpid0', 'vpid: INVVPID types 0, 1 and 3 with VPID 0000H fail (VMfailValid)', String(vpid));
    const vpn = vpnOf(va);
    let n: number;
    if (type === 0) n = this.dropTlb((e) => e.vpid === vpid && Tlb.covers(e, vpn)) + this.dropPsc((p) => p.vpid === vpid);
    else if (type === 1) n = this.dropTlb((e) => e.vpid === vpid) + this.dropPsc((p) => p.vpid === vpid);
    else if (type === 2) n = this.dropTlb((e) => e.vpid !== 0) + this.dropPsc((p) => p.vpid !== 0);
    else n = this.dropTlb((e) => e.vpid === vpid && !e.global) + this.dropPsc((p) => p.vpid === vpid);
    return this.done(`INVVPID type ${type} vpid ${vpid}`, n, type === 0 ? va : undefined);
  }

  /**
   * INVEPT (SDM Vol. 3C §28.3.3.1 and "INVEPT"): 1 single-context: guest-physical and combined
   * mappings (and their PSC entries) of EP4TA `eptp`, every VPID and PCID; 2 global: those of
   * every EP4TA. Linear mappings (EPT off) are untouched. VMfailValid: another type.
   */
  invept(type: number, eptp = -1): number {
    if (type !== 1 && type !== 2) throw new InvalidArgumentError('invept-type', 'type: INVEPT types are 1 (single-context) and 2 (global)', describeValue(type));
    checkTagFrame('eptp', eptp);
    const sel = type === 2 ? (x: number) => x >= 0 : (x: number) => x === eptp;
    const n = this.dropTlb((e) => sel(e.eptp)) + this.dropPsc((p) => sel(p.eptp)) + this.dropNested((e) => sel(e.eptp));
    return this.done(type === 2 ? 'INVEPT global' : `INVEPT single-context ${hex(eptp)}`, n);
  }

  /** AMD: flush the ASID (TLB_CONTROL_FLUSH_ASID, `svm_flush_tlb_asid`): all its entries, nested ones too. */
  flushAsid(asid: number): number {
    checkInt('asid', asid, { max: 0xffff_ffff });
    return this.done(`flush ASID ${asid}`, this.dropTlb((e) => e.vpid === asid) + this.dropPsc((p) => p.vpid === asid) + this.dropNested((e) => e.asid === asid));
  }

  /**
   * VM entry or exit with VPIDs off (SDM Vol. 3C §28.3.3.1): the linear and combined mappings of
   * VPID 0000H, every EP4TA and PCID; guest-physical mappings stay.
   */
  vmTransitionNoVpid(): number {
    const n = this.dropTlb((e) => e.vpid === 0) + this.dropPsc((p) => p.vpid === 0);
    this.stats.inc('entries_invalidated', n);
    return n;
  }

  /**
   * A page fault (#PF) invalidates the entries that would translate the faulting address (SDM
   * Vol. 3A §4.10.4.1): its TLB entries and the PSC entries on its path, in the current context.
   */
  pageFault(t: TlbTag, va: bigint): number {
    checkTag('t', t);
    const vpn = vpnOf(va);
    let n = this.dropTlb((e) => Tlb.matches(e, t) && Tlb.covers(e, vpn));
    n += this.dropPsc((p) => p.vpid === t.vpid && p.pcid === t.pcid && p.eptp === t.eptp && Math.floor(vpn / 512 ** (p.level - 1)) === p.index);
    this.stats.inc('entries_invalidated', n);
    return n;
  }

  /**
   * An EPT violation invalidates the guest-physical mappings for the faulting GPA and, when it came
   * from a linear address, that address's combined mappings (SDM Vol. 3C §28.3.3.1).
   */
  eptViolation(t: TlbTag, gfn: number, va: bigint | undefined): number {
    checkTag('t', t);
    checkInt('gfn', gfn, { max: MAX_FRAME });
    if (va !== undefined) checkVa('va', va);
    let n = this.ntlb.invalidate((e) => e.eptp === t.eptp && Math.floor(gfn / SPAN[e.level]!) * 4 + e.level === e.index);
    for (const arr of this.npsc) if (arr !== undefined) n += arr.invalidate((e) => e.eptp === t.eptp && Math.floor(gfn / 512 ** (e.level - 1)) === e.index);
    if (va !== undefined) {
      const vpn = vpnOf(va);
      n += this.dropTlb((e) => Tlb.matches(e, t) && Tlb.covers(e, vpn));
    }
    this.stats.inc('entries_invalidated', n);
    return n;
  }

  /** Everything this TLB holds (for inspection): the STLB view plus the L1 arrays. */
  snapshot(): { l1d: TlbEntry[]; l1i: TlbEntry[]; stlb: TlbEntry[]; psc: PscEntry[]; nested: NestedEntry[] } {
    return {
      l1d: this.l1d.flatMap((a) => a.entries()),
      l1i: this.l1i.flatMap((a) => a.entries()),
      stlb: [...this.l2[0]!.entries(), ...this.l2[2]!.entries()],
      psc: this.psc.flatMap((a) => a?.entries() ?? []),
      nested: [this.ntlb, ...this.npsc].flatMap((a) => a?.entries() ?? []),
    };
  }
}
