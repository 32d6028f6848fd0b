/**
 * EPTP (reference §6.1) and KVM's check of an EPTP12 that L1 puts in vmcs12
 * (`vmx/nested.c: nested_vmx_check_eptp`): a bad value makes the nested VM entry fail, so here it
 * is a typed error that names the field and the rule.
 */
import { type Gpa, gpa as mkGpa } from '../address/address';
import { InvalidRegisterStateError, hex } from '../errors';
import type { EptCapabilities } from './ept-capabilities';
import { checkEptCaps } from './ept-capabilities';
import { checkBigint, checkEnum, checkInt, checkObject, optBool, refuse } from '../validate/checks';

export const EPTP = Object.freeze({
  MT_MASK: 0x7n,
  MT_UC: 0n,
  MT_WB: 6n,
  PWL_MASK: 0x38n,
  PWL_4: 0x18n,
  PWL_5: 0x20n,
  AD_ENABLE: 0x40n,
  /** Bits 11:7: reserved for L1 (KVM offers no supervisor-shadow-stack bit 7 to L1). */
  RESERVED_11_7: 0xf80n,
} as const);

export interface EptpFields {
  /** 4 or 5 (`vmx_eptp_page_walk_level`). */
  level: 4 | 5;
  adEnabled: boolean;
  /** Memory type of the paging structures: 0 (UC) or 6 (WB). */
  memType: 0 | 6;
  /** The PML4/PML5 table: bits M-1:12. */
  root: Gpa;
}

export interface EptpSpec {
  root: Gpa | bigint;
  level?: 4 | 5;
  adEnabled?: boolean;
  memType?: 0 | 6;
}

/** Compose an EPTP value (no checks beyond the field widths; `decodeEptp` checks). */
export function makeEptp(s: EptpSpec): bigint {
  checkObject('spec', s);
  if (typeof s.root !== 'bigint') checkBigint('spec.root', s.root, { number: true });
  const root = BigInt(s.root);
  if ((root & 0xfffn) !== 0n || root < 0n || root >> 52n !== 0n) {
    throw new InvalidRegisterStateError('eptp-root-alignment', 'spec.root: the EPT root table must be a 4 KiB aligned 52-bit physical address', hex(root));
  }
  const level = s.level === undefined ? 4 : checkEnum('spec.level', s.level, [4, 5]);
  optBool('spec.adEnabled', s.adEnabled, false);
  if (s.memType !== undefined) checkEnum('spec.memType', s.memType, [0, 6]);
  return root | (level === 5 ? EPTP.PWL_5 : EPTP.PWL_4) | (s.adEnabled ? EPTP.AD_ENABLE : 0n) | BigInt(s.memType ?? 6);
}

function bad(rule: string, msg: string, eptp: bigint): never {
  throw new InvalidRegisterStateError(rule, `eptp: ${msg}`, hex(eptp));
}

/** `nested_vmx_check_eptp(vcpu, eptp)` against L1's capabilities and MAXPHYADDR, then the fields. */
export function decodeEptp(eptp: bigint, caps: EptCapabilities, maxPhyAddr: number): EptpFields {
  if (typeof eptp !== 'bigint') refuse('eptp', 'bigint-type', 'must be a bigint', eptp);
  checkEptCaps('caps', caps);
  checkInt('maxPhyAddr', maxPhyAddr, { min: 32, max: 52 });
  if (eptp < 0n || eptp >> 64n !== 0n) bad('eptp-width', 'EPTP is a 64-bit VMCS field', eptp);
  const mt = eptp & EPTP.MT_MASK;
  if (mt === EPTP.MT_UC) {
    if (!caps.uc) bad('eptp-memtype-uc-unsupported', 'EPTP memory type UC (0) is not offered in L1\'s EPT capabilities', eptp);
  } else if (mt === EPTP.MT_WB) {
    if (!caps.wb) bad('eptp-memtype-wb-unsupported', 'EPTP memory type WB (6) is not offered in L1\'s EPT capabilities', eptp);
  } else {
    bad('eptp-memtype', `EPTP memory type ${mt} is invalid: only UC (0) and WB (6) exist`, eptp);
  }
  const pwl = eptp & EPTP.PWL_MASK;
  if (pwl === EPTP.PWL_5) {
    if (!caps.pageWalk5) bad('eptp-pwl5-unsupported', 'EPTP page-walk length 5 is not offered in L1\'s EPT capabilities', eptp);
  } else if (pwl === EPTP.PWL_4) {
    if (!caps.pageWalk4) bad('eptp-pwl4-unsupported', 'EPTP page-walk length 4 is not offered in L1\'s EPT capabilities', eptp);
  } else {
    bad('eptp-pwl', `EPTP bits 5:3 (page-walk length - 1) = ${pwl >> 3n}: only 3 (4-level) and 4 (5-level) exist`, eptp);
  }
  if ((eptp & EPTP.RESERVED_11_7) !== 0n) bad('eptp-reserved', 'EPTP bits 11:7 are reserved', eptp);
  if (eptp >> BigInt(maxPhyAddr) !== 0n) bad('eptp-beyond-maxphyaddr', `EPTP sets bits at or above MAXPHYADDR ${maxPhyAddr}`, eptp);
  const ad = (eptp & EPTP.AD_ENABLE) !== 0n;
  if (ad && !caps.accessedDirty) bad('eptp-ad-unsupported', 'EPTP bit 6 enables A/D flags, which L1\'s EPT capabilities do not offer', eptp);
  return {
    level: pwl === EPTP.PWL_5 ? 5 : 4,
    adEnabled: ad,
    memType: mt === EPTP.MT_UC ? 0 : 6,
    root: mkGpa(eptp & ~0xfffn),
  };
}
