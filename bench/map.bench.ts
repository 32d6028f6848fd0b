/** Mapping cost and memory: 1 Mi and 16 Mi 4 KiB pages. */
import { GuestMemory, PageTableBuilder, gpa } from '../src';
import type { BenchResult } from './harness';

function gc(): void {
  const g = (globalThis as { gc?: () => void }).gc;
  if (!g) throw new Error('run with node --expose-gc');
  for (let i = 0; i < 3; i++) g();
}

function used(): number {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

export function mapBench(): BenchResult[] {
  const out: BenchResult[] = [];
  for (const pages of [1 << 20, 16 << 20]) {
    gc();
    const before = used();
    const t0 = process.hrtime.bigint();
    const mem = new GuestMemory({ maxPhyAddr: 46 });
    mem.addSlot({ base: gpa(0n), size: 128n << 30n });
    const b = new PageTableBuilder(mem, { mode: 'paging4', pool: { base: gpa(0x10_0000_0000n), size: 1n << 30n } });
    b.map(0x1000_0000_0000n, gpa(0n), { size: '4K', count: pages, flags: { writable: true, user: true } });
    const t1 = process.hrtime.bigint();
    gc();
    const bytes = used() - before;
    const label = pages === 1 << 20 ? '1Mi' : '16Mi';
    out.push({ name: `map.${label}x4k.time`, value: Number(t1 - t0) / 1e6, unit: 'ms' });
    out.push({ name: `map.${label}x4k.ns_per_page`, value: Number(t1 - t0) / pages, unit: 'ns/page' });
    const st = mem.stats();
    out.push({ name: `map.${label}x4k.bytes_per_page`, value: bytes / pages, unit: 'B/page', note: `process heap+arrayBuffers delta, ${(bytes / 2 ** 20).toFixed(1)} MiB, ${b.tablesAllocated} tables` });
    out.push({ name: `map.${label}x4k.engine_bytes_per_page`, value: (st.slabBytes + st.indexBytes) / pages, unit: 'B/page', note: 'slabs + frame index, as the engine accounts them' });
  }
  return out;
}
