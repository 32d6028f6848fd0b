/**
 * `rightsPermit` (vcpu-tlb.ts), the TLB hit's check of an entry's cached second-dimension rights:
 * a read needs R (1), a write W (2, cached only for a dirty leaf), a fetch X (4), whatever the
 * access's user/implicit/AC flags. Checked here with paging off (no guest rights), so that only
 * the kind decides; both the fast hit path and the full lookup use this one function.
 */
import { describe, expect, it } from 'vitest';
import { rightsPermit } from '../../src/vm/vcpu-tlb';
import { ACCESS_AC, ACCESS_IMPLICIT, encodeAccess, type Access } from '../../src/walker/access';
import type { TlbEntry } from '../../src/tlb/tlb';

function entry(tdpAcc: number): TlbEntry {
  return { index: 0, used: 0, vpid: 0, pcid: 0, eptp: -1, size: 0, global: false, hostFrame: 1, guestFrame: 1, acc: 0, pkey: 0, tdpAcc, gpaKind: 'ram' };
}

const NEED = { read: 1, write: 2, fetch: 4 } as const;

describe('rightsPermit', () => {
  it('needs R for a read, W for a write, X for a fetch, for every flag combination', () => {
    const accesses: Access[] = [];
    for (const kind of ['read', 'write', 'fetch'] as const) {
      for (const user of [false, true]) for (const ac of [false, true]) accesses.push({ kind, user, ac });
      accesses.push({ kind, implicit: true });
    }
    for (const a of accesses) {
      for (let tdpAcc = 0; tdpAcc < 8; tdpAcc++) {
        expect([a, tdpAcc, rightsPermit(undefined, 0, 0, entry(tdpAcc), encodeAccess(a))]).toEqual([a, tdpAcc, (tdpAcc & NEED[a.kind]) !== 0]);
      }
    }
  });

  it('uses the encoding of encodeAccess (its literals are ACCESS_IMPLICIT and ACCESS_AC)', () => {
    expect([ACCESS_IMPLICIT, ACCESS_AC]).toEqual([0x1_0000, 0x2_0000]);
  });
});
