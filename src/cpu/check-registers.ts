/**
 * Type and domain checks of register sets and CPUID features at the public edge: each register
 * a bigint of its width, the flags booleans, unknown names refused (a typo such as `cr2` would
 * otherwise be ignored). The architectural rules (which combinations KVM refuses) are
 * `validatePagingRegisters`'s; these run first so that it never meets a string or a number.
 */
import { InvalidArgumentError, InvalidRegisterStateError } from '../errors';
import { checkBigint, checkBool, checkEnum, checkInt, checkObject, refuse } from '../validate/checks';
import type { CpuFeatures, PagingRegisters } from './registers';

const REGISTER_WIDTH: ReadonlyMap<string, bigint> = new Map([
  ['cr0', 64n], ['cr3', 64n], ['cr4', 64n], ['efer', 64n],
]);
const REGISTER_KEYS: readonly string[] = ['cr0', 'cr3', 'cr4', 'efer', 'pkru', 'smm', 'guestMode'];

/** Check `regs` (all four control registers present unless `partial`). */
export function checkRegisterTypes(name: string, regs: unknown, partial = false): Partial<PagingRegisters> {
  const r = checkObject<Record<string, unknown>>(name, regs);
  for (const k of Object.keys(r)) {
    if (!REGISTER_KEYS.includes(k)) refuse(`${name}.${k}`, 'register-name', `is not a paging register (known: ${REGISTER_KEYS.join(', ')})`, r[k], InvalidArgumentError);
  }
  for (const [k, width] of REGISTER_WIDTH) {
    if (r[k] === undefined && partial) continue;
    checkBigint(`${name}.${k}`, r[k], { max: (1n << width) - 1n, cls: InvalidRegisterStateError });
  }
  if (r.pkru !== undefined && (typeof r.pkru !== 'number' || !Number.isInteger(r.pkru) || r.pkru < 0 || r.pkru > 0xffff_ffff)) {
    refuse(`${name}.pkru`, 'pkru-range', 'must be a 32-bit unsigned integer (PKRU)', r.pkru, InvalidRegisterStateError);
  }
  if (r.smm !== undefined) checkBool(`${name}.smm`, r.smm);
  if (r.guestMode !== undefined) checkBool(`${name}.guestMode`, r.guestMode);
  return r as Partial<PagingRegisters>;
}

const FEATURE_FLAGS = ['nx', 'gbpages', 'la57', 'smep', 'smap', 'pku'] as const;

/** Check a CPUID feature set: MAXPHYADDR 32..52, boolean flags, vendor intel or amd. */
export function checkCpuFeatures(name: string, f: unknown): CpuFeatures {
  const o = checkObject<Record<string, unknown>>(name, f);
  checkInt(`${name}.maxPhyAddr`, o.maxPhyAddr, { min: 32, max: 52 });
  for (const k of FEATURE_FLAGS) checkBool(`${name}.${k}`, o[k]);
  checkEnum(`${name}.vendor`, o.vendor, ['intel', 'amd']);
  return o as unknown as CpuFeatures;
}
