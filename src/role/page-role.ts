/**
 * `union kvm_mmu_page_role`, bit-exact in the v6.16 layout (kvm_host.h; reference §2.1). A role is
 * an immutable packed 32-bit word; equality and hashing use the word alone (`key`), exactly as
 * KVM compares `role.word`.
 */
import { InvalidArgumentError } from '../errors';

export interface PageRoleFields {
  level: number;
  hasFourByteGpte: boolean;
  quadrant: number;
  direct: boolean;
  access: number;
  invalid: boolean;
  eferNx: boolean;
  cr0Wp: boolean;
  smepAndnotWp: boolean;
  smapAndnotWp: boolean;
  adDisabled: boolean;
  guestMode: boolean;
  passthrough: boolean;
  isMirror: boolean;
  smm: number;
}

/** [shift, width] of each field. */
export const PAGE_ROLE_LAYOUT: Readonly<Record<keyof PageRoleFields, readonly [number, number]>> = Object.freeze({
  level: [0, 4],
  hasFourByteGpte: [4, 1],
  quadrant: [5, 2],
  direct: [7, 1],
  access: [8, 3],
  invalid: [11, 1],
  eferNx: [12, 1],
  cr0Wp: [13, 1],
  smepAndnotWp: [14, 1],
  smapAndnotWp: [15, 1],
  adDisabled: [16, 1],
  guestMode: [17, 1],
  passthrough: [18, 1],
  isMirror: [19, 1],
  smm: [24, 8],
});

/** KVM's field names, for the glossary and for comparing with `trace_kvm_mmu_get_page`. */
export const PAGE_ROLE_KVM_NAMES: Readonly<Record<keyof PageRoleFields, string>> = Object.freeze({
  level: 'level',
  hasFourByteGpte: 'has_4_byte_gpte',
  quadrant: 'quadrant',
  direct: 'direct',
  access: 'access',
  invalid: 'invalid',
  eferNx: 'efer_nx',
  cr0Wp: 'cr0_wp',
  smepAndnotWp: 'smep_andnot_wp',
  smapAndnotWp: 'smap_andnot_wp',
  adDisabled: 'ad_disabled',
  guestMode: 'guest_mode',
  passthrough: 'passthrough',
  isMirror: 'is_mirror',
  smm: 'smm',
});

function field(word: number, [shift, width]: readonly [number, number]): number {
  return (word >>> shift) & ((1 << width) - 1);
}

export class PageRole {
  /** The packed `role.word`. */
  readonly word: number;

  private constructor(word: number) {
    this.word = word >>> 0;
    Object.freeze(this);
  }

  static fromWord(word: number): PageRole {
    if (!Number.isInteger(word) || word < 0 || word > 0xffffffff) {
      throw new InvalidArgumentError('role-word', 'a page role word is an unsigned 32-bit integer', String(word));
    }
    return new PageRole(word);
  }

  static pack(fields: Partial<PageRoleFields>): PageRole {
    let w = 0;
    for (const name of Object.keys(PAGE_ROLE_LAYOUT) as (keyof PageRoleFields)[]) {
      const v = fields[name];
      if (v === undefined) continue;
      const n = typeof v === 'boolean' ? (v ? 1 : 0) : v;
      const [shift, width] = PAGE_ROLE_LAYOUT[name];
      if (!Number.isInteger(n) || n < 0 || n >= 1 << width) {
        throw new InvalidArgumentError('role-field-range', `page role field ${name} must fit in ${width} bit(s)`, String(v));
      }
      w |= n << shift;
    }
    return new PageRole(w >>> 0);
  }

  /** A copy with some fields changed (KVM's `role.level--`, `role.access = …`). */
  with(fields: Partial<PageRoleFields>): PageRole {
    return PageRole.pack({ ...this.fields(), ...fields });
  }

  /** Equality and hash key: the word. */
  get key(): number {
    return this.word;
  }

  equals(other: PageRole): boolean {
    return this.word === other.word;
  }

  get level(): number { return field(this.word, PAGE_ROLE_LAYOUT.level); }
  get hasFourByteGpte(): boolean { return field(this.word, PAGE_ROLE_LAYOUT.hasFourByteGpte) === 1; }
  get quadrant(): number { return field(this.word, PAGE_ROLE_LAYOUT.quadrant); }
  get direct(): boolean { return field(this.word, PAGE_ROLE_LAYOUT.direct) === 1; }
  get access(): number { return field(this.word, PAGE_ROLE_LAYOUT.access); }
  get invalid(): boolean { return field(this.word, PAGE_ROLE_LAYOUT.invalid) === 1; }
  get eferNx(): boolean { return field(this.word, PAGE_ROLE_LAYOUT.eferNx) === 1; }
  get cr0Wp(): boolean { return field(this.word, PAGE_ROLE_LAYOUT.cr0Wp) === 1; }
  get smepAndnotWp(): boolean { return field(this.word, PAGE_ROLE_LAYOUT.smepAndnotWp) === 1; }
  get smapAndnotWp(): boolean { return field(this.word, PAGE_ROLE_LAYOUT.smapAndnotWp) === 1; }
  get adDisabled(): boolean { return field(this.word, PAGE_ROLE_LAYOUT.adDisabled) === 1; }
  get guestMode(): boolean { return field(this.word, PAGE_ROLE_LAYOUT.guestMode) === 1; }
  get passthrough(): boolean { return field(this.word, PAGE_ROLE_LAYOUT.passthrough) === 1; }
  get isMirror(): boolean { return field(this.word, PAGE_ROLE_LAYOUT.isMirror) === 1; }
  get smm(): number { return field(this.word, PAGE_ROLE_LAYOUT.smm); }

  /** Decode into named fields. */
  fields(): PageRoleFields {
    const out = {} as Record<string, number | boolean>;
    for (const name of Object.keys(PAGE_ROLE_LAYOUT) as (keyof PageRoleFields)[]) {
      const [, width] = PAGE_ROLE_LAYOUT[name];
      const v = field(this.word, PAGE_ROLE_LAYOUT[name]);
      out[name] = width === 1 && name !== 'level' ? v === 1 : v;
    }
    return out as unknown as PageRoleFields;
  }

  toString(): string {
    return `PageRole(0x${this.word.toString(16).padStart(8, '0')})`;
  }
}
