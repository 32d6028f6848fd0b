/**
 * `union kvm_cpu_role`: the base page role in the low 32 bits and `union kvm_mmu_extended_role`
 * in the high 32 bits (v6.16: reference §2.3; 7.3: kvm-7x.md §3.2, where `cr4_smep` moved to the
 * base role and bit 7 is `has_pferr_fetch`). The key is the exact 64-bit value as a number (the
 * extended role uses only 8 bits, so it is below 2^40). The version is the base role's.
 */
import { DEFAULT_KVM_VERSION, KVM_VERSIONS, type KvmVersion } from '../kvm-version';
import { checkBigint, checkEnum, checkObject, refuse } from '../validate/checks';
import { PageRole } from './page-role';

export interface ExtendedRoleFields {
  valid: boolean;
  execonly: boolean;
  cr4Pse: boolean;
  cr4Pke: boolean;
  cr4Smap: boolean;
  /** v6.16 only (bit 5); 7.3 keeps it in the base role. */
  cr4Smep: boolean;
  cr4La57: boolean;
  eferLma: boolean;
  /**
   * 7.3 only (bit 7, 978598a230c1): whether a fetch sets PFERR_FETCH in an injected #PF, "either
   * CR4.SMEP or EFER.NXE" (kvm-7x.md §1.5, §2.2) — no longer derivable from base.cr4_smep, which
   * means MBEC or GMET for EPT/NPT.
   */
  hasPferrFetch: boolean;
}

type ExtLayout = Readonly<Partial<Record<keyof ExtendedRoleFields, number>>>;

/** v6.16 extended-role bit of each field (reference §2.3). */
export const EXT_ROLE_BITS_6_16: ExtLayout = Object.freeze({
  valid: 0,
  execonly: 1,
  cr4Pse: 2,
  cr4Pke: 3,
  cr4Smap: 4,
  cr4Smep: 5,
  cr4La57: 6,
  eferLma: 7,
});

/** 7.3 extended-role bits (kvm-7x.md §3.2 table): cr4_smep gone, la57 5, lma 6, has_pferr_fetch 7. */
export const EXT_ROLE_BITS_7_3: ExtLayout = Object.freeze({
  valid: 0,
  execonly: 1,
  cr4Pse: 2,
  cr4Pke: 3,
  cr4Smap: 4,
  cr4La57: 5,
  eferLma: 6,
  hasPferrFetch: 7,
});

export function extRoleBits(kvm: KvmVersion): ExtLayout {
  if (kvm === '7.3') return EXT_ROLE_BITS_7_3;
  if (kvm === '6.16') return EXT_ROLE_BITS_6_16;
  return refuse('kvm', 'kvm-version', `must be one of ${KVM_VERSIONS.map((v) => JSON.stringify(v)).join(', ')}`, kvm);
}

const own = (o: object, k: string): boolean => Object.prototype.hasOwnProperty.call(o, k);

/** The unversioned name is the default version's layout (7.3); v6.16's is EXT_ROLE_BITS_6_16. */
export const EXT_ROLE_BITS: ExtLayout = extRoleBits(DEFAULT_KVM_VERSION);

/** KVM's names of the v6.16 extended-role fields; 7.3's added one is in EXT_ROLE_KVM_NAMES_7_3_ONLY. */
export const EXT_ROLE_KVM_NAMES: Readonly<Record<Exclude<keyof ExtendedRoleFields, 'hasPferrFetch'>, string>> = Object.freeze({
  valid: 'valid',
  execonly: 'execonly',
  cr4Pse: 'cr4_pse',
  cr4Pke: 'cr4_pke',
  cr4Smap: 'cr4_smap',
  cr4Smep: 'cr4_smep',
  cr4La57: 'cr4_la57',
  eferLma: 'efer_lma',
});

/** The extended-role field 7.3 added (978598a230c1). */
export const EXT_ROLE_KVM_NAMES_7_3_ONLY: Readonly<Pick<Record<keyof ExtendedRoleFields, string>, 'hasPferrFetch'>> = Object.freeze({ hasPferrFetch: 'has_pferr_fetch' });

/** KVM's name of an extended-role field of either version. */
export function extRoleKvmName(k: keyof ExtendedRoleFields): string {
  if (typeof k !== 'string' || (k !== 'hasPferrFetch' && !own(EXT_ROLE_KVM_NAMES, k))) refuse('k', 'ext-role-field-name', 'must be an extended role field name', k);
  return k === 'hasPferrFetch' ? EXT_ROLE_KVM_NAMES_7_3_ONLY.hasPferrFetch : EXT_ROLE_KVM_NAMES[k];
}

export class CpuRole {
  readonly base: PageRole;
  /** The packed extended role word. */
  readonly ext: number;

  private constructor(base: PageRole, ext: number) {
    this.base = base;
    this.ext = ext >>> 0;
    Object.freeze(this);
  }

  /** The KVM version whose layouts this role uses (the base role's). */
  get kvm(): KvmVersion {
    return this.base.kvm;
  }

