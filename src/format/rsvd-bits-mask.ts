/**
 * The reserved-bit matrix `rsvd_bits_mask[large][level-1]`, computed as KVM computes it
 * (reference §3.5, §3.6). Entries KVM leaves unassigned for a mode are 0 here.
 */
import { rsvdBits } from '../bits';
import { checkBool, checkEnum, checkInt, checkObject } from '../validate/checks';

export type RsvdBitsMask = readonly [readonly bigint[], readonly bigint[]];

export interface RsvdParams {
  /** `reserved_gpa_bits` = bits 63:MAXPHYADDR. */
  maxPhyAddr: number;
  /** cpu_role level: 2 (32-bit), 3 (PAE), 4, 5. */
  level: number;
  nx: boolean;
  gbpages: boolean;
  pse: boolean;
  amd: boolean;
}

function emptyMatrix(): [bigint[], bigint[]] {
  return [
    [0n, 0n, 0n, 0n, 0n],
    [0n, 0n, 0n, 0n, 0n],
  ];
}

/** `mmu.c: __reset_rsvds_bits_mask(check, pa_bits_rsvd, level, nx, gbpages, pse, amd)`. */
export function resetRsvdsBitsMask(p: RsvdParams): RsvdBitsMask {
  const o = checkObject<Record<string, unknown>>('p', p);
  // MAXPHYADDR 32..52 (SDM Vol. 3A 4.1.4); the cpu_role levels KVM computes masks for (mmu.c: reset_guest_rsvds_bits_mask).
  checkInt('p.maxPhyAddr', o.maxPhyAddr, { min: 32, max: 52 });
  checkEnum('p.level', o.level, [2, 3, 4, 5]);
  for (const k of ['nx', 'gbpages', 'pse', 'amd']) checkBool(`p.${k}`, o[k]);
  const m = emptyMatrix();
  const paBitsRsvd = rsvdBits(p.maxPhyAddr, 63);
  const gbpagesBitRsvd = p.gbpages ? 0n : rsvdBits(7, 7);
  let highBitsRsvd = p.level === 3 ? paBitsRsvd & rsvdBits(0, 62) : paBitsRsvd & rsvdBits(0, 51);
  // NX does not exist in PDPTEs; that is handled in the PAE case.
  if (!p.nx) highBitsRsvd |= rsvdBits(63, 63);
  // Non-leaf PML4Es and PML5Es reserve bit 8 (G in a leaf) on AMD only.
  const nonleafBit8Rsvd = p.amd ? rsvdBits(8, 8) : 0n;

  switch (p.level) {
    case 2:
      // No reserved bits in 32-bit 4 KiB entries. KVM assumes PSE-36 (`is_cpuid_PSE36()` is 1),
      // so a 4 MiB PDE reserves bits 21:17 whatever the guest MAXPHYADDR.
      m[0][1] = 0n;
      m[0][0] = 0n;
      m[1][0] = m[0][0];
      m[1][1] = p.pse ? rsvdBits(17, 21) : 0n;
      break;
    case 3:
      m[0][2] = rsvdBits(63, 63) | highBitsRsvd | rsvdBits(5, 8) | rsvdBits(1, 2);
      m[0][1] = highBitsRsvd;
      m[0][0] = highBitsRsvd;
      m[1][1] = highBitsRsvd | rsvdBits(13, 20);
      m[1][0] = m[0][0];
      break;
    case 4:
    case 5:
      if (p.level === 5) {
        m[0][4] = highBitsRsvd | nonleafBit8Rsvd | rsvdBits(7, 7);
        m[1][4] = m[0][4];
      }
      m[0][3] = highBitsRsvd | nonleafBit8Rsvd | rsvdBits(7, 7);
      m[0][2] = highBitsRsvd | gbpagesBitRsvd;
      m[0][1] = highBitsRsvd;
      m[0][0] = highBitsRsvd;
      m[1][3] = m[0][3];
      m[1][2] = highBitsRsvd | gbpagesBitRsvd | rsvdBits(13, 29);
      m[1][1] = highBitsRsvd | rsvdBits(13, 20);
      m[1][0] = m[0][0];
      break;
    default:
      break;
  }
  return freezeMatrix(m);
}

export interface EptRsvdParams {
  maxPhyAddr: number;
  /** The CPU (or L1's EPT capabilities) allow execute-only entries. */
  execonly: boolean;
  /** Largest leaf level: 1 (4K), 2 (2M), 3 (1G). */
  hugePageLevel: number;
}

/** `mmu.c: __reset_rsvds_bits_mask_ept(check, pa_rsvd, execonly, huge_page_level)`. */
export function resetRsvdsBitsMaskEpt(p: EptRsvdParams): { rsvdBitsMask: RsvdBitsMask; badMtXwr: bigint } {
  const o = checkObject<Record<string, unknown>>('p', p);
  checkInt('p.maxPhyAddr', o.maxPhyAddr, { min: 32, max: 52 });
  checkBool('p.execonly', o.execonly);
  // huge_page_level: PG_LEVEL_4K..PG_LEVEL_1G (mmu.c: reset_ept_shadow_zero_bits_mask).
  checkEnum('p.hugePageLevel', o.hugePageLevel, [1, 2, 3]);
  const m = emptyMatrix();
  const high = rsvdBits(p.maxPhyAddr, 63) & rsvdBits(0, 51);
  const large1g = p.hugePageLevel < 3 ? rsvdBits(7, 7) : 0n;
  const large2m = p.hugePageLevel < 2 ? rsvdBits(7, 7) : 0n;
  m[0][4] = high | rsvdBits(3, 7);
  m[0][3] = high | rsvdBits(3, 7);
  m[0][2] = high | rsvdBits(3, 6) | large1g;
  m[0][1] = high | rsvdBits(3, 6) | large2m;
  m[0][0] = high;
  m[1][4] = m[0][4];
  m[1][3] = m[0][3];
  m[1][2] = high | rsvdBits(12, 29) | large1g;
  m[1][1] = high | rsvdBits(12, 20) | large2m;
  m[1][0] = m[0][0];

  // Indexed by (MT << 3) | XWR. REPEAT_BYTE(x) sets x in every byte, i.e. for every MT.
  const repeatByte = (x: bigint): bigint => {
    let r = 0n;
    for (let i = 0n; i < 8n; i++) r |= x << (8n * i);
    return r;
  };
  let bad = 0xffn << (2n * 8n); // MT 2 reserved
  bad |= 0xffn << (3n * 8n); // MT 3 reserved
  bad |= 0xffn << (7n * 8n); // MT 7 reserved
  bad |= repeatByte(1n << 2n); // XWR = 010 (write-only)
  bad |= repeatByte(1n << 6n); // XWR = 110 (write+exec, no read)
  if (!p.execonly) bad |= repeatByte(1n << 4n); // XWR = 100 unless execute-only is supported
  return { rsvdBitsMask: freezeMatrix(m), badMtXwr: bad };
}

function freezeMatrix(m: [bigint[], bigint[]]): RsvdBitsMask {
  return Object.freeze([Object.freeze(m[0]), Object.freeze(m[1])]) as RsvdBitsMask;
}
