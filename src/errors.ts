/**
 * Typed errors. Every error names the offending value and the rule it broke, so a notebook user
 * sees *why* an input is impossible, not just that it is. Engine operations validate before they
 * mutate, so a thrown error leaves state untouched.
 */
import { describeValue } from './validate/describe-value';

export class MmulabError extends Error {
  /** Short, stable identifier of the rule that was broken (e.g. "canonical-address"). */
  readonly rule: string;
  /** The offending value, formatted (hex for addresses and registers). */
  readonly value: string | undefined;

  constructor(rule: string, message: string, value?: string) {
    super(value === undefined ? message : `${message} (value ${value}; rule: ${rule})`);
    this.name = new.target.name;
    this.rule = rule;
    this.value = value;
  }
}

/** A linear address whose unused high bits are not a sign extension of the top translated bit. */
export class NonCanonicalAddressError extends MmulabError {}
/** An address or size that is not aligned as its page size or table format requires. */
export class MisalignedError extends MmulabError {}
/** A guest-physical address that no memory slot covers, or beyond MAXPHYADDR. */
export class GpaOutsideMemoryError extends MmulabError {}
/** A combination of CR0/CR4/EFER/CR3 (or CPU features) that KVM or the hardware refuses. */
export class InvalidRegisterStateError extends MmulabError {}
/** A page size that the paging mode does not have, or a level that does not exist. */
export class PageSizeError extends MmulabError {}
/** Any other argument outside its domain (bad MAXPHYADDR, overlapping slots, …). */
export class InvalidArgumentError extends MmulabError {}
/** The page-table builder cannot do what was asked (e.g. the table pool is exhausted). */
export class PageTableBuildError extends MmulabError {}

/** `v` in hex (`-0x…` when negative): a bigint or a safe integer number (a fraction or NaN threw a RangeError from BigInt). */
export function hex(v: bigint | number): string {
  if (typeof v !== 'bigint' && !Number.isSafeInteger(v)) throw new InvalidArgumentError('hex-value', 'v must be a bigint or a safe integer number', describeValue(v));
  const b = typeof v === 'bigint' ? v : BigInt(v);
  return b < 0n ? `-0x${(-b).toString(16)}` : `0x${b.toString(16)}`;
}

/**
 * An operation on a dead VM (`kvm_vm_dead`, kvm_host.h:899-903): every later VM and vCPU ioctl
 * fails with -EIO (kvm_main.c:4409-4410, 5137-5138) and KVM_RUN stops at KVM_REQ_VM_DEAD
 * (x86.c:10821-10823). `value` is the operation refused.
 */
export class VmDeadError extends MmulabError {}
/**
 * An operation on a bugged VM: a KVM_BUG_ON fired (`kvm_vm_bugged`, kvm_host.h:905-909), which
 * also kills the VM. The guest caused it; the engine did not fail.
 */
export class VmBugged extends VmDeadError {}

/** A size argument (count, length, grid size) above the documented limit for one call. */
export class LimitExceededError extends InvalidArgumentError {}
/** Long work stopped because its AbortSignal was aborted; what ran before the abort is kept. */
export class OperationAbortedError extends MmulabError {}
/**
 * A design note's claim that does not hold: the conclusion no longer follows from what the note
 * computed (e.g. after an engine change). `value` lists the numbers it was decided on.
 */
export class ClaimFailed extends MmulabError {
  constructor(
    readonly claimText: string,
    values: string,
  ) {
    super('claim', `claim does not hold: ${claimText}`, values);
  }
}
