/**
 * src/shadow/shadow-context.ts's checked entries as mutation testing (`npm run mutate`) found
 * them unchecked: the setup shapes each check refuses or accepts (a paging-off setup has no gPTE
 * format and no walker inputs, nonpaging_init_context in mmu.c; a PAE guest has four PDPTEs, SDM
 * Vol. 3A 4.4.1), hwInputs with the host memory, and each refusal's rule id and message, which
 * starts with the parameter's name (the rule ids and texts are this library's, src/errors.ts).
 */
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError, ShadowContext, type ContextSetup } from '../../src';
import { shadowFixture } from './fixtures';
import { refuses } from './refusal';


function warm() {
  const f = shadowFixture('paging4');
  f.pt.map(0x7000_0000n, 0x80_0000n, { flags: { writable: true } });
  expect(f.v.read(0x7000_0000n).status).toBe('ok');
  const ctx = f.v.shadow!.ctx;
  const setup: ContextSetup = { cpuRole: ctx.cpuRole, rootRole: ctx.rootRole, gptFormat: ctx.gptFormat, walkInputs: ctx.walkInputs, pdptrs: undefined, hwFormat: ctx.hwFormat, isPae: ctx.isPae };
  return { f, ctx, setup };
}

describe('ShadowContext setup checks', () => {
  it('a format must have 4- or 8-byte entries and an array of reserved-bit masks', () => {
    const { ctx, setup } = warm();
    const text = 's.hwFormat must be a PageFormat';
    refuses(() => ctx.configure({ ...setup, hwFormat: { ...setup.hwFormat, entryBytes: 2 } as never }), InvalidArgumentError, 'page-format', text);
    refuses(() => ctx.configure({ ...setup, hwFormat: { ...setup.hwFormat, rsvdBitsMask: 5 } as never }), InvalidArgumentError, 'page-format', text);
    refuses(() => ctx.configure({ ...setup, gptFormat: { entryBytes: 8, rsvdBitsMask: 5 } as never }), InvalidArgumentError, 'page-format', 's.gptFormat must be a PageFormat');
    ctx.configure({ ...setup, hwFormat: { ...setup.hwFormat, entryBytes: 4 } as never }); // 4 bytes: a 32-bit format's entries
    expect(ctx.hwFormat.entryBytes).toBe(4);
  });

  it('roles, walker inputs, PDPTEs and the PAE flag: refusals name the field', () => {
    const { ctx, setup } = warm();
    refuses(() => ctx.configure({ ...setup, cpuRole: {} as never }), InvalidArgumentError, 'cpu-role', 's.cpuRole must be a CpuRole');
    refuses(() => ctx.configure({ ...setup, rootRole: { word: 0 } as never }), InvalidArgumentError, 'page-role', 's.rootRole must be a PageRole');
    refuses(() => ctx.configure({ ...setup, walkInputs: 5 as never }), InvalidArgumentError, 'object-type', 's.walkInputs');
    // Four PDPTEs, each a u64 (SDM Vol. 3A 4.4.1): one number among bigints is refused.
    refuses(() => ctx.configure({ ...setup, pdptrs: [0n, 0n, 0n, 1] as never }), InvalidArgumentError, 'pdptrs', 's.pdptrs must be four bigint PDPTEs');
    refuses(() => ctx.configure({ ...setup, isPae: 1 as never }), InvalidArgumentError, 'boolean-type', 's.isPae must be true or false');
  });

  it('a paging-off setup (no gPTE format, no walker inputs) and four bigint PDPTEs are accepted', () => {
    const { ctx, setup } = warm();
    ctx.configure({ ...setup, gptFormat: undefined, walkInputs: undefined });
    expect([ctx.gptFormat, ctx.walkInputs]).toEqual([undefined, undefined]);
    ctx.configure({ ...setup, pdptrs: [1n, 2n, 3n, 4n] });
    expect(ctx.pdptrs).toEqual([1n, 2n, 3n, 4n]);
  });

  it('constructor: counters and memory; hwInputs: the host memory', () => {
    const { f, ctx, setup } = warm();
    refuses(() => new ShadowContext('root_mmu', 0, {} as never, f.vm.guestMem, setup), InvalidArgumentError, 'counters', "stats must be the vCPU's Counters");
    refuses(() => new ShadowContext('root_mmu', 0, f.v.stats, {} as never, setup), InvalidArgumentError, 'guest-memory', 'guestMem must be a GuestMemory');
    refuses(() => ctx.hwInputs({} as never), InvalidArgumentError, 'guest-memory', 'mem must be the host memory (a GuestMemory of host frames)');
    const host = f.vm.host.frames;
    const w = ctx.hwInputs(host);
    // The hardware walks the shadow tables from the current root, no PAE root for a 4-level guest.
    expect([w.mem, w.rootGfn, w.pdptrs]).toEqual([host, ctx.root.hpa, undefined]);
  });
});
