/**
 * Argument checks of the public Tlb methods. The vCPU's access path calls the `…Unchecked` twins
 * (its tags, page numbers and entries are its own); everything else enters through these.
 */
import { PageSizeError } from '../errors';
import { checkBigint, checkBool, checkEnum, checkInt, checkObject } from '../validate/checks';
import type { TlbFill, TlbTag } from './tlb-entry';

/** Frame numbers of 52-bit physical addresses have 40 bits. */
export const MAX_FRAME = 2 ** 40 - 1;

/** An EP4TA (EPTP table frame) or −1 for "none" (a linear mapping; no ASID tag on Intel). */
export function checkTagFrame(name: string, v: unknown): number {
  return checkInt(name, v, { min: -1, max: MAX_FRAME });
}

/** A tag: VPID/ASID (32-bit), PCID (12-bit), EP4TA or −1. */
export function checkTag(name: string, v: unknown): TlbTag {
  const t = checkObject<TlbTag>(name, v);
  checkInt(`${name}.vpid`, t.vpid, { max: 0xffff_ffff });
  checkInt(`${name}.pcid`, t.pcid, { max: 0xfff });
  checkTagFrame(`${name}.eptp`, t.eptp);
  return t;
}

/** A 4 KiB page number of a linear address (bits 56:12). */
export function checkVpn(name: string, v: unknown): number {
  return checkInt(name, v, { max: 2 ** 45 - 1 });
}

export function checkVa(name: string, v: unknown): bigint {
  return checkBigint(name, v);
}

export function checkLevel(name: string, v: unknown, min: number, max: number): number {
  return checkInt(name, v, { min, max, cls: PageSizeError });
}

/** A fill: a tag, the page number, a page size, and the entry's fields in their ranges. */
export function checkFill(name: string, v: unknown): TlbFill {
  const e = checkObject<TlbFill>(name, v);
  checkTag(name, e);
  checkVpn(`${name}.vpn`, e.vpn);
  checkEnum(`${name}.size`, e.size, [0, 1, 2]);
  checkBool(`${name}.global`, e.global);
  checkInt(`${name}.hostFrame`, e.hostFrame, { max: MAX_FRAME });
  checkInt(`${name}.guestFrame`, e.guestFrame, { max: MAX_FRAME });
  checkInt(`${name}.acc`, e.acc, { max: 0xf });
  checkInt(`${name}.pkey`, e.pkey, { max: 15 });
  checkInt(`${name}.tdpAcc`, e.tdpAcc, { max: 7 });
  if (e.gpaKind !== undefined) checkEnum(`${name}.gpaKind`, e.gpaKind, ['ram', 'rom', 'noslot']);
  return e;
}

export { checkBigint, checkBool, checkEnum, checkInt, checkObject };
