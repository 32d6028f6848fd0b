import { describe, expect, it } from 'vitest';
import { GuestMemory, PageTableBuilder, GvaWalker, gpa, CR0, CR4, EFER, paging4Format, richBundle, reservedBitsChart, permissionsChart, walkTraceChart, VEGA_LITE_V5_SCHEMA } from '../../src';

function walker() {
  const mem = new GuestMemory({ maxPhyAddr: 46 });
  mem.addSlot({ base: gpa(0n), size: 1n << 30n });
  const pt = new PageTableBuilder(mem, { mode: 'paging4', pool: { base: gpa(0x10_0000n), size: 0x40_0000n } });
  pt.map(0x40_0000n, 0x20_0000n, { size: '2M', flags: { writable: true } });
  return new GvaWalker(mem, { cr0: CR0.PE | CR0.PG | CR0.WP, cr3: pt.root, cr4: CR4.PAE | CR4.SMAP, efer: EFER.LME | EFER.LMA | EFER.NXE });
}

const X86 = { maxPhyAddr: 46, nx: true, gbpages: true, pse: false, amd: false, cr0Wp: true, cr4Smep: false, cr4Smap: false, cr4Pke: false };

describe('rich views of engine objects', () => {
  it('a walk shows its verdict, decoded error code and one row per level', () => {
    const w = walker();
    const ok = richBundle(w.walk(0x40_1234n, { kind: 'write' }))!;
    expect(ok['text/plain']).toMatch(/→ GPA 0x201234 \(2 MiB page, ram/);
    expect(ok['text/html']).toMatch(/<table/);
    const f = richBundle(w.walk(0x40_1234n, { kind: 'read', user: true }))!;
    expect(f['text/plain']).toMatch(/#PF error code 0x5 \(P\|U\) at level 2: user access to a supervisor page/);
    expect(f['text/plain']).toMatch(/\n2 +0x102010 +0x00000000002000e3 +leaf/);
  });
  it('roles and formats answer the Jupyter.display protocol', () => {
    const w = walker();
    const b = (w.role as unknown as Record<symbol, () => Record<string, string>>)[Symbol.for('Jupyter.display')]!();
    expect(b['text/plain']).toMatch(/ext\.efer_lma +true/);
    expect(richBundle(w.format)!['text/plain']).toMatch(/\[1\]\[1\] +PDE \(bit 7 set\) +0x000fc000001fe000/);
    expect(richBundle({})).toBeUndefined();
  });
  it("the format view has one permissions column per ACC value of the format's KVM (16 in 7.3, 8 in v6.16)", () => {
    // kvm-7x.md §1.4: 7.3 ACC READ 1, WRITE 2, USER 4, EXEC 8 → 16 values; reference §4.2: v6.16 → 8.
    const t73 = String(richBundle(paging4Format({ ...X86, kvm: '7.3' }))!['text/plain']);
    const head73 = t73.split('\n').find((l) => l.startsWith('idx'))!.trim().split(/ +/);
    expect(head73.length).toBe(3 + 16);
    expect(head73[3 + 15]).toBe('RWUX');
    // supervisor fetch, WP NX SMEP SMAP off except NX: faults exactly where EXEC (8) is clear → 0x00ff
    expect(t73).toMatch(/\n8 +sup fetch +0x00ff /);
    const t616 = String(richBundle(paging4Format({ ...X86, kvm: '6.16' }))!['text/plain']);
    const head616 = t616.split('\n').find((l) => l.startsWith('idx'))!.trim().split(/ +/);
    expect(head616.slice(3)).toEqual(['---', '--X', '-W-', '-WX', 'U--', 'U-X', 'UW-', 'UWX']);
  });
  it('chart specs are v5 vega-lite with one cell per bit / index', () => {
    const w = walker();
    const rs = reservedBitsChart(w.format!);
    expect(rs.$schema).toBe(VEGA_LITE_V5_SCHEMA);
    expect((rs.data as { values: unknown[] }).values.length).toBe(4 * 2 * 64);
    // One cell per index × ACC value: 16 × 16 in 7.3 (u16 entries, kvm-7x.md §1.4), 16 × 8 in v6.16.
    expect((permissionsChart(w.format!).data as { values: unknown[] }).values.length).toBe(16 * 16);
    expect((permissionsChart(paging4Format({ ...X86, kvm: '6.16' })).data as { values: unknown[] }).values.length).toBe(16 * 8);
    expect((walkTraceChart(w.walk(0x40_0000n, { kind: 'read' })).data as { values: unknown[] }).values.length).toBe(3 * 3);
  });
});
