/**
 * `union kvm_mmu_page_role`, bit-exact in the v6.16 layout (kvm_host.h; reference §2.1) or the 7.3
 * one (kvm-7x.md §3.1). A role is an immutable packed 32-bit word plus the KVM version whose
 * layout it uses; equality and hashing use the word (`key`), exactly as KVM compares `role.word`
 * (roles of different versions never meet: one VM has one version).
 */
import { DEFAULT_KVM_VERSION, KVM_VERSIONS, type KvmVersion } from '../kvm-version';
import { checkEnum, checkObject, refuse } from '../validate/checks';

export interface PageRoleFields {
  level: number;
  hasFourByteGpte: boolean;
  quadrant: number;
  direct: boolean;
  access: number;
  invalid: boolean;
  eferNx: boolean;
  cr0Wp: boolean;
  /** v6.16 only (bit 14); removed in 7.3 by f603854a1b42. */
  smepAndnotWp: boolean;
  smapAndnotWp: boolean;
  /** 7.3 only (bit 20): guest CR4.SMEP, EPT MBEC or NPT GMET (kvm-7x.md §3.1). */
  cr4Smep: boolean;
  adDisabled: boolean;
  guestMode: boolean;
  passthrough: boolean;
  isMirror: boolean;
  smm: number;
}

type Layout = Readonly<Partial<Record<keyof PageRoleFields, readonly [number, number]>>>;

/** [shift, width] of each field, v6.16 (reference §2.1). */
export const PAGE_ROLE_LAYOUT_6_16 = Object.freeze({
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
} as const);

/**
 * [shift, width] of each field, 7.3 (kvm-7x.md §3.1 table): access 4 bits at 11:8, invalid 12,
 * efer_nx 13, cr0_wp 14, smap_andnot_wp 15, …, cr4_smep 20; smep_andnot_wp gone.
 */
export const PAGE_ROLE_LAYOUT_7_3 = Object.freeze({
  level: [0, 4],
  hasFourByteGpte: [4, 1],
  quadrant: [5, 2],
  direct: [7, 1],
  access: [8, 4],
  invalid: [12, 1],
  eferNx: [13, 1],
  cr0Wp: [14, 1],
  smapAndnotWp: [15, 1],
  adDisabled: [16, 1],
  guestMode: [17, 1],
  passthrough: [18, 1],
  isMirror: [19, 1],
  cr4Smep: [20, 1],
  smm: [24, 8],
} as const);

export function pageRoleLayout(kvm: KvmVersion): Layout {
  if (kvm === '7.3') return PAGE_ROLE_LAYOUT_7_3;
  if (kvm === '6.16') return PAGE_ROLE_LAYOUT_6_16;
  return refuse('kvm', 'kvm-version', `must be one of ${KVM_VERSIONS.map((v) => JSON.stringify(v)).join(', ')}`, kvm);
}

const own = (o: object, k: string): boolean => Object.prototype.hasOwnProperty.call(o, k);

/** The unversioned name is the default version's layout (7.3); v6.16's is PAGE_ROLE_LAYOUT_6_16. */
export const PAGE_ROLE_LAYOUT: Layout = pageRoleLayout(DEFAULT_KVM_VERSION);

/**
 * KVM's field names, for the glossary and for comparing with `trace_kvm_mmu_get_page`: the v6.16
 * fields (the keys of PAGE_ROLE_LAYOUT_6_16); 7.3's added field is in PAGE_ROLE_KVM_NAMES_7_3_ONLY.
 */
