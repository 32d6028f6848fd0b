/**
 * Bad input to ShadowContext (src/shadow/shadow-context.ts), one vCPU's shadow `struct kvm_mmu`:
 * its kind (root_mmu or guest_mmu), vCPU index, counters, guest memory and setup (roles, formats,
 * four PDPTEs, the PAE flag). Refusals name the parameter and value; the context is unchanged.
 */
import fc from 'fast-check';
import { describe, it } from 'vitest';
import { ShadowContext, type ContextSetup } from '../../src';
import { shadowFixture } from '../shadow/fixtures';
import { FC, Tally, badBool, badEnum, badInt, junk, refused } from './support';

const t = new Tally('shadow-context');

function warm() {
  const f = shadowFixture('paging4');
  f.v.read(0x7000_0000n);
  const ctx = f.v.shadow!.ctx;
  const setup: ContextSetup = { cpuRole: ctx.cpuRole, rootRole: ctx.rootRole, gptFormat: ctx.gptFormat, walkInputs: ctx.walkInputs, pdptrs: undefined, hwFormat: ctx.hwFormat, isPae: ctx.isPae };
  const state = () => JSON.stringify([ctx.cpuRole.toString(), ctx.rootRole.word, ctx.hwFormat.name, ctx.isPae, ctx.root.hpa, ctx.pdptrs?.map(String)]);
  return { f, ctx, setup, state };
}

const badSetup = (s: ContextSetup) => fc.oneof(
  junk.map((v) => [v, 's'] as const),
  junk.filter((v) => v !== undefined).map((v) => [{ ...s, cpuRole: v }, 's.cpuRole'] as const),
  junk.filter((v) => v !== undefined).map((v) => [{ ...s, hwFormat: v }, 's.hwFormat'] as const),
  badBool.map((v) => [{ ...s, isPae: v }, 's.isPae'] as const),
  fc.constantFrom([1n, 2n], [1, 2, 3, 4], 'pdptrs').map((v) => [{ ...s, pdptrs: v }, 's.pdptrs'] as const),
);

describe('ShadowContext', () => {
  it('configure: a setup of roles, formats, PDPTEs and the PAE flag', () => {
    const { ctx, setup, state } = warm();
    fc.assert(fc.property(badSetup(setup), ([v, param]) => refused(t, () => ctx.configure(v as ContextSetup), { param, state })), FC);
  });

  it('hwInputs: the host memory', () => {
    const { ctx, state } = warm();
    fc.assert(fc.property(fc.oneof(junk, fc.constant({ words: [] })), (v) => refused(t, () => ctx.hwInputs(v as never), { param: 'mem', state })), FC);
  });

  it('constructor: kind, vCPU index, counters, memory, setup', () => {
    const { f, setup } = warm();
    const mem = f.vm.guestMem;
    fc.assert(fc.property(badEnum(['root_mmu', 'guest_mmu']), (v) => refused(t, () => new ShadowContext(v as never, 0, f.v.stats, mem, setup), { param: 'kind', value: v })), FC);
    // KVM_MAX_VCPUS is at most 4096 (arch/x86/include/asm/kvm_host.h:54).
    fc.assert(fc.property(fc.oneof(badInt(0, 4095), fc.constant(4096)), (v) => refused(t, () => new ShadowContext('root_mmu', v as number, f.v.stats, mem, setup), { param: 'vcpu', value: v })), FC);
    fc.assert(fc.property(junk, (v) => {
      refused(t, () => new ShadowContext('root_mmu', 0, v as never, mem, setup), { param: 'stats' });
      refused(t, () => new ShadowContext('root_mmu', 0, f.v.stats, v as never, setup), { param: 'guestMem' });
    }), FC);
    fc.assert(fc.property(badSetup(setup), ([v, param]) => refused(t, () => new ShadowContext('root_mmu', 0, f.v.stats, mem, v as ContextSetup), { param: param.replace(/^s/, 'setup') })), FC);
  });
});