  /**
   * A base PageRole and the extended role: a word of bits 7:0, or fields by name (own keys of
   * either version's layout; booleans, a field the version lacks only as false).
   */
  static of(base: PageRole, ext: Partial<ExtendedRoleFields> | number): CpuRole {
    if (!(base instanceof PageRole)) refuse('base', 'page-role', 'must be a PageRole', base);
    if (typeof ext === 'number') {
      if (!Number.isInteger(ext) || ext < 0 || ext > 0xff) refuse('ext', 'ext-role-word', 'must be an extended role word: it uses bits 7:0 only', ext);
      return new CpuRole(base, ext);
    }
    const e = checkObject<Record<string, unknown>>('ext', ext);
    const bits = extRoleBits(base.kvm);
    for (const k of Object.keys(e)) {
      const v = e[k];
      if (v === undefined) continue;
      if (!own(EXT_ROLE_BITS_6_16, k) && !own(EXT_ROLE_BITS_7_3, k)) refuse(`ext.${k}`, 'ext-role-field-name', 'is not an extended role field', v);
      if (typeof v !== 'boolean') refuse(`ext.${k}`, 'ext-role-field-type', 'must be true or false', v);
      if (v && bits[k as keyof ExtendedRoleFields] === undefined) refuse(`ext.${k}`, 'ext-role-field-version', `does not exist in KVM ${base.kvm}`, v);
    }
    return CpuRole.ofUnchecked(base, ext);
  }

  /** @internal `of` with fields, without the argument checks: kvm_calc_cpu_role's own fields. */
  static ofUnchecked(base: PageRole, ext: Partial<ExtendedRoleFields>): CpuRole {
    const bits = extRoleBits(base.kvm);
    let w = 0;
    for (const name of Object.keys(ext) as (keyof ExtendedRoleFields)[]) {
      const b = bits[name];
      if (ext[name] === true && b !== undefined) w |= 1 << b;
    }
    return new CpuRole(base, w);
  }

  /** From `as_u64`: the base word in bits 31:0, the extended role in bits 39:32. */
  static fromU64(v: bigint, kvm: KvmVersion = DEFAULT_KVM_VERSION): CpuRole {
    checkBigint('v', v, { max: (1n << 40n) - 1n });
    checkEnum('kvm', kvm, KVM_VERSIONS, 'kvm-version');
    return new CpuRole(PageRole.fromWord(Number(v & 0xffffffffn), kvm), Number(v >> 32n));
  }

  /** `as_u64`. */
  get asU64(): bigint {
    return (BigInt(this.ext) << 32n) | BigInt(this.base.word);
  }

  /** Exact as_u64 as a number: one key for equality and hashing. */
  get key(): number {
    return this.ext * 0x1_0000_0000 + this.base.word;
  }

  equals(o: CpuRole): boolean {
    if (!(o instanceof CpuRole)) refuse('o', 'cpu-role', 'must be a CpuRole', o);
    return this.key === o.key && this.kvm === o.kvm;
  }

  private extBit(name: keyof ExtendedRoleFields): boolean {
    const b = extRoleBits(this.kvm)[name];
    return b !== undefined && ((this.ext >>> b) & 1) === 1;
  }

  /** Decode the extended role into the fields of this version's layout. */
  extFields(): ExtendedRoleFields {
    const out = {} as Record<string, boolean>;
    for (const name of Object.keys(extRoleBits(this.kvm)) as (keyof ExtendedRoleFields)[]) out[name] = this.extBit(name);
    return out as unknown as ExtendedRoleFields;
  }

  // Accessors named after KVM's mmu.c helpers (is_cr0_pg, is_cr4_pae, …): code reads the role,
  // never the raw registers, once the role exists.
  get isCr0Pg(): boolean { return this.base.level > 0; }
  get isCr0Wp(): boolean { return this.base.cr0Wp; }
  get isCr4Pae(): boolean { return !this.base.hasFourByteGpte; }
  get isCr4Pse(): boolean { return this.extBit('cr4Pse'); }
  /** 6.16 `ext.cr4_smep`; 7.3 `base.cr4_smep` (guest SMEP, or MBEC/GMET in an EPT/NPT role). */
  get isCr4Smep(): boolean { return this.kvm === '7.3' ? this.base.cr4Smep : this.extBit('cr4Smep'); }
  get isCr4Smap(): boolean { return this.extBit('cr4Smap'); }
  get isCr4Pke(): boolean { return this.extBit('cr4Pke'); }
  get isCr4La57(): boolean { return this.extBit('cr4La57'); }
  get isEferNx(): boolean { return this.base.eferNx; }
  get isEferLma(): boolean { return this.extBit('eferLma'); }
  get execonly(): boolean { return this.extBit('execonly'); }
  get valid(): boolean { return this.extBit('valid'); }
  /**
   * Whether a faulting fetch sets PFERR_FETCH (I/D): 6.16 computes `is_efer_nx || is_cr4_smep`
   * at the fault (reference §5.1); 7.3 reads `ext.has_pferr_fetch` (kvm-7x.md §1.5).
   */
  get hasPferrFetch(): boolean {
    return this.kvm === '7.3' ? this.extBit('hasPferrFetch') : this.isEferNx || this.isCr4Smep;
  }

  /** The paging mode in SDM terms. */
  get pagingMode(): 'none' | '32-bit' | 'PAE' | '4-level' | '5-level' {
    switch (this.base.level) {
      case 0: return 'none';
      case 2: return '32-bit';
      case 3: return 'PAE';
      case 4: return '4-level';
      default: return '5-level';
    }
  }

  toString(): string {
    return `CpuRole(0x${this.asU64.toString(16).padStart(16, '0')} ${this.pagingMode})`;
  }
}
