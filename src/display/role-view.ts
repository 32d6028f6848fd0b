/** Rich views of roles: every field with KVM's name and its value. */
import { pageRoleKvmName, PageRole, type PageRoleFields } from '../role/page-role';
import { extRoleKvmName, CpuRole, type ExtendedRoleFields } from '../role/cpu-role';
import { esc, table, textTable, type MimeBundle } from './html';
import { checkShown } from './record-shapes';

function baseRows(r: PageRole): string[][] {
  const f = r.fields();
  return (Object.keys(f) as (keyof PageRoleFields)[]).map((k) => [`base.${pageRoleKvmName(k)}`, String(f[k])]);
}

export function pageRoleBundle(r: PageRole): MimeBundle {
  checkShown('r', r, r instanceof PageRole, 'a PageRole');
  const rows = baseRows(r);
  return {
    'text/plain': `${r.toString()}\n${textTable(['field', 'value'], rows)}`,
    'text/html': `${table(['field', 'value'], rows.map((x) => x.map(esc)), esc(r.toString()))}`,
  };
}

export function cpuRoleBundle(r: CpuRole): MimeBundle {
  checkShown('r', r, r instanceof CpuRole, 'a CpuRole');
  const e = r.extFields();
  const rows = [
    ...baseRows(r.base),
    ...(Object.keys(e) as (keyof ExtendedRoleFields)[]).map((k) => [`ext.${extRoleKvmName(k)}`, String(e[k])]),
  ];
  return {
    'text/plain': `${r.toString()}\n${textTable(['field', 'value'], rows)}`,
    'text/html': table(['field', 'value'], rows.map((x) => x.map(esc)), esc(r.toString())),
  };
}
