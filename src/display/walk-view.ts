/** Rich view of a walk record: the verdict, the error code decoded, one row per level. */
import { decodeAcc, decodeErrorCode } from '../format/acc';
import type { WalkResult } from '../walker/walk-result';
import { describeAccess } from '../walker/access';
import { esc, hex64, table, textTable, type MimeBundle } from './html';
import { checkShown, isWalkResult } from './record-shapes';

/** The argument of a walk view: a record a walker's walk() made. */
function checkWalkRecord(r: unknown): void {
  checkShown('r', r, isWalkResult(r), 'a walk record (GvaWalker.walk, NgpaWalker.walk)');
}

function rows(r: WalkResult): (string | number)[][] {
  return r.trace.map((s) => [
    s.level,
    s.source === 'pdptr-register' ? 'PDPTE reg' : hex64(s.entryGpa).replace(/^0x0+(?=.)/, '0x'),
    hex64(s.value),
    s.present ? (s.leaf ? 'leaf' : 'table') : 'not present',
    decodeAcc(s.access, r.stage === 'ngpa_walk'),
    s.updated === undefined ? '' : `→ ${hex64(s.updated)}`,
  ]);
}

export function verdict(r: WalkResult): string {
  checkWalkRecord(r);
  const a = `${describeAccess(r.access)} at ${'0x' + (r.address as bigint).toString(16)}`;
  if (r.status === 'ok') {
    return `${r.stage}: ${a} → GPA 0x${(r.gpa as bigint).toString(16)} (${r.pageSize >= 1 << 20 ? `${r.pageSize / (1 << 20)} MiB` : '4 KiB'} page, ${r.gpaKind}, access ${decodeAcc(r.pteAccess)}${r.adUpdates ? `, A/D set in ${r.adUpdates} entr${r.adUpdates === 1 ? 'y' : 'ies'}` : ''})`;
  }
  return `${r.stage}: ${a} → #PF error code 0x${r.errorCode.toString(16)} (${decodeErrorCode(r.errorCode)}) at level ${r.level}: ${r.detail}`;
}

export function walkBundle(r: WalkResult): MimeBundle {
  checkWalkRecord(r);
  const headers = ['level', 'entry GPA', 'value', 'kind', 'access so far', 'A/D update'];
  return {
    'text/plain': `${verdict(r)}\n${textTable(headers, rows(r))}`,
    'text/html': `<div class="mmulab-walk"><p><b>${r.status === 'ok' ? 'ok' : 'fault'}</b> ${esc(verdict(r))}</p>${table(headers, rows(r).map((x) => x.map((c) => esc(String(c)))))}</div>`,
  };
}
