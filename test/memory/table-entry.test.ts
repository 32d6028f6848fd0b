/**
 * The table-entry helpers (src/memory/table-entry.ts) against GuestMemory's own checked accessors:
 * entry idx of the table at gfn is the 8 bytes at gfn·4096 + 8·idx (4 bytes at 4·idx for 32-bit
 * words), little-endian (SDM Vol. 3A §4.1: paging-structure entries are 8 bytes, 4 for 32-bit paging).
 */
import { describe, expect, it } from 'vitest';
import { GuestMemory, gpa } from '../../src';
import {
  fillEntries64Unchecked, readEntry64Unchecked, tableWordForWriteUnchecked, tableWordUnchecked, writeEntry64Unchecked,
} from '../../src/memory/table-entry';

function mem(): GuestMemory {
  const m = new GuestMemory({ maxPhyAddr: 40 });
  m.addSlot({ base: gpa(0n), size: 1n << 30n, name: 'low' });
  return m;
}

describe('table entries in a GuestMemory', () => {
  it('an unbacked table reads 0 and allocates nothing; its word index is -1', () => {
    const m = mem();
    expect(readEntry64Unchecked(m, 0x123, 7)).toBe(0n);
    expect(tableWordUnchecked(m, 0x123, 14)).toBe(-1);
    expect(m.stats().framesAllocated).toBe(0);
  });

  it('entry idx is the 64-bit value at gfn·4096 + 8·idx, both halves', () => {
    const m = mem();
    writeEntry64Unchecked(m, 0x123, 511, 0x8000_0001_2345_6007n);
    expect(m.read64(gpa(0x123n * 4096n + 8n * 511n))).toBe(0x8000_0001_2345_6007n);
    m.write64(gpa(0x123n * 4096n + 8n * 3n), 0xdead_beef_0000_0001n);
    expect(readEntry64Unchecked(m, 0x123, 3)).toBe(0xdead_beef_0000_0001n);
    expect(readEntry64Unchecked(m, 0x123, 4)).toBe(0n);
    // Word w of the frame: its low half at 2·idx, high half next (little-endian).
    const b = tableWordUnchecked(m, 0x123, 6);
    expect([m.words[b], m.words[b + 1]]).toEqual([1, 0xdead_beef]);
    expect(m.read32(gpa(0x123n * 4096n + 4n * 6n))).toBe(1);
  });

  it('a write makes the frame on first use; the word index for writing is the reading one', () => {
    const m = mem();
    const w = tableWordForWriteUnchecked(m, 0x40, 5);
    expect(m.stats().framesAllocated).toBe(1);
    expect(tableWordUnchecked(m, 0x40, 5)).toBe(w);
    m.words[w] = 0xabcd;
    expect(m.read32(gpa(0x40n * 4096n + 20n))).toBe(0xabcd); // word 5 = byte 20
  });

  it('fill sets all 512 entries, nothing beyond the frame', () => {
    const m = mem();
    m.write64(gpa(0x41n * 4096n), 5n);
    fillEntries64Unchecked(m, 0x40, 1n << 63n);
    for (const i of [0, 1, 255, 511]) expect(m.read64(gpa(0x40n * 4096n + 8n * BigInt(i)))).toBe(1n << 63n);
    expect(m.read64(gpa(0x41n * 4096n))).toBe(5n);
  });
});
