/**
 * `kvm->vm_dead` and `kvm->vm_bugged` (kvm_host.h:899-909). `kvm_vm_dead` marks the VM dead;
 * `kvm_vm_bugged` (what KVM_BUG_ON calls, kvm_host.h:921-928) marks it bugged and dead. From then
 * on every VM and vCPU ioctl returns -EIO (kvm_main.c:4409-4410 for vCPU ioctls, 5137-5138 for VM
 * ioctls) and a vCPU in KVM_RUN leaves at KVM_REQ_VM_DEAD (x86.c:10821-10823). A guest can cause
 * this (a TD's instruction fetch from shared memory, an access to a PENDING page with
 * SEPT_VE_DISABLE): it is VM state, not an engine failure. Host-side work that is no ioctl — MMU
 * notifiers (unmap, age), the NX recovery worker, module parameters, destroying the VM — goes on.
 */
import { VmBugged, VmDeadError } from '../errors';
import type { EventLog } from '../events/event-log';

export interface VmDeath {
  /** `kvm->vm_bugged`: a KVM_BUG_ON fired (`kvm_vm_bugged`), not only `kvm_vm_dead`. */
  readonly bugged: boolean;
  /** What killed it, with the KVM site. */
  readonly reason: string;
  /** The vCPU whose exit killed it (-1: none). */
  readonly vcpu: number;
}

export class VmLife {
  private deathValue: VmDeath | undefined;
  private refusedValue = 0;

  constructor(private readonly events: EventLog) {}

  get death(): VmDeath | undefined {
    return this.deathValue;
  }

  /** Ioctls refused with -EIO since the VM died. */
  get refused(): number {
    return this.refusedValue;
  }

  /**
   * `kvm_vm_dead` (bugged = false) or `kvm_vm_bugged`. KVM_BUG_ON warns and marks the VM only
   * while it is not yet bugged (`WARN_ON_ONCE(__ret && !kvm->vm_bugged)`, kvm_host.h:925): the
   * first bug's reason is kept; a dead VM that then hits a KVM_BUG_ON becomes bugged.
   */
  kill(bugged: boolean, reason: string, vcpu: number): void {
    const d = this.deathValue;
    if (d !== undefined && (d.bugged || !bugged)) return;
    this.deathValue = { bugged, reason, vcpu };
    this.events.recordUnchecked({ kind: 'vm_dead', vcpu, outcome: `${bugged ? 'kvm_vm_bugged' : 'kvm_vm_dead'}: ${reason}` });
  }

  /** Throws VmBugged / VmDeadError (counted, with an event) when the VM is dead; `op` names the ioctl. */
  check(op: string, vcpu: number): void {
    // Every access checks: the refusal is a call and `vcpu` has no default, so the check is
    // within V8's small-function size (27 bytes of bytecode), which it inlines whatever its budget.
    if (this.deathValue !== undefined) this.refuse(op, vcpu);
  }

  private refuse(op: string, vcpu: number): never {
    const d = this.deathValue!;
    this.refusedValue++;
    this.events.recordUnchecked({ kind: 'vm_dead', vcpu, outcome: `${op}: -EIO` });
    const what = d.bugged ? 'bugged (KVM_BUG_ON)' : 'dead';
    const E = d.bugged ? VmBugged : VmDeadError;
    throw new E(d.bugged ? 'vm-bugged' : 'vm-dead', `${op} on a VM that is ${what} since ${d.reason}: every VM and vCPU ioctl fails with -EIO (kvm_main.c:4409, 5137)`, op);
  }
}
