/**
 * The EPT exit of a PDPTE load by MOV to CR3 with PAE paging (`hardwarePdpteLoadExit`): SDM Vol. 3C
 * §28.2.3 (footnote: the load uses the guest-physical address being loaded into CR3, so it can
 * cause EPT violations and misconfigurations), §28.2.3.2 (the load is a read: no violation for a
 * non-writable address) and Table 28-7 (bit 7, "guest linear-address field valid", is clear for
 * such a load; bits 5:3 the AND of the R/W/X bits of the EPT entries used). KVM's error code from it:
 * vmx/common.h:91-101 (v6.16: read → PFERR_USER, any of bits 5:3 → PFERR_PRESENT; the GUEST_FINAL/
 * GUEST_PAGE test at :103-105 never fires) and kvm-7x.md §1.3 (7.3: a read sets no bit, stage bits
 * only with qualification bit 7).
 */
import { describe, expect, it } from 'vitest';
import { hardwarePdpteLoadExit, ept73Exit } from '../../src';

describe('hardwarePdpteLoadExit', () => {
  it('a read with no guest linear address: bit 0, bits 5:3 from RWX, bits 7/8 clear (v6.16 error code)', () => {
    for (let rwx = 0; rwx <= 7; rwx++) {
      const e = hardwarePdpteLoadExit(0x1234_5000n, rwx, false);
      expect(e).toEqual({
        kind: 'ept_violation', reason: 48, gpa: 0x1234_5000n, onGuestTable: true,
        info: BigInt(1 | (rwx << 3)), errorCode: rwx === 0 ? 4n : 5n,
      });
    }
  });

  it('7.3: no access bit for a read, P from bits 5:3, bit 6 the AND of XU only with MBEC, no stage bits', () => {
    expect(hardwarePdpteLoadExit(0x2000n, 0, false, ept73Exit('7.3', false, false, 0))).toMatchObject({ info: 1n, errorCode: 0n });
    expect(hardwarePdpteLoadExit(0x2000n, 4, false, ept73Exit('7.3', false, true, 0))).toMatchObject({ info: 0x21n, errorCode: 1n });
    expect(hardwarePdpteLoadExit(0x2000n, 4, false, ept73Exit('7.3', true, true, 0))).toMatchObject({ info: 0x61n, errorCode: 1n });
    // v6.16's ept73Exit is undefined: the same as no 7.3 extras.
    expect(ept73Exit('6.16', true, true, 0)).toBeUndefined();
  });

  it('a misconfiguration: exit 49, qualification 0, error code PFERR_RSVD (vmx.c:5803)', () => {
    expect(hardwarePdpteLoadExit(0x3000n, 2, true)).toEqual({ kind: 'ept_misconfig', reason: 49, gpa: 0x3000n, onGuestTable: true, info: 0n, errorCode: 8n });
  });
});
