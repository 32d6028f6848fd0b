/**
 * Memory references of one translation on a TLB miss (no paging-structure caches), the model the
 * derived figures use:
 *  - TDP (and L2 shadowed by L1, which runs L1's shadow tables on L0's TDP): the 2D walk. Each of
 *    the n guest table reads and the final GPA first need a TDP walk, whose depth is measured on
 *    the live TDP tables (tdp level − leaf level + 1: a 2 MiB TDP leaf saves one reference per
 *    walk): refs = n + Σ depth. With 4 KiB TDP leaves everywhere this is (n+1)(m+1) − 1.
 *  - Shadow paging: the hardware walks the shadow tables only: one reference per level, measured
 *    on the live shadow tables from the root to the leaf SPTE (`shadowWalkRefs`).
 *  - A TD: private GPAs through the Secure EPT (measured on KVM's mirror of it), shared ones
 *    through the shared EPT.
 *  - L2 on nested EPT: the hardware walks L2's tables through EPT02, which lives in the shadow
 *    MMU; its depth is not exposed, so only the literature figure is given.
 */
import type { AccessResult } from '../vm/access-result';
import { refs2d } from '../nested/refs-2d';
import { shadowWalkRefsUnchecked } from '../shadow/shadow-fault';
import { isGfnAlias } from '../tdx/td-config';
import { TraceMachine } from './trace-machine';
import type { ResolvedConfig } from './run-config';
import type { TdpPage } from '../tdp/tdp-page';
import { checkEnum, checkInt, checkObject, refuse } from '../validate/checks';

export function refsModel(m: TraceMachine, r: AccessResult): number {
  if (!(m instanceof TraceMachine)) refuse('m', 'trace-machine', 'must be a TraceMachine', m);
  // A completed access of this machine: its GVA, GPA and guest walk.
  const a = checkObject<Partial<AccessResult>>('r', r);
  if (a.status !== 'ok' || typeof a.gpa !== 'bigint' || typeof a.guestWalk !== 'object' || a.guestWalk === null) refuse('r', 'access-result', 'must be an access result with status "ok"', r);
  if (!m.vm.tdpEnabled) return shadowWalkRefsUnchecked(m.vm.shadow, m.vcpu.shadow!.ctx, BigInt(r.gva));
  const trace = r.guestWalk.trace;
  const root = m.vcpu.currentRoot!;
  const top = m.vm.config.tdpLevel;
  // A TD's private GPAs are walked by the CPU through the Secure EPT, not the shared EPT
  // (`currentRoot`); KVM's mirror root has the S-EPT's levels and leaves (tdp_mmu.c: mirror
  // SPTEs are propagated to the S-EPT by tdx_sept_set_private_spte), so the depth is its.
  const td = m.vm.td;
  const mirror = td === undefined ? null : m.vcpu.currentMirrorRoot;
  // Runs once per access of every job: a loop on plain numbers (no filtered copy of the trace,
  // no closures, no bigint shift per GPA; leafLevelUnchecked reads the SPTEs' halves).
  let refs = 0;
  for (let i = 0; i < trace.length; i++) {
    const s = trace[i]!;
    if (s.source === 'memory') refs += 1 + tdpDepth(m, root, mirror, top, gfnOf(s.entryGpa as bigint));
  }
  return refs + tdpDepth(m, root, mirror, top, gfnOf(r.gpa as bigint));
}

/** References of the TDP walk for `gfn`: tdp level − leaf level + 1 (a TD's private GFN under the mirror root). */
function tdpDepth(m: TraceMachine, root: TdpPage, mirror: TdpPage | null, top: number, gfn: number): number {
  const td = m.vm.td;
  const r = td !== undefined && mirror !== null && !isGfnAlias(td.config, gfn) ? mirror : root;
  return top - m.vm.tdp.leafLevelUnchecked(r, gfn) + 1;
}

/** `Number(gpa >> 12n)` without making a bigint: exact below 2^53 (GPAs have at most 52 bits). */
function gfnOf(gpa: bigint): number {
  const n = Number(gpa);
  return n < 2 ** 53 ? Math.floor(n / 4096) : Number(gpa >> 12n);
}

/**
 * The literature figure for a configuration with a 4-level guest: (n+1)(m+1) − 1 = 24 for a 2D
 * walk of 4 guest and 4 nested levels (the count Bhargava et al., "Accelerating two-dimensional
 * page walks for virtualized systems", ASPLOS 2008, give), n = 4 for shadow paging and native.
 */
export function literatureRefs(c: ResolvedConfig, guestLevels = 4, tdpLevels = 4): number {
  checkObject('c', c);
  checkEnum('c.paging', c.paging, ['ept', 'npt', 'shadow']);
  // Guest levels read from memory 0..5 (paging off to LA57); nested levels 1..5 (refs2d).
  checkInt('guestLevels', guestLevels, { max: 5 });
  checkInt('tdpLevels', tdpLevels, { min: 1, max: 5 });
  return c.paging === 'shadow' ? guestLevels : refs2d(guestLevels, tdpLevels);
}

/** Native 4-level paging: one reference per level. */
export const NATIVE_REFS = 4;
