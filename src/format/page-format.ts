/**
 * A page format: pure frozen data about entries that already exist — KVM 2026's
 * `struct kvm_page_format` (`rsvd_bits_mask[2][5]`, `bad_mt_xwr`, `permissions[16]`, `pkru_mask`)
 * plus the entry geometry that `paging_tmpl.h` bakes into each PTTYPE (entry size, index bits,
 * present test, A/D bit positions, NX). One module per format builds these; one generic walker
 * (walker/walk.ts) consumes them.
 */
import { lo32, hi32 } from '../bits';
import type { RsvdBitsMask } from './rsvd-bits-mask';
import { DEFAULT_KVM_VERSION, KVM_VERSIONS, type KvmVersion } from '../kvm-version';
import { accEncoding, type AccEncoding } from './acc';
import { checkArray, checkBigint, checkBool, checkEnum, checkInt, checkObject, checkString, refuse } from '../validate/checks';

export type FormatModule = 'paging32' | 'pae' | 'paging4' | 'paging5' | 'ept' | 'npt';
/** Which `paging_tmpl.h` instantiation walks it: PTTYPE 32, 64 or EPT. */
export type PtType = 32 | 64 | 'ept';

export interface PageFormatHot {
  /** rsvd_bits_mask halves, index = large * 5 + (level - 1). */
  readonly rsvdLo: Uint32Array;
  readonly rsvdHi: Uint32Array;
  /** u8 (6.16) or u16 (7.3) entries; Uint16Array holds both. */
  readonly permissions: Uint16Array;
  /** bad_mt_xwr as two 32-bit halves: index < 32 in lo, else hi. */
  readonly badMtXwrLo: number;
  readonly badMtXwrHi: number;
}

export interface PageFormat {
  readonly name: string;
  /** Whose ACC encoding and `permissions[]` width this format uses. */
  readonly kvm: KvmVersion;
  /** The ACC values the walker accumulates and `permissions[]` is indexed by. */
  readonly acc: AccEncoding;
  /** 7.3 EPT with MBEC (bit 10 = XU makes an entry present) or NPT with GMET. */
  readonly mbec: boolean;
  readonly module: FormatModule;
  readonly ptType: PtType;
  /** Levels walked from the root: 2 (32-bit), 3 (PAE: PDPTE registers + 2), 4, 5. */
  readonly rootLevel: number;
  readonly entryBytes: 4 | 8;
  readonly indexBits: 9 | 10;
  /** Accessed/dirty bit positions (5/6 for x86, 8/9 for EPT). */
  readonly accessedBit: number;
  readonly dirtyBit: number;
  /** Whether the walker updates A/D (`PT_HAVE_ACCESSED_DIRTY`). */
  readonly hasAd: boolean;
  /** 32-bit paging: bit 7 of a PDE is a page size bit (CR4.PSE); otherwise ignored. */
  readonly pse: boolean;
  /** The inputs this format was computed from. */
  readonly params: Readonly<Record<string, number | boolean | string>>;
  /** KVM layout: `rsvd_bits_mask[large][level-1]`. */
  readonly rsvdBitsMask: RsvdBitsMask;
  readonly badMtXwr: bigint;
  readonly permissions: readonly number[];
  readonly pkruMask: number;
  /** Hot-path copies as 32-bit halves. Treat as read-only. */
  readonly hot: PageFormatHot;
}

export interface PageFormatSpec {
  name: string;
  kvm?: KvmVersion;
  mbec?: boolean;
  module: FormatModule;
  ptType: PtType;
  rootLevel: number;
  hasAd: boolean;
  pse: boolean;
  params: Record<string, number | boolean | string>;
  rsvdBitsMask: RsvdBitsMask;
  badMtXwr: bigint;
  permissions: readonly number[];
  pkruMask: number;
}

