/**
 * Argument checks of the vCPU's public methods, kept apart from vcpu.ts so that the methods
 * each gain one line: every check runs before the vCPU or the VM changes.
 *
 * No re-exports here: TypeScript's CommonJS output defines a re-export as a getter, which turns
 * the module's exports object into a dictionary, and V8 then reads every import of it (two per
 * access: checkAddressArg, checkUserArg) through a generic property-load call.
 */
import { InvalidArgumentError, NonCanonicalAddressError } from '../errors';
import { checkBigint, checkBool, checkEnum, checkInt, checkObject, optBool, refuse } from '../validate/checks';
import { isCanonicalUnchecked } from '../address/canonical';
import { MAX_VCPU_INDEX } from './vm-args';
import { checkRegisterTypes } from '../cpu/check-registers';

/** A guest linear address: a bigint (u64), or a safe non-negative integer. */
export function checkAddressArg(name: string, v: unknown): bigint {
  // Every access passes here: a u64 bigint is accepted before the generic rule. `asUintN(64, v) === v`
  // is the range test 0 ≤ v < 2^64 in one BigInt compare (the optimizing compiler lowers
  // asUintN(64) to a 64-bit truncation), where `v >= 0n && v <= U64_MAX` calls the BigInt compare
  // builtin twice: about 4 ns less per access on Node 20.
  if (typeof v === 'bigint' && BigInt.asUintN(64, v) === v) return v;
  return checkBigint(name, v, ADDRESS_RULE);
}
/** One rule object for every access, not a literal per call. */
const ADDRESS_RULE = Object.freeze({ number: true });

export function checkUserArg(v: unknown): boolean {
  return optBool('user', v, false);
}

/** `store(address, value, bytes, user)`: the value must fit in `bytes` bytes (no silent truncation). */
export function checkStoreArgs(address: unknown, value: unknown, bytes: unknown, user: unknown): void {
  const n = checkEnum('bytes', bytes, [1, 2, 4, 8]);
  checkAddressArg('address', address);
  checkBigint('value', value, { max: (1n << BigInt(8 * n)) - 1n });
  checkUserArg(user);
}

/** Nested entry: `{ eptp | ncr3, l2, caps?, features? }` with L2's registers typed. */
export function checkNestedEntry(e: unknown, root: 'eptp' | 'ncr3' | undefined): void {
  const o = checkObject<Record<string, unknown>>('entry', e);
  // Only the type here: the EPTP12 / nCR3 rules (width, reserved bits) are the walker's, as KVM's.
  if (root !== undefined && typeof o[root] !== 'bigint') refuse(`entry.${root}`, 'bigint-type', 'must be a bigint', o[root], InvalidArgumentError);
  if (root === 'ncr3') checkRegisterTypes('entry.l1', o.l1);
  checkRegisterTypes('entry.l2', o.l2);
}

export function checkInveptArgs(type: unknown, eptp: unknown): void {
  checkEnum('type', type, ['single', 'global']);
  if (eptp !== undefined) checkBigint('eptp', eptp);
  if (type === 'single' && eptp === undefined) refuse('eptp', 'invept-single-eptp', 'is needed by a single-context INVEPT', eptp);
}

const EXIT_KINDS = ['ept_violation', 'ept_misconfig', 'npf', 'pf_intercept'] as const;

/** A TDP exit handed to `pageFault`: every field typed (a u64 GPA, error code and qualification). */
export function checkTdpExit(e: unknown): void {
  const o = checkObject<Record<string, unknown>>('exit', e);
  checkEnum('exit.kind', o.kind, EXIT_KINDS);
  checkInt('exit.reason', o.reason, { max: 0xffff });
  // A guest-physical address is below MAXPHYADDR, at most 52 bits (SDM Vol. 1 §3.3.1, CPUID
  // 0x80000008 EAX[7:0] ≤ 52); the engine's gfn arithmetic refuses more deeper down, after the
  // fault has been counted, so the edge refuses it before any state changes.
  checkBigint('exit.gpa', o.gpa, { max: (1n << 52n) - 1n });
  checkBool('exit.onGuestTable', o.onGuestTable);
  checkBigint('exit.info', o.info);
  checkBigint('exit.errorCode', o.errorCode);
}

/** The VM a vCPU is created in and its index. */
export function checkVcpuArgs(vm: unknown, index: unknown): void {
  const o = checkObject<Record<string, unknown>>('vm', vm);
  if (typeof o.createVcpu !== 'function' || typeof o.slotOfGfn !== 'function') refuse('vm', 'vm-type', 'must be a Vm', vm);
  checkInt('index', index, { max: MAX_VCPU_INDEX });
}

/** INVPCID's linear address (type 0): a u64 and canonical for the current paging width (SDM: #GP otherwise). */
export function checkInvpcidAddress(address: unknown, bits: 48 | 57): bigint {
  const a = checkAddressArg('address', address);
  if (!isCanonicalUnchecked(a, bits)) refuse('address', `canonical-${bits}`, `must be canonical for ${bits}-bit linear addresses (INVPCID type 0: #GP)`, address, NonCanonicalAddressError);
  return a;
}
