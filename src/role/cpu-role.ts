/**
 * `union kvm_cpu_role` (v6.16): the base page role in the low 32 bits and
 * `union kvm_mmu_extended_role` in the high 32 bits (reference §2.3). The key is the exact
 * 64-bit value as a number (the extended role uses only 8 bits, so it is below 2^40).
 */
import { InvalidArgumentError } from '../errors';
import { PageRole } from './page-role';

export interface ExtendedRoleFields {
  valid: boolean;
  execonly: boolean;
  cr4Pse: boolean;
  cr4Pke: boolean;
  cr4Smap: boolean;
  cr4Smep: boolean;
  cr4La57: boolean;
  eferLma: boolean;
}

export const EXT_ROLE_BITS: Readonly<Record<keyof ExtendedRoleFields, number>> = Object.freeze({
  valid: 0,
  execonly: 1,
  cr4Pse: 2,
  cr4Pke: 3,
  cr4Smap: 4,
  cr4Smep: 5,
  cr4La57: 6,
  eferLma: 7,
});

export const EXT_ROLE_KVM_NAMES: Readonly<Record<keyof ExtendedRoleFields, string>> = Object.freeze({
  valid: 'valid',
  execonly: 'execonly',
  cr4Pse: 'cr4_pse',
  cr4Pke: 'cr4_pke',
  cr4Smap: 'cr4_smap',
  cr4Smep: 'cr4_smep',
  cr4La57: 'cr4_la57',
  eferLma: 'efer_lma',
});

export class CpuRole {
  readonly base: PageRole;
  /** The packed extended role word. */
  readonly ext: number;

  private constructor(base: PageRole, ext: number) {
    this.base = base;
    this.ext = ext >>> 0;
    Object.freeze(this);
  }

  static of(base: PageRole, ext: Partial<ExtendedRoleFields> | number): CpuRole {
    if (typeof ext === 'number') {
      if (!Number.isInteger(ext) || ext < 0 || ext > 0xff) {
        throw new InvalidArgumentError('ext-role-word', 'the v6.16 extended role uses bits 7:0 only', String(ext));
      }
      return new CpuRole(base, ext);
    }
    let w = 0;
    for (const name of Object.keys(EXT_ROLE_BITS) as (keyof ExtendedRoleFields)[]) {
      if (ext[name]) w |= 1 << EXT_ROLE_BITS[name];
    }
    return new CpuRole(base, w);
  }

  static fromU64(v: bigint): CpuRole {
    return CpuRole.of(PageRole.fromWord(Number(v & 0xffffffffn)), Number(v >> 32n));
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
    return this.key === o.key;
  }

  private extBit(name: keyof ExtendedRoleFields): boolean {
    return ((this.ext >>> EXT_ROLE_BITS[name]) & 1) === 1;
  }

  extFields(): ExtendedRoleFields {
    const out = {} as Record<string, boolean>;
    for (const name of Object.keys(EXT_ROLE_BITS) as (keyof ExtendedRoleFields)[]) out[name] = this.extBit(name);
    return out as unknown as ExtendedRoleFields;
  }

  // Accessors named after KVM's mmu.c helpers (is_cr0_pg, is_cr4_pae, …): code reads the role,
  // never the raw registers, once the role exists.
  get isCr0Pg(): boolean { return this.base.level > 0; }
  get isCr0Wp(): boolean { return this.base.cr0Wp; }
  get isCr4Pae(): boolean { return !this.base.hasFourByteGpte; }
  get isCr4Pse(): boolean { return this.extBit('cr4Pse'); }
  get isCr4Smep(): boolean { return this.extBit('cr4Smep'); }
  get isCr4Smap(): boolean { return this.extBit('cr4Smap'); }
  get isCr4Pke(): boolean { return this.extBit('cr4Pke'); }
  get isCr4La57(): boolean { return this.extBit('cr4La57'); }
  get isEferNx(): boolean { return this.base.eferNx; }
  get isEferLma(): boolean { return this.extBit('eferLma'); }
  get execonly(): boolean { return this.extBit('execonly'); }
  get valid(): boolean { return this.extBit('valid'); }

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
