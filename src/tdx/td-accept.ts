/**
 * The guest side of a TD's private pages, as the TDX module handles it without KVM:
 * TDG.MEM.PAGE.ACCEPT, and an access that reaches a PENDING page (AUGed, not yet accepted).
 */
import type { EventLog } from '../events/event-log';
import type { TdpExit } from '../vm/exit';
import { EPT_QUAL, VMX_EXIT_REASON } from '../nested/exit-qualification';
import { PFERR } from '../format/acc';
import type { MemoryFaultExit } from './memory-fault';
import { PFERR_PRIVATE_ACCESS } from './private-fault';
import { Td } from './td';
import { checkVcpuIndex } from '../tdp/check-tdp-args';
import { checkBigint, checkObject, refuse } from '../validate/checks';

/** A TD of this VM (a Td instance) and a private GPA below 2^52 (MAXPHYADDR <= 52). */
function checkTdGpa(td: unknown, gpa: unknown): void {
  if (!(td instanceof Td)) refuse('td', 'td', 'must be a Td', td);
  checkBigint('gpa', gpa, { max: (1n << 52n) - 1n });
}

export interface AcceptResult {
  /**
   * accepted: the page was PENDING and is now usable (and zeroed); already-accepted: the TDX
   * module's TDX_PAGE_ALREADY_ACCEPTED; memory-fault: KVM could not AUG the page (userspace exit).
   */
  status: 'accepted' | 'already-accepted' | 'memory-fault';
  /** EPT violations the accept caused (one when the page was not yet in the S-EPT). */
  exits: number;
  memoryFault?: MemoryFaultExit;
}

interface AcceptVcpu {
  index: number;
  pageFault(exit: TdpExit): { ret: number; memoryFault?: MemoryFaultExit };
}

/**
 * TDG.MEM.PAGE.ACCEPT of the 4K private page at `gpa` (a natural, private GPA): with no S-EPT leaf
 * the TDX module exits to KVM with an EPT violation on the GPA (KVM handles it as any private
 * fault, `tdx_handle_ept_violation`: TDH.MEM.PAGE.AUG, the page PENDING), and the guest retries.
 */
export function tdgMemPageAccept(td: Td, gpa: bigint, v: AcceptVcpu): AcceptResult {
  checkTdGpa(td, gpa);
  checkVcpuIndex('v.index', checkObject<AcceptVcpu>('v', v).index);
  if (typeof v.pageFault !== 'function') refuse('v.pageFault', 'function-type', 'must be the vCPU\'s page-fault handler', v.pageFault);
  const gfn = Number(gpa >> 12n);
  let exits = 0;
  for (let attempt = 0; attempt < 3; attempt++) {
    const r = td.sept.accept(gfn, v.index);
    if (r !== 'ept-violation') return { status: r, exits };
    exits++;
    const q = EPT_QUAL.ACC_WRITE;
    const exit: TdpExit = { kind: 'ept_violation', reason: VMX_EXIT_REASON.EPT_VIOLATION, gpa: gpa & ~0xfffn, onGuestTable: false, info: BigInt(q), errorCode: BigInt(PFERR.WRITE) | PFERR_PRIVATE_ACCESS };
    const h = v.pageFault(exit);
    if (h.memoryFault !== undefined) return { status: 'memory-fault', exits, memoryFault: h.memoryFault };
  }
  return { status: 'memory-fault', exits };
}

/**
 * The CPU's walk reached a PENDING S-EPT leaf. Without SEPT_VE_DISABLE the TDX module injects a
 * #VE into the guest (no exit to KVM); with it, the EPT violation reaches KVM flagged as an
 * unexpected pending-page access and KVM kills the VM (`tdx_handle_ept_violation`, tdx.c:1943-1947).
 */
export function pendingPageAccess(td: Td, gpa: bigint, vcpu: number, gva: bigint, events: EventLog): 'guest-ve' | 'vm-dead' {
  checkTdGpa(td, gpa);
  checkVcpuIndex('vcpu', vcpu);
  checkBigint('gva', gva);
  if (typeof checkObject<EventLog>('events', events).record !== 'function') refuse('events', 'event-log', 'must be an EventLog', events);
  td.stats.inc('pending_ve');
  if (!td.septVeDisable) {
    events.recordUnchecked({ kind: 'guest_ve', vcpu, gva, gpa, outcome: '#VE: access to a PENDING private page (not accepted)' });
    return 'guest-ve';
  }
  td.dead = true;
  events.recordUnchecked({ kind: 'ept_violation', vcpu, gva, gpa, outcome: 'pending-page EPT violation: "Guest access before accepting", kvm_vm_dead → -EIO' });
  return 'vm-dead';
}
