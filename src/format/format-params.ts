/**
 * The argument checks of the format builders (issue 12 item 1): each parameter object is an
 * object of known keys only (a misspelt `smep` would otherwise be ignored and cached under its own
 * key), numbers in their architectural ranges, flags booleans, `kvm` a modelled version. They run
 * before the memo key is computed, so a bigint cannot reach JSON.stringify (a TypeError before)
 * and a bad value never becomes a cached format.
 */
import { KVM_VERSIONS } from '../kvm-version';
import { checkBool, checkEnum, checkObject, refuse } from '../validate/checks';

type Obj = Record<string, unknown>;

function checkKeys(name: string, o: Obj, known: readonly string[]): void {
  for (const k of Object.keys(o)) if (!known.includes(k)) refuse(`${name}.${k}`, 'unknown-key', `is not a parameter (known: ${known.join(', ')})`, o[k]);
}

function checkCommon(name: string, o: Obj, flags: readonly string[], optFlags: readonly string[]): void {
  // MAXPHYADDR is 32..52 (SDM Vol. 3A 4.1.4; KVM: cpuid_maxphyaddr).
  const m = o.maxPhyAddr;
  if (typeof m !== 'number' || !Number.isInteger(m) || m < 32 || m > 52) refuse(`${name}.maxPhyAddr`, 'maxphyaddr-range', 'must be an integer MAXPHYADDR from 32 to 52', m);
  for (const k of flags) checkBool(`${name}.${k}`, o[k]);
  for (const k of optFlags) if (o[k] !== undefined) checkBool(`${name}.${k}`, o[k]);
  if (o.kvm !== undefined) checkEnum(`${name}.kvm`, o.kvm, KVM_VERSIONS);
}

const X86_FLAGS = ['nx', 'gbpages', 'pse', 'amd', 'cr0Wp', 'cr4Smep', 'cr4Smap', 'cr4Pke'] as const;

/** X86FormatParams (paging32Format, paeFormat, paging4Format, paging5Format). */
export function checkX86Params(name: string, p: unknown): void {
  const o = checkObject<Obj>(name, p);
  checkKeys(name, o, ['maxPhyAddr', ...X86_FLAGS, 'kvm']);
  checkCommon(name, o, X86_FLAGS, []);
}

/** EptFormatParams: page-walk length 4 or 5, largest leaf level 1..3 (EPTP bits 5:3; IA32_VMX_EPT_VPID_CAP bits 16, 17). */
export function checkEptParams(name: string, p: unknown): void {
  const o = checkObject<Obj>(name, p);
  checkKeys(name, o, ['level', 'maxPhyAddr', 'adEnabled', 'execonly', 'hugePageLevel', 'kvm', 'mbec']);
  checkEnum(`${name}.level`, o.level, [4, 5], 'ept-level');
  if (o.hugePageLevel !== 1 && o.hugePageLevel !== 2 && o.hugePageLevel !== 3) refuse(`${name}.hugePageLevel`, 'ept-huge-level', 'must be the EPT huge page level 1, 2 or 3', o.hugePageLevel);
  checkCommon(name, o, ['adEnabled', 'execonly'], ['mbec']);
}

/** NptFormatParams: levels follow L1's paging mode, 2..5 (kvm_init_shadow_npt_mmu). */
export function checkNptParams(name: string, p: unknown): void {
  const o = checkObject<Obj>(name, p);
  checkKeys(name, o, ['level', 'maxPhyAddr', 'nx', 'gbpages', 'pse', 'cr4Smep', 'cr4Smap', 'kvm', 'gmet']);
  if (o.level !== 2 && o.level !== 3 && o.level !== 4 && o.level !== 5) refuse(`${name}.level`, 'npt-level', 'must be one of the NPT levels, which follow L1 paging: 2, 3, 4 or 5', o.level);
  checkCommon(name, o, ['nx', 'gbpages', 'pse', 'cr4Smep', 'cr4Smap'], ['gmet']);
}
