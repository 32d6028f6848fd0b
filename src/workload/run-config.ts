/**
 * Run configurations: which MMU runs a trace. A spec is validated and resolved before any VM is
 * built, so an impossible combination is a typed error with nothing half-made.
 */
import { ConfigurationError } from './config-error';
import { describeValue } from '../validate/describe-value';
import { makeCostModel, type CostModelSpec } from '../cost/cost-model';

export const CONFIG_NAMES = ['tdp-ept', 'tdp-npt', 'shadow', 'nested-ept', 'nested-shadow', 'td'] as const;
export type ConfigName = (typeof CONFIG_NAMES)[number];

export interface ConfigSpec {
  name: ConfigName;
  /** Run the configuration as a TD (only 'tdp-ept' can be a TD; 'td' is shorthand for it). */
  td?: boolean;
  /** How the host backs guest memory (memslot host page size). Default 2M (THP). */
  hostPageSize?: '4K' | '2M';
  /** The `nx_huge_pages` mitigation (iTLB multihit): no executable huge pages. Default off. */
  nxHugePages?: boolean;
  /** Model the vCPU's TLB and paging-structure caches (src/tlb, Skylake defaults). Default off. */
  tlb?: boolean;
  /** Cost-model overrides for this run (src/cost). Default: the cited defaults. */
  cost?: CostModelSpec;
}

export interface ResolvedConfig {
  name: ConfigName;
  /** The L0 paging: TDP flavour or shadow paging. */
  paging: 'ept' | 'npt' | 'shadow';
  /** Where the trace runs: L1 directly, L2 on nested EPT, or L2 shadowed by L1. */
  level: 'l1' | 'nested-ept' | 'nested-shadow';
  td: boolean;
  hostPageSize: '4K' | '2M';
  nxHugePages: boolean;
  tlb: boolean;
  cost: CostModelSpec | undefined;
}


export function resolveConfig(c: ConfigName | ConfigSpec): ResolvedConfig {
  const spec: ConfigSpec = typeof c === 'string' ? { name: c } : c;
  if (typeof spec !== 'object' || spec === null || !(CONFIG_NAMES as readonly string[]).includes(spec.name)) {
    throw new ConfigurationError('config-name', `config (its name) must be one of ${CONFIG_NAMES.join(', ')}`, typeof spec === 'object' && spec !== null ? describeValue(spec.name) : describeValue(c));
  }
  if (spec.td !== undefined && typeof spec.td !== 'boolean') throw new ConfigurationError('config-td', 'config.td must be true or false', describeValue(spec.td));
  const hostPageSize = spec.hostPageSize ?? '2M';
  if (hostPageSize !== '4K' && hostPageSize !== '2M') throw new ConfigurationError('config-host-page-size', "config.hostPageSize is '4K' or '2M'", describeValue(hostPageSize));
  const nxHugePages = spec.nxHugePages ?? false;
  if (typeof nxHugePages !== 'boolean') throw new ConfigurationError('config-nx-huge-pages', 'config.nxHugePages is a boolean', describeValue(nxHugePages));
  const tlb = spec.tlb ?? false;
  if (typeof tlb !== 'boolean') throw new ConfigurationError('config-tlb', 'config.tlb is a boolean', describeValue(tlb));
  if (spec.cost !== undefined) {
    try {
      makeCostModel(spec.cost);
    } catch (e) {
      throw new ConfigurationError('config-cost', `config.cost: ${(e as Error).message}`, JSON.stringify(spec.cost));
    }
  }
  const td = spec.name === 'td' || spec.td === true;
  if (td) {
    // A TD's memory is mapped by the TDX module's S-EPT: it needs EPT, and KVM runs no TD with
    // shadow paging, NPT (AMD) or as an L2.
    if (spec.name === 'shadow') throw new ConfigurationError('td-needs-tdp', 'a TD cannot run with shadow paging (TDX requires EPT)', spec.name);
    if (spec.name === 'tdp-npt') throw new ConfigurationError('td-needs-ept', 'a TD cannot run on NPT (TDX is Intel VMX with EPT)', spec.name);
    if (spec.name === 'nested-ept' || spec.name === 'nested-shadow') throw new ConfigurationError('td-not-nested', 'a TD cannot run as an L2 guest', spec.name);
  }
  const paging = spec.name === 'tdp-npt' ? 'npt' : spec.name === 'shadow' ? 'shadow' : 'ept';
  const level = spec.name === 'nested-ept' ? 'nested-ept' : spec.name === 'nested-shadow' ? 'nested-shadow' : 'l1';
  return { name: spec.name, paging, level, td, hostPageSize, nxHugePages, tlb, cost: spec.cost };
}

/** A stable label for tables and charts. */
export function configLabel(c: ConfigName | ConfigSpec): string {
  resolveConfig(c);
  if (typeof c === 'string') return c;
  return c.name + (c.td && c.name !== 'td' ? '+td' : '') + (c.hostPageSize ? `/${c.hostPageSize}` : '') + (c.nxHugePages ? '/nx' : '') + (c.tlb ? '/tlb' : '') + (c.cost ? `/cost=${JSON.stringify(c.cost)}` : '');
}