/** A PageFormatSpec: the fields of `struct kvm_page_format` in their widths and the geometry's enumerations. */
function checkPageFormatSpec(name: string, v: unknown): PageFormatSpec {
  const s = checkObject<Record<string, unknown>>(name, v);
  checkString(`${name}.name`, s.name);
  const kvm = s.kvm === undefined ? DEFAULT_KVM_VERSION : checkEnum(`${name}.kvm`, s.kvm, KVM_VERSIONS);
  if (s.mbec !== undefined) checkBool(`${name}.mbec`, s.mbec);
  checkEnum(`${name}.module`, s.module, ['paging32', 'pae', 'paging4', 'paging5', 'ept', 'npt']);
  checkEnum(`${name}.ptType`, s.ptType, [32, 64, 'ept']);
  checkInt(`${name}.rootLevel`, s.rootLevel, { min: 2, max: 5 });
  checkBool(`${name}.hasAd`, s.hasAd);
  checkBool(`${name}.pse`, s.pse);
  checkObject(`${name}.params`, s.params);
  // rsvd_bits_mask[2][PT64_ROOT_MAX_LEVEL] of u64 (kvm_host.h struct rsvd_bits_validate).
  const m = checkArray(`${name}.rsvdBitsMask`, s.rsvdBitsMask);
  if (m.length !== 2) refuse(`${name}.rsvdBitsMask`, 'rsvd-matrix', 'must be [2][5] u64 masks', m);
  m.forEach((row, large) => {
    const r = checkArray(`${name}.rsvdBitsMask[${large}]`, row);
    if (r.length !== 5) refuse(`${name}.rsvdBitsMask[${large}]`, 'rsvd-matrix', 'must hold 5 u64 masks (one per level)', r);
    r.forEach((x, l) => checkBigint(`${name}.rsvdBitsMask[${large}][${l}]`, x));
  });
  checkBigint(`${name}.badMtXwr`, s.badMtXwr);
  // permissions[16]: u8 entries in v6.16, u16 in 7.3 (kvm-7x.md §1.4).
  const perms = checkArray(`${name}.permissions`, s.permissions);
  if (perms.length !== 16) refuse(`${name}.permissions`, 'permissions-length', 'must hold 16 entries (error-code bits 4:1)', perms);
  const pmax = kvm === '7.3' ? 0xffff : 0xff;
  perms.forEach((x, i) => checkInt(`${name}.permissions[${i}]`, x, { max: pmax }));
  checkInt(`${name}.pkruMask`, s.pkruMask, { max: 0xffff_ffff });
  return s as unknown as PageFormatSpec;
}

export function makePageFormat(s: PageFormatSpec): PageFormat {
  checkPageFormatSpec('s', s);
  const rsvdLo = new Uint32Array(10);
  const rsvdHi = new Uint32Array(10);
  for (let large = 0; large < 2; large++) {
    for (let l = 0; l < 5; l++) {
      const v = s.rsvdBitsMask[large]![l]!;
      rsvdLo[large * 5 + l] = lo32(v);
      rsvdHi[large * 5 + l] = hi32(v);
    }
  }
  const ept = s.ptType === 'ept';
  const kvm = s.kvm ?? DEFAULT_KVM_VERSION;
  return Object.freeze({
    name: s.name,
    kvm,
    acc: accEncoding(kvm),
    mbec: s.mbec ?? false,
    module: s.module,
    ptType: s.ptType,
    rootLevel: s.rootLevel,
    entryBytes: s.ptType === 32 ? 4 : 8,
    indexBits: s.ptType === 32 ? 10 : 9,
    accessedBit: ept ? 8 : 5,
    dirtyBit: ept ? 9 : 6,
    hasAd: s.hasAd,
    pse: s.pse,
    params: Object.freeze({ ...s.params }),
    rsvdBitsMask: s.rsvdBitsMask,
    badMtXwr: s.badMtXwr,
    permissions: s.permissions,
    pkruMask: s.pkruMask,
    hot: Object.freeze({
      rsvdLo,
      rsvdHi,
      permissions: Uint16Array.from(s.permissions),
      badMtXwrLo: lo32(s.badMtXwr),
      badMtXwrHi: hi32(s.badMtXwr),
    }),
  } as const) as PageFormat;
}

/**
 * Formats are pure functions of their parameters; memoize them so roles share one object. An
 * optional parameter given as its default (e.g. `kvm: DEFAULT_KVM_VERSION`) and left out give the same object.
 */
export function memoize<P extends object>(build: (p: P) => PageFormat, defaults: Partial<P> = {}): (p: P) => PageFormat {
  if (typeof build !== 'function') refuse('build', 'function-type', 'must be a function (params) => PageFormat', build);
  checkObject('defaults', defaults);
  const cache = new Map<string, PageFormat>();
  return (p: P) => {
    // The format builders check their parameters before this (a bigint would throw in the key's
    // JSON.stringify, and a bad value must not become a cached format); the key needs an object.
    checkObject('p', p);
    const full = { ...defaults, ...p } as Record<string, unknown>;
    const key = JSON.stringify(Object.entries(full).filter(([, v]) => v !== undefined).sort(([a], [b]) => (a < b ? -1 : 1)));
    let f = cache.get(key);
    if (f === undefined) {
      // Build from the defaulted parameters, so the object (and its name) does not depend on
      // whether the first caller spelled the default out.
      f = build(full as P);
      cache.set(key, f);
    }
    return f;
  };
}
