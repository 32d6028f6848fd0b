/**
 * AMD nested page fault (reference §5.4, §6.6): exit code 0x400, EXITINFO1 = the #PF-style error
 * code in bits 31:0 plus NPF_GUEST_FINAL (bit 32: the final guest-physical access) or
 * NPF_GUEST_PAGE (bit 33: an access to a guest page-table entry). EXITINFO1 is kept as a number:
 * the highest bit used, 33, is far below 2^53.
 */
import { decodeErrorCode } from '../format/acc';
import type { NestedDuring } from './nested-during';
import { NESTED_DURING } from './nested-during';
import { checkEnum, checkInt } from '../validate/checks';

export const SVM_EXIT_NPF = 0x400;
export const NPF_GUEST_FINAL = 2 ** 32;
export const NPF_GUEST_PAGE = 2 ** 33;

/** EXITINFO1 of an NPF for a walker error code and the context of the access. */
export function npfErrorCode(errorCode: number, during: NestedDuring): number {
  // A 32-bit error code, signed or not (`>>> 0` below reads either).
  checkInt('errorCode', errorCode, { min: -(2 ** 31), max: 0xffff_ffff });
  checkEnum('during', during, NESTED_DURING);
  const stage = during === 'final' ? NPF_GUEST_FINAL : during === 'paging-structure' ? NPF_GUEST_PAGE : 0;
  return (errorCode >>> 0) + stage;
}

/** Decode EXITINFO1, e.g. "P|W|U|GUEST_FINAL". */
export function decodeNpfErrorCode(exitInfo1: number): string {
  checkInt('exitInfo1', exitInfo1);
  const lo = exitInfo1 % 2 ** 32;
  const hi = Math.floor(exitInfo1 / 2 ** 32);
  const parts = lo === 0 ? [] : [decodeErrorCode(lo)];
  if (hi & 1) parts.push('GUEST_FINAL');
  if (hi & 2) parts.push('GUEST_PAGE');
  if (hi & ~3) parts.push(`hi:0x${(hi & ~3).toString(16)}`);
  return parts.length === 0 ? '0' : parts.join('|');
}
