/**
 * Rich view of a TD's S-EPT: every present entry (level, private GPA, table or page, host frame)
 * beside whether its mirror SPTE exists, with the TDX counters — the state a notebook shows after
 * each step of a private/shared walkthrough.
 */
import { isLastSpte, spteToPfn } from '../spte/spte';
import { Vm } from '../vm/vm';
import { esc, table, textTable, type MimeBundle } from './html';
import { checkShown } from './record-shapes';

export function tdxSeptBundle(vm: Vm): MimeBundle {
  checkShown('vm', vm, vm instanceof Vm, 'a Vm');
  const td = vm.td;
  if (td === undefined) return { 'text/plain': 'not a TD', 'text/html': '<p>not a TD</p>' };
  const mirror = new Map<string, number>();
  for (const root of vm.tdp.roots) {
    if (!root.role.isMirror || root.role.invalid) continue;
    vm.tdp.forEachEntry(root, (level, gfn, spte) => mirror.set(`${level}:${gfn}`, isLastSpte(spte, level) ? spteToPfn(spte) : -1));
  }
  const headers = ['level', 'GPA (private)', 'kind', 'host PFN', 'mirror SPTE'];
  const rows = td.sept.entries().map((e) => {
    const m = mirror.get(`${e.level}:${e.gfn}`);
    return [String(e.level), `0x${(BigInt(e.gfn) << 12n).toString(16)}`, e.leaf ? 'page' : 'S-EPT table', `0x${e.pfn.toString(16)}`, m === undefined ? 'MISSING' : 'yes'];
  });
  const s = td.stats.snapshot();
  const caption = `S-EPT (GPAW ${td.config.gpaw}, shared bit ${td.config.sharedBit}): ${rows.length} entries; SEPT.ADD ${s.sept_add}, PAGE.AUG ${s.page_aug}, PAGE.REMOVE ${s.page_remove}; ${td.attributes.privateCount} private gfns`;
  return {
    'text/plain': `${caption}\n${textTable(headers, rows)}`,
    'text/html': table(headers, rows.map((r) => r.map(esc)), esc(caption)),
  };
}
