/**
 * Bad input to the emulated-write tracking (src/shadow/track-write.ts: kvm_mmu_track_write,
 * detect_write_misaligned, detect_write_flooding, get_written_sptes): pages that are none, GPAs
 * that are no number below 2^52, write sizes outside 1..8 (the model's emulated stores are 1, 2,
 * 4 or 8 bytes), isPae not a boolean, vCPUs out of range. Refusals name parameter and value; the
 * pages' flood counts and the MMU are unchanged.
 */
import fc from 'fast-check';
import { describe, it } from 'vitest';
import { detectWriteMisaligned, detectWriteFlooding, getWrittenSptes, kvmMmuTrackWrite, type ShadowMmu, type ShadowPage } from '../../src';
import { FC, Tally, badBool, badInt, junk, refused } from './support';
import { badMmu, badVcpu, warm } from './shadow-support';

const t = new Tally('shadow-track-write');
const badGpa = fc.oneof(badInt(0, 2 ** 52 - 1), fc.constant(2 ** 52));
const badBytes = fc.oneof(badInt(1, 8), fc.constantFrom(0, 9, 16));

describe('track-write', () => {
  it('detectWriteMisaligned / detectWriteFlooding / getWrittenSptes: a page, a GPA, a size', () => {
    const { pt, state } = warm();
    fc.assert(fc.property(junk, (v) => {
      refused(t, () => detectWriteMisaligned(v as ShadowPage, 0x1000, 8), { param: 'sp', state });
      refused(t, () => detectWriteFlooding(v as ShadowPage), { param: 'sp', state });
      refused(t, () => getWrittenSptes(v as ShadowPage, 0x1000), { param: 'sp', state });
    }), FC);
    fc.assert(fc.property(badGpa, (v) => {
      refused(t, () => detectWriteMisaligned(pt, v as number, 8), { param: 'gpa', value: v, state });
      refused(t, () => getWrittenSptes(pt, v as number), { param: 'gpa', value: v, state });
    }), FC);
    fc.assert(fc.property(badBytes, (v) => refused(t, () => detectWriteMisaligned(pt, 0x1000, v as number), { param: 'bytes', value: v, state })), FC);
  });

  it('kvmMmuTrackWrite: the VM\'s ShadowMmu, a GPA, a size, isPae, a vCPU', () => {
    const { m, state } = warm();
    fc.assert(fc.property(badMmu, (v) => refused(t, () => kvmMmuTrackWrite(v as ShadowMmu, 0x1000, 8, false, -1), { param: 'mmu', state })), FC);
    fc.assert(fc.property(badGpa, (v) => refused(t, () => kvmMmuTrackWrite(m, v as number, 8, false, -1), { param: 'gpa', value: v, state })), FC);
    fc.assert(fc.property(badBytes, (v) => refused(t, () => kvmMmuTrackWrite(m, 0x1000, v as number, false, -1), { param: 'bytes', value: v, state })), FC);
    fc.assert(fc.property(badBool, (v) => refused(t, () => kvmMmuTrackWrite(m, 0x1000, 8, v as boolean, -1), { param: 'isPae', value: v, state })), FC);
    fc.assert(fc.property(badVcpu, (v) => refused(t, () => kvmMmuTrackWrite(m, 0x1000, 8, false, v as number), { param: 'vcpu', value: v, state })), FC);
  });
});
