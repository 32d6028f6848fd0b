/**
 * TLB geometry: an L1 instruction and data TLB split by page size, a shared second level (STLB),
 * the paging-structure caches of SDM Vol. 3A §4.10.3 and, for 2D walks, the caches of
 * guest-physical mappings (SDM Vol. 3C §28.3.1: the "nested TLB" and nested page-walk cache of
 * Bhargava et al., ASPLOS 2008). Every array is set-associative with LRU replacement; `ways` ===
 * `entries` makes it fully associative, `entries: 0` removes it.
 *
 * Defaults: Intel Skylake (client and server cores have the same TLBs). Each number says where it
 * comes from in `TLB_DEFAULT_SOURCES`; the paging-structure and nested caches are not documented
 * by Intel, so their sizes are stated assumptions (marked UNVERIFIED) and tests do not depend on
 * them.
 */
import { InvalidArgumentError, LimitExceededError } from '../errors';
import { describeValue } from '../validate/describe-value';

export interface TlbArray {
  entries: number;
  ways: number;
}

export interface TlbConfig {
  /** L1 data TLB per page size. */
  dtlb4k: TlbArray;
  dtlb2m: TlbArray;
  dtlb1g: TlbArray;
  /** L1 instruction TLB (fetches). 1 GiB fetch translations are kept in the STLB only. */
  itlb4k: TlbArray;
  itlb2m: TlbArray;
  /** Second-level TLB: 4 KiB and 2 MiB translations share one array; 1 GiB ones have their own. */
  stlb: TlbArray;
  stlb1g: TlbArray;
  /** Paging-structure caches (SDM §4.10.3.1): PML5E, PML4E, PDPTE and PDE caches. */
  pml5eCache: TlbArray;
  pml4eCache: TlbArray;
  pdpteCache: TlbArray;
  pdeCache: TlbArray;
  /** Guest-physical mappings (GPA → HPA, SDM Vol. 3C §28.3.1) used by 2D walks: the nested TLB. */
  nestedTlb: TlbArray;
  /** The nested page-walk cache: EPT/NPT PML4E, PDPTE and PDE caches keyed by GPA. */
  nestedPml4eCache: TlbArray;
  nestedPdpteCache: TlbArray;
  nestedPdeCache: TlbArray;
  /**
   * VPIDs enabled (`enable_vpid`, the default where the CPU has them): the vCPU's entries carry a
   * VPID and survive VM exits. Off: VPID 0, and every VM entry and exit flushes the linear and
   * combined mappings of VPID 0 (SDM Vol. 3C §28.3.3.1).
   */
  vpid: boolean;
}

const a = (entries: number, ways: number): TlbArray => Object.freeze({ entries, ways });

/** Intel Skylake: Intel 64 and IA-32 Architectures Optimization Reference Manual (248966-045, Feb 2022), Table 2-15 unless said otherwise. */
export const SKYLAKE_TLB: Readonly<TlbConfig> = Object.freeze({
  dtlb4k: a(64, 4),
  dtlb2m: a(32, 4),
  dtlb1g: a(4, 4),
  itlb4k: a(128, 8),
  itlb2m: a(8, 8),
  stlb: a(1536, 12),
  stlb1g: a(16, 4),
  pml5eCache: a(2, 2),
  pml4eCache: a(2, 2),
  pdpteCache: a(4, 4),
  pdeCache: a(32, 32),
  nestedTlb: a(16, 16),
  nestedPml4eCache: a(2, 2),
  nestedPdpteCache: a(4, 4),
  nestedPdeCache: a(32, 32),
  vpid: true,
});

const OPT = 'Intel 64 and IA-32 Architectures Optimization Reference Manual 248966-045 (Feb 2022), Table 2-15 (Skylake TLB parameters)';
const PSC = 'UNVERIFIED: Intel does not document paging-structure-cache sizes (SDM Vol. 3A §4.10.3 allows any); sizes as reported for Core i7 by Barr, Cox, Rixner, "Translation Caching: Skip, Don\'t Walk (the Page Table)", ISCA 2010, §2 — quoted from memory, not checked';
const NESTED = 'UNVERIFIED: no published size for Intel; the guest-physical caches are modelled like the guest-side ones (Bhargava et al., ASPLOS 2008 evaluate a nested TLB and nested page-walk caches of this order) — an assumption';

