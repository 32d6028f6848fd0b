/**
 * The public edge of spte.ts: each function checks its arguments (a config made by
 * `makeSpteConfig`, u64 SPTEs, levels, frame numbers and ACC values in range, booleans) and calls
 * the unchecked one, which the engine keeps calling directly. src/index.ts exports these.
 */
import * as u from './spte';
import { checkAcc, checkBool, checkHostPfn, checkSpte, checkSpteConfig, checkSpteLevel } from './check-spte-args';
import { checkInt, checkObject } from '../validate/checks';
import type { SpteConfig } from './spte-config';

export * from './spte';

/** A memslots generation (KVM's u64 counter; exact here up to 2^53). */
const checkGeneration = (v: unknown): number => checkInt('generation', v);

export function isShadowPresent(spte: bigint): boolean {
  return u.isShadowPresent(checkSpte('spte', spte));
}
export function isLargePte(spte: bigint): boolean {
  return u.isLargePte(checkSpte('spte', spte));
}
export function isLastSpte(spte: bigint, level: number): boolean {
  return u.isLastSpte(checkSpte('spte', spte), checkSpteLevel('level', level));
}
export function isFrozen(c: SpteConfig, spte: bigint): boolean {
  return u.isFrozen(checkSpteConfig(c), checkSpte('spte', spte));
}
export function spteToPfn(spte: bigint): number {
  return u.spteToPfn(checkSpte('spte', spte));
}
export function isWritable(spte: bigint): boolean {
  return u.isWritable(checkSpte('spte', spte));
}
export function isMmuWritable(c: SpteConfig, spte: bigint): boolean {
  return u.isMmuWritable(checkSpteConfig(c), checkSpte('spte', spte));
}
export function isHostWritable(c: SpteConfig, spte: bigint): boolean {
  return u.isHostWritable(checkSpteConfig(c), checkSpte('spte', spte));
}
export function spteAdEnabled(c: SpteConfig, spte: bigint): boolean {
  return u.spteAdEnabled(checkSpteConfig(c), checkSpte('spte', spte));
}
export function spteAdNeedWriteProtect(c: SpteConfig, spte: bigint): boolean {
  return u.spteAdNeedWriteProtect(checkSpteConfig(c), checkSpte('spte', spte));
}
export function isAccessed(c: SpteConfig, spte: bigint): boolean {
  return u.isAccessed(checkSpteConfig(c), checkSpte('spte', spte));
}
export function isDirty(c: SpteConfig, spte: bigint): boolean {
  return u.isDirty(checkSpteConfig(c), checkSpte('spte', spte));
}
export function isAccessTrack(c: SpteConfig, spte: bigint): boolean {
  return u.isAccessTrack(checkSpteConfig(c), checkSpte('spte', spte));
}
export function isExecutable(c: SpteConfig, spte: bigint): boolean {
  return u.isExecutable(checkSpteConfig(c), checkSpte('spte', spte));
}
export function isMmioSpte(c: SpteConfig, spte: bigint): boolean {
  return u.isMmioSpte(checkSpteConfig(c), checkSpte('spte', spte));
}
export function isRsvdSpte(c: SpteConfig, spte: bigint, level: number): boolean {
  const cc = checkSpteConfig(c);
  return u.isRsvdSpte(cc, checkSpte('spte', spte), checkSpteLevel('level', level, cc.zeroCheck[0]!.length));
}
export function markSpteForAccessTrack(c: SpteConfig, spte: bigint): bigint {
  return u.markSpteForAccessTrack(checkSpteConfig(c), checkSpte('spte', spte));
}
export function leafSpteChangeNeedsTlbFlush(c: SpteConfig, old: bigint, next: bigint): boolean {
  return u.leafSpteChangeNeedsTlbFlush(checkSpteConfig(c), checkSpte('old', old), checkSpte('next', next));
}
export function getMtMask(c: SpteConfig, isMmioPfn: boolean): bigint {
  return u.getMtMask(checkSpteConfig(c), checkBool('isMmioPfn', isMmioPfn));
}
export function restoreAccTrackSpte(c: SpteConfig, spte: bigint): bigint {
  return u.restoreAccTrackSpte(checkSpteConfig(c), checkSpte('spte', spte));
}
export function makeNonleafSpte(c: SpteConfig, childPfn: number, adDisabled: boolean): bigint {
  const cc = checkSpteConfig(c);
  return u.makeNonleafSpte(cc, checkHostPfn(cc, 'childPfn', childPfn), checkBool('adDisabled', adDisabled));
}
export function kvmMmuPageAdNeedWriteProtect(c: SpteConfig, guestMode: boolean): boolean {
  return u.kvmMmuPageAdNeedWriteProtect(checkSpteConfig(c), checkBool('guestMode', guestMode));
}
/** A leaf SPTE: `level` at most the config's largest huge page level (no leaf above it exists). */
export function makeSpte(c: SpteConfig, i: u.MakeSpteInput): { spte: bigint; wrprot: boolean } {
  const cc = checkSpteConfig(c);
  const o = checkObject<u.MakeSpteInput>('input', i);
  const checked: u.MakeSpteInput = {
    level: checkSpteLevel('input.level', o.level, cc.maxHugePageLevel),
    adDisabled: checkBool('input.adDisabled', o.adDisabled),
    adNeedWriteProtect: checkBool('input.adNeedWriteProtect', o.adNeedWriteProtect),
    pteAccess: checkAcc(cc, 'input.pteAccess', o.pteAccess),
    pfn: checkHostPfn(cc, 'input.pfn', o.pfn),
    isMmioPfn: checkBool('input.isMmioPfn', o.isMmioPfn),
    prefetch: checkBool('input.prefetch', o.prefetch),
    synchronizing: checkBool('input.synchronizing', o.synchronizing),
    hostWritable: checkBool('input.hostWritable', o.hostWritable),
    mustWriteProtect: checkBool('input.mustWriteProtect', o.mustWriteProtect),
  };
  return u.makeSpte(cc, checked);
}
export function makeMmioSpte(c: SpteConfig, gfn: number, access: number, generation: number): bigint {
  const cc = checkSpteConfig(c);
  return u.makeMmioSpte(cc, checkHostPfn(cc, 'gfn', gfn), checkAcc(cc, 'access', access), checkGeneration(generation));
}
export function mmioSpteGeneration(c: SpteConfig, spte: bigint): number {
  return u.mmioSpteGeneration(checkSpteConfig(c), checkSpte('spte', spte));
}
export function mmioGenerationMatches(c: SpteConfig, spte: bigint, generation: number): boolean {
  return u.mmioGenerationMatches(checkSpteConfig(c), checkSpte('spte', spte), checkGeneration(generation));
}
export function mmioSpteGfn(spte: bigint, hostMaxPhyAddr: number): number {
  return u.mmioSpteGfn(checkSpte('spte', spte), checkInt('hostMaxPhyAddr', hostMaxPhyAddr, { min: 32, max: 52 }));
}
export function isAccessAllowed(c: SpteConfig, fault: { exec: boolean; write: boolean }, spte: bigint): boolean {
  const cc = checkSpteConfig(c);
  const f = checkObject<{ exec: boolean; write: boolean }>('fault', fault);
  return u.isAccessAllowed(cc, { exec: checkBool('fault.exec', f.exec), write: checkBool('fault.write', f.write) }, checkSpte('spte', spte));
}
