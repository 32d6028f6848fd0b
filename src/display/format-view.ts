/** Rich view of a page format: reserved-bit matrix, permission matrix, PKRU mask. */
import type { PageFormat } from '../format/page-format';
import { decodeAcc } from '../format/acc';
import { esc, hex64, table, textTable, type MimeBundle } from './html';
import { checkShown, isPageFormat } from './record-shapes';
import { checkInt } from '../validate/checks';

const LEVEL_NAMES: Record<number, string> = { 1: 'PTE', 2: 'PDE', 3: 'PDPTE', 4: 'PML4E', 5: 'PML5E' };

/** The name of `permissions[idx]`'s access: idx is error-code bits 4:1, 0..15 (update_permission_bitmask). */
export function accessIndexName(idx: number): string {
  checkInt('idx', idx, { max: 15 });
  // W and FETCH together cannot happen; KVM's table still has those slots.
  const w = idx & 1 && idx & 8 ? 'write+fetch (impossible)' : idx & 1 ? 'write' : idx & 8 ? 'fetch' : 'read';
  const who = idx & 2 ? 'user' : 'sup';
  return `${who} ${w}${idx & 4 ? ' (AC/pte.U slot)' : ''}`;
}

export function formatBundle(f: PageFormat): MimeBundle {
  checkShown('f', f, isPageFormat(f), 'a page format (eptFormat, paging4Format, …)');
  const rsvdRows: string[][] = [];
  for (let level = f.rootLevel; level >= 1; level--) {
    for (const large of [0, 1]) {
      rsvdRows.push([`[${large}][${level - 1}]`, `${LEVEL_NAMES[level]}${large ? ' (bit 7 set)' : ''}`, hex64(f.rsvdBitsMask[large]![level - 1]!)]);
    }
  }
  // One column per ACC value of the format's KVM: 8 (u8 entries) in v6.16, 16 (u16) in 7.3.
  const accs = [...Array(f.acc.values).keys()];
  const maskDigits = f.acc.values / 4;
  const permRows = f.permissions.map((p, idx) => [
    String(idx),
    accessIndexName(idx),
    '0x' + p.toString(16).padStart(maskDigits, '0'),
    ...accs.map((a) => ((p >> a) & 1 ? '✗' : '·')),
  ]);
  const permHead = ['idx', 'access', 'mask', ...accs.map((a) => decodeAcc(a, f.ptType === 'ept', f.kvm))];
  const extra = `bad_mt_xwr = ${hex64(f.badMtXwr)}, pkru_mask = 0x${f.pkruMask.toString(16).padStart(8, '0')}`;
  return {
    'text/plain': `${f.name}\nrsvd_bits_mask:\n${textTable(['index', 'entry', 'mask'], rsvdRows)}\npermissions (✗ = faults on a page with that ACC):\n${textTable(permHead, permRows)}\n${extra}`,
    'text/html': `<div class="mmulab-format"><p><b>${esc(f.name)}</b></p>${table(['index', 'entry', 'mask'], rsvdRows, 'rsvd_bits_mask[large][level-1]')}${table(permHead, permRows.map((r) => r.map(esc)), 'permissions[16]: ✗ = an access with this index faults on a page with that ACC')}<p>${esc(extra)}</p></div>`,
  };
}