/** Where each default comes from, and what the number is. */
export const TLB_DEFAULT_SOURCES: Readonly<Record<keyof Omit<TlbConfig, 'vpid'>, { what: string; source: string }>> = Object.freeze({
  dtlb4k: { what: 'L1 DTLB, 4 KiB pages: entries / ways', source: OPT },
  dtlb2m: { what: 'L1 DTLB, 2/4 MiB pages', source: OPT },
  dtlb1g: { what: 'L1 DTLB, 1 GiB pages', source: OPT },
  itlb4k: { what: 'L1 ITLB, 4 KiB pages (dynamically shared between threads)', source: OPT },
  itlb2m: { what: 'L1 ITLB, 2/4 MiB pages: 8 per thread, fully associative (the manual gives no ways)', source: OPT },
  stlb: { what: 'STLB, shared 4 KiB + 2 MiB: 1536 entries, 12-way', source: OPT + ' (CPUID leaf 2 descriptor 0xC3 on Skylake-SP reports 6-way)' },
  stlb1g: { what: 'STLB, 1 GiB pages: 16 entries, 4-way', source: OPT },
  pml5eCache: { what: 'PML5E cache (5-level paging)', source: PSC },
  pml4eCache: { what: 'PML4E cache', source: PSC },
  pdpteCache: { what: 'PDPTE cache', source: PSC },
  pdeCache: { what: 'PDE cache', source: PSC },
  nestedTlb: { what: 'guest-physical mappings (nested TLB)', source: NESTED },
  nestedPml4eCache: { what: 'nested PML4E cache', source: NESTED },
  nestedPdpteCache: { what: 'nested PDPTE cache', source: NESTED },
  nestedPdeCache: { what: 'nested PDE cache', source: NESTED },
});

export type TlbConfigSpec = Partial<TlbConfig>;

/** The largest array one configuration may ask for (entries); more would only exhaust memory. */
export const MAX_TLB_ARRAY_ENTRIES = 1 << 20;

/**
 * Merge overrides over the Skylake defaults, validating every array. Keys are matched against the
 * defaults' own properties only ('toString' and '__proto__' are no TLB parameters).
 */
export function makeTlbConfig(spec: TlbConfigSpec = {}): Readonly<TlbConfig> {
  if (typeof spec !== 'object' || spec === null || Array.isArray(spec)) throw new InvalidArgumentError('tlb-config', 'spec: the TLB configuration is an object', describeValue(spec));
  const out: Record<string, unknown> = { ...SKYLAKE_TLB };
  for (const k of Reflect.ownKeys(spec)) {
    if (typeof k !== 'string' || !Object.prototype.hasOwnProperty.call(SKYLAKE_TLB, k)) {
      throw new InvalidArgumentError('tlb-config-key', `spec: unknown TLB parameter; known: ${Object.keys(SKYLAKE_TLB).join(', ')}`, describeValue(k));
    }
    const v = (spec as Record<string, unknown>)[k];
    if (k === 'vpid') {
      if (typeof v !== 'boolean') throw new InvalidArgumentError('tlb-vpid', 'spec.vpid is a boolean', describeValue(v));
      out[k] = v;
      continue;
    }
    const arr = v as TlbArray;
    if (typeof arr !== 'object' || arr === null || !Number.isSafeInteger(arr.entries) || !Number.isSafeInteger(arr.ways) || arr.entries < 0 || arr.ways < 1) {
      throw new InvalidArgumentError('tlb-array', `spec.${k}: entries is an integer >= 0 and ways an integer >= 1`, shown(v));
    }
    if (arr.entries > MAX_TLB_ARRAY_ENTRIES) {
      throw new LimitExceededError('limit', `spec.${k}.entries is above the limit of ${MAX_TLB_ARRAY_ENTRIES} entries per array`, String(arr.entries));
    }
    if (arr.entries % arr.ways !== 0) throw new InvalidArgumentError('tlb-array-ways', `spec.${k}: entries must be a multiple of ways (sets = entries / ways)`, shown(v));
    out[k] = a(arr.entries, arr.ways);
  }
  return Object.freeze(out) as unknown as Readonly<TlbConfig>;
}

/** An array spec as the message shows it: its entries and ways when it has them. */
function shown(v: unknown): string {
  if (typeof v !== 'object' || v === null) return describeValue(v);
  const o = v as Record<string, unknown>;
  return `{entries: ${describeValue(o['entries'])}, ways: ${describeValue(o['ways'])}}`;
}
