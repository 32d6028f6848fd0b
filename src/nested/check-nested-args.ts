/**
 * Argument checks of the nested walkers' public edge (NgpaWalker's factories and record API,
 * Walk2D's constructor, nestedExit, describeNestedExit, asNestedRecord). The raw walks keep their
 * own few-compare check (checkRawWalk); the 2D walk calls the nested walker's …Unchecked twins.
 */
import { checkCpuFeatures, checkRegisterTypes } from '../cpu/check-registers';
import { checkKvmVersion } from '../kvm-version';
import { GuestMemory } from '../memory/guest-memory';
import { checkBigint, checkBool, checkEnum, checkInt, checkObject, refuse } from '../validate/checks';
import { checkEptCaps } from './ept-capabilities';
import { EPT_QUAL_GUEST_MASK } from './exit-qualification';

export const NESTED_DURING = ['none', 'paging-structure', 'final'] as const;

export function checkMem(name: string, v: unknown): GuestMemory {
  if (!(v instanceof GuestMemory)) refuse(name, 'guest-memory', 'must be a GuestMemory (L1\'s memory)', v);
  return v;
}

/**
 * A register value's type: a bigint or a safe integer. Its width and bits are the architectural
 * checks' (decodeEptp's 'eptp-width', npt's 'ncr3-beyond-maxphyaddr'), which name the VM-entry rule.
 */
function checkRegisterValue(name: string, v: unknown): void {
  if (typeof v !== 'bigint' && !(typeof v === 'number' && Number.isSafeInteger(v))) refuse(name, 'bigint-type', 'must be a bigint or a safe integer', v);
}

function optional(name: string, v: unknown, check: (name: string, v: unknown) => unknown): void {
  if (v !== undefined) check(name, v);
}

function checkFunction(name: string, v: unknown): void {
  if (typeof v !== 'function') refuse(name, 'function-type', 'must be a function', v);
}

/** `NgpaWalker.ept(mem, cfg)`: EPTP12 a 64-bit VMCS field (SDM Vol. 3C 25.6.11), the options of their kinds. */
export function checkEptNgpaConfig(mem: unknown, cfg: unknown): void {
  checkMem('mem', mem);
  const c = checkObject<Record<string, unknown>>('cfg', cfg);
  checkRegisterValue('cfg.eptp', c['eptp']);
  optional('cfg.caps', c['caps'], checkEptCaps);
  optional('cfg.onWriteLogDirty', c['onWriteLogDirty'], checkFunction);
  if (c['kvm'] !== undefined) checkKvmVersion(c['kvm']);
  optional('cfg.mbec', c['mbec'], checkBool);
}

/** `NgpaWalker.npt(mem, cfg)`: nCR3 the 64-bit VMCB N_CR3 (APM Vol. 2 15.25.4), L1's registers, NPT12 level 2..5. */
export function checkNptNgpaConfig(mem: unknown, cfg: unknown): void {
  checkMem('mem', mem);
  const c = checkObject<Record<string, unknown>>('cfg', cfg);
  checkRegisterValue('cfg.ncr3', c['ncr3']);
  checkRegisterTypes('cfg.l1', c['l1']);
  optional('cfg.features', c['features'], checkCpuFeatures);
  optional('cfg.level', c['level'], (n, v) => checkInt(n, v, { min: 2, max: 5 }));
  if (c['kvm'] !== undefined) checkKvmVersion(c['kvm']);
  optional('cfg.gmet', c['gmet'], checkBool);
}

/**
 * An nGPA access is an object whose `user` is a boolean when given; encodeAccess then checks kind,
 * during and guestLinear by their rules ('access-kind', 'nested-during', 'guest-linear-bits').
 */
export function checkNgpaAccess(name: string, v: unknown): void {
  const a = checkObject<Record<string, unknown>>(name, v);
  optional(`${name}.user`, a['user'], checkBool);
}

/** Exit qualification bits 11:9 (advanced VM-exit information for EPT violations, SDM Vol. 3C Table 28-7). */
export function checkGuestLinear(name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || v > EPT_QUAL_GUEST_MASK || (v & ~EPT_QUAL_GUEST_MASK) !== 0) refuse(name, 'guest-linear-bits', 'holds only qualification bits 11:9', v);
  return v;
}

/** nestedExit's inputs: what an ngpa walk's error label knows. */
export function checkNestedExitInputs(name: string, v: unknown): void {
  const i = checkObject<Record<string, unknown>>(name, v);
  checkEnum(`${name}.tdp`, i['tdp'], ['ept', 'npt']);
  // The #PF error code and PFERR access are 32 bits (SDM Vol. 3A 4.7).
  checkInt(`${name}.errorCode`, i['errorCode'], { max: 0xffff_ffff });
  checkInt(`${name}.pfec`, i['pfec'], { max: 0xffff_ffff });
  // EPT_VIOLATION_RWX bits 2:0 (vmx.h).
  checkInt(`${name}.rwx`, i['rwx'], { max: 7 });
  checkBigint(`${name}.address`, i['address']);
  checkEnum(`${name}.during`, i['during'], NESTED_DURING);
  optional(`${name}.gva`, i['gva'], checkBigint);
  if (i['v73'] !== undefined) {
    const x = checkObject<Record<string, unknown>>(`${name}.v73`, i['v73']);
    checkInt(`${name}.v73.acc`, x['acc'], { max: 15 });
    checkBool(`${name}.v73.mbec`, x['mbec']);
    optional(`${name}.v73.guestLinear`, x['guestLinear'], checkGuestLinear);
  }
}

/** An exit nestedExit made: its kind and the fields describeNestedExit prints. */
export function checkNestedExit(name: string, v: unknown): void {
  const e = checkObject<Record<string, unknown>>(name, v);
  const kind = checkEnum(`${name}.kind`, e['kind'], ['ept-violation', 'ept-misconfig', 'npf']);
  if (kind === 'npf') {
    checkBigint(`${name}.exitInfo2`, e['exitInfo2']);
    checkInt(`${name}.exitInfo1`, e['exitInfo1']);
    if (typeof e['exitInfo1Text'] !== 'string') refuse(`${name}.exitInfo1Text`, 'string-type', 'must be a string', e['exitInfo1Text']);
    return;
  }
  checkBigint(`${name}.guestPhysicalAddress`, e['guestPhysicalAddress']);
  if (kind === 'ept-misconfig') return;
  checkInt(`${name}.qualification`, e['qualification']);
  if (typeof e['qualificationText'] !== 'string') refuse(`${name}.qualificationText`, 'string-type', 'must be a string', e['qualificationText']);
}