export const PAGE_ROLE_KVM_NAMES: Readonly<Record<Exclude<keyof PageRoleFields, 'cr4Smep'>, string>> = Object.freeze({
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

/** The page-role field 7.3 added (f603854a1b42). */
export const PAGE_ROLE_KVM_NAMES_7_3_ONLY: Readonly<Pick<Record<keyof PageRoleFields, string>, 'cr4Smep'>> = Object.freeze({ cr4Smep: 'cr4_smep' });

/** KVM's name of a page-role field of either version. */
export function pageRoleKvmName(k: keyof PageRoleFields): string {
  if (typeof k !== 'string' || (k !== 'cr4Smep' && !own(PAGE_ROLE_KVM_NAMES, k))) refuse('k', 'role-field-name', 'must be a page role field name', k);
  return k === 'cr4Smep' ? PAGE_ROLE_KVM_NAMES_7_3_ONLY.cr4Smep : PAGE_ROLE_KVM_NAMES[k];
}

function field(word: number, sw: readonly [number, number] | undefined): number {
  if (sw === undefined) return 0;
  // Indexing, not `const [shift, width] = sw`: a destructuring runs the array iterator, and the
  // access pipeline reads a root's `invalid` on every access.
  return (word >>> sw[0]) & ((1 << sw[1]) - 1);
}

export class PageRole {
  /** The packed `role.word`. */
  readonly word: number;
  /** Whose layout `word` uses. */
  readonly kvm: KvmVersion;
  private readonly layout: Layout;

  private constructor(word: number, kvm: KvmVersion) {
    this.word = word >>> 0;
    this.kvm = kvm;
    this.layout = pageRoleLayout(kvm);
    Object.freeze(this);
  }

  static fromWord(word: number, kvm: KvmVersion = DEFAULT_KVM_VERSION): PageRole {
    if (typeof word !== 'number' || !Number.isInteger(word) || word < 0 || word > 0xffffffff) {
      refuse('word', 'role-word', 'must be a page role word, an unsigned 32-bit integer', word);
    }
    checkEnum('kvm', kvm, KVM_VERSIONS, 'kvm-version');
    return new PageRole(word, kvm);
  }

  /**
   * The fields of a pack/with: an object whose own keys are page-role field names (prototype keys
   * such as `toString` are no fields: `in` found them), each a boolean or an integer that fits its
   * width in `kvm`'s layout; a field the layout lacks only as false/0.
   */
  private static checkFields(name: string, fields: unknown, kvm: KvmVersion): Partial<PageRoleFields> {
    const f = checkObject<Record<string, unknown>>(name, fields);
    const layout = pageRoleLayout(kvm);
    for (const k of Object.keys(f)) {
      const v = f[k];
      if (v === undefined) continue;
      if (!own(PAGE_ROLE_LAYOUT_6_16, k) && !own(PAGE_ROLE_LAYOUT_7_3, k)) refuse(`${name}.${k}`, 'role-field-name', 'is not a page role field', v);
      if (typeof v !== 'boolean' && (typeof v !== 'number' || !Number.isInteger(v))) refuse(`${name}.${k}`, 'role-field-type', 'must be a boolean or an integer', v);
      const n = typeof v === 'boolean' ? (v ? 1 : 0) : v;
      const sw = layout[k as keyof PageRoleFields];
      if (sw === undefined) {
        if (n !== 0) refuse(`${name}.${k}`, 'role-field-version', `does not exist in KVM ${kvm}`, v);
        continue;
      }
      if (n < 0 || n >= 1 << sw[1]) refuse(`${name}.${k}`, 'role-field-range', `must fit in ${sw[1]} bit(s)`, v);
    }
    return f as Partial<PageRoleFields>;
  }

  /**
   * Pack fields in `kvm`'s layout. A field the layout lacks (7.3 `smepAndnotWp`, 6.16 `cr4Smep`)
   * may be given only as false/0.
   */
  static pack(fields: Partial<PageRoleFields>, kvm: KvmVersion = DEFAULT_KVM_VERSION): PageRole {
    checkEnum('kvm', kvm, KVM_VERSIONS, 'kvm-version');
    return PageRole.packUnchecked(PageRole.checkFields('fields', fields, kvm), kvm);
  }

  /**
   * @internal `pack` without the argument checks, for the engine's role computations (child roles
   * of every shadow/TDP page, root roles): their fields come from valid roles and in-range levels.
   */
  static packUnchecked(fields: Partial<PageRoleFields>, kvm: KvmVersion): PageRole {
    const layout = pageRoleLayout(kvm);
    let w = 0;
    for (const name of Object.keys(fields) as (keyof PageRoleFields)[]) {
      const v = fields[name];
      const sw = layout[name];
      if (v === undefined || sw === undefined) continue;
      w |= (typeof v === 'boolean' ? (v ? 1 : 0) : v) << sw[0];
    }
    return new PageRole(w >>> 0, kvm);
  }

  /** A copy with some fields changed (KVM's `role.level--`, `role.access = …`), same version. */
  with(fields: Partial<PageRoleFields>): PageRole {
    return this.withUnchecked(PageRole.checkFields('fields', fields, this.kvm));
  }

  /** @internal `with` without the argument checks (the engine's child and root roles). */
  withUnchecked(fields: Partial<PageRoleFields>): PageRole {
    return PageRole.packUnchecked({ ...this.fields(), ...fields }, this.kvm);
  }

  /** Equality and hash key: the word. */
  get key(): number {
    return this.word;
  }

  equals(other: PageRole): boolean {
    if (!(other instanceof PageRole)) refuse('other', 'page-role', 'must be a PageRole', other);
    return this.word === other.word && this.kvm === other.kvm;
  }

  get level(): number { return field(this.word, this.layout.level); }
  get hasFourByteGpte(): boolean { return field(this.word, this.layout.hasFourByteGpte) === 1; }
  get quadrant(): number { return field(this.word, this.layout.quadrant); }
  get direct(): boolean { return field(this.word, this.layout.direct) === 1; }
  get access(): number { return field(this.word, this.layout.access); }
  get invalid(): boolean { return field(this.word, this.layout.invalid) === 1; }
  get eferNx(): boolean { return field(this.word, this.layout.eferNx) === 1; }
  get cr0Wp(): boolean { return field(this.word, this.layout.cr0Wp) === 1; }
  /** Always false in 7.3 (the field is gone). */
  get smepAndnotWp(): boolean { return field(this.word, this.layout.smepAndnotWp) === 1; }
  get smapAndnotWp(): boolean { return field(this.word, this.layout.smapAndnotWp) === 1; }
  /** 7.3 `base.cr4_smep`; always false in 6.16 (there it is `ext.cr4_smep`). */
  get cr4Smep(): boolean { return field(this.word, this.layout.cr4Smep) === 1; }
  get adDisabled(): boolean { return field(this.word, this.layout.adDisabled) === 1; }
  get guestMode(): boolean { return field(this.word, this.layout.guestMode) === 1; }
  get passthrough(): boolean { return field(this.word, this.layout.passthrough) === 1; }
  get isMirror(): boolean { return field(this.word, this.layout.isMirror) === 1; }
  get smm(): number { return field(this.word, this.layout.smm); }

  /** Decode into named fields (those of this version's layout). */
  fields(): PageRoleFields {
    const out = {} as Record<string, number | boolean>;
    for (const name of Object.keys(this.layout) as (keyof PageRoleFields)[]) {
      const sw = this.layout[name]!;
      const v = field(this.word, sw);
      out[name] = sw[1] === 1 && name !== 'level' ? v === 1 : v;
    }
    return out as unknown as PageRoleFields;
  }

  toString(): string {
    return `PageRole(0x${this.word.toString(16).padStart(8, '0')})`;
  }
}
