/**
 * L1's EPT capabilities: what the nested `IA32_VMX_EPT_VPID_CAP` MSR tells L1 it may use
 * (reference §6.1; `vmx/nested.c: nested_vmx_setup_ctls_msrs`). They decide which EPTP12 values
 * are legal (`nested_vmx_check_eptp`) and the EPT12 format KVM walks with
 * (`nested_ept_new_eptp`: execute-only, largest page, A/D).
 */
import { InvalidArgumentError, hex } from '../errors';
import { checkBool, checkObject, refuse } from '../validate/checks';

/** Bit numbers in IA32_VMX_EPT_VPID_CAP (asm/vmx.h `VMX_EPT_*`). */
export const EPT_CAP_BIT = Object.freeze({
  EXECUTE_ONLY: 0,
  PAGE_WALK_4: 6,
  PAGE_WALK_5: 7,
  UC: 8,
  WB: 14,
  PAGES_2M: 16,
  PAGES_1G: 17,
  ACCESSED_DIRTY: 21,
} as const);

export interface EptCapabilities {
  /** Execute-only entries (XWR = 100b) are legal; otherwise they are misconfigured. */
  executeOnly: boolean;
  /** EPTP page-walk length 4 / 5 may be used. */
  pageWalk4: boolean;
  pageWalk5: boolean;
  /** EPTP memory type UC (0) / WB (6) may be used. */
  uc: boolean;
  wb: boolean;
  /** Largest leaf: 2 MiB and/or 1 GiB EPT pages; bit 7 is reserved at a level without them. */
  pages2m: boolean;
  pages1g: boolean;
  /** EPTP bit 6 may enable accessed/dirty flags. */
  accessedDirty: boolean;
}

/**
 * What KVM offers L1 on a host that has every EPT feature: WB but not UC for the EPTP memory type
 * (from knowledge of `nested_vmx_setup_ctls_msrs`; UNVERIFIED for UC against the C source).
 */
export const DEFAULT_EPT_CAPS: Readonly<EptCapabilities> = Object.freeze({
  executeOnly: true,
  pageWalk4: true,
  pageWalk5: true,
  uc: false,
  wb: true,
  pages2m: true,
  pages1g: true,
  accessedDirty: true,
});

const FIELDS: readonly [keyof EptCapabilities, number][] = [
  ['executeOnly', EPT_CAP_BIT.EXECUTE_ONLY],
  ['pageWalk4', EPT_CAP_BIT.PAGE_WALK_4],
  ['pageWalk5', EPT_CAP_BIT.PAGE_WALK_5],
  ['uc', EPT_CAP_BIT.UC],
  ['wb', EPT_CAP_BIT.WB],
  ['pages2m', EPT_CAP_BIT.PAGES_2M],
  ['pages1g', EPT_CAP_BIT.PAGES_1G],
  ['accessedDirty', EPT_CAP_BIT.ACCESSED_DIRTY],
];

/** An EPT capability set: an object whose every field is a boolean. */
export function checkEptCaps(name: string, c: unknown): EptCapabilities {
  const o = checkObject<Record<string, unknown>>(name, c);
  for (const [k] of FIELDS) checkBool(`${name}.${k}`, o[k]);
  return c as EptCapabilities;
}

/** Decode the EPT half of IA32_VMX_EPT_VPID_CAP (bits KVM's nested walk does not use are ignored). */
export function eptCapsFromMsr(msr: bigint): EptCapabilities {
  if (typeof msr !== 'bigint') refuse('msr', 'bigint-type', 'must be a bigint', msr);
  if (msr < 0n || msr >> 64n !== 0n) throw new InvalidArgumentError('ept-cap-msr', 'msr: IA32_VMX_EPT_VPID_CAP is a 64-bit MSR', hex(msr));
  const out = {} as Record<keyof EptCapabilities, boolean>;
  for (const [k, b] of FIELDS) out[k] = ((msr >> BigInt(b)) & 1n) === 1n;
  return out;
}

export function eptCapsToMsr(c: EptCapabilities): bigint {
  checkEptCaps('caps', c);
  let v = 0n;
  for (const [k, b] of FIELDS) if (c[k]) v |= 1n << BigInt(b);
  return v;
}

/** `nested_ept_new_eptp`: the EPT12 huge-page level — 1 GiB if offered, else 2 MiB, else 4 KiB only. */
export function eptHugePageLevel(c: EptCapabilities): 1 | 2 | 3 {
  checkEptCaps('caps', c);
  return c.pages1g ? 3 : c.pages2m ? 2 : 1;
}
