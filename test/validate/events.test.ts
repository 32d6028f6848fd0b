/**
 * Bad input to the counters and the event log (src/events): counter names that are no counter of
 * the list (prototype keys included), slots out of range, counts that are no finite number, events
 * of unknown kinds or with fields of the wrong type, tables of things that are no log or counters.
 * Each is refused with the library's error naming the argument; counters and log are unchanged.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Counters, counterSlot, EventLog, eventsTable, countersTable, VCPU_STAT_NAMES } from '../../src';
import { FC, Tally, badBigint, badEnum, badInt, junk, refused } from './support';

const t = new Tally('events');

describe('Counters', () => {
  const c = new Counters(VCPU_STAT_NAMES);
  c.inc('exits', 3);
  const state = () => JSON.stringify(c.snapshot());
  const badName = badEnum([...VCPU_STAT_NAMES]);
  const badCount = fc.oneof(fc.constantFrom(NaN, Infinity, -Infinity, '1', 1n, null, {}), fc.constant(Symbol('n')));
  const n = VCPU_STAT_NAMES.length;

  it('constructor: an array of distinct strings', () => {
    fc.assert(fc.property(junk.filter((v) => !Array.isArray(v)), (v) => refused(t, () => new Counters(v as never), { param: 'names', value: v })), FC);
    fc.assert(fc.property(junk.filter((v) => typeof v !== 'string'), (v) => refused(t, () => new Counters(['a', v as string]), { param: 'names[1]', value: v })), FC);
    refused(t, () => new Counters(['a', 'b', 'a']), { param: 'names[2]', value: 'a' });
  });

  it('inc / max / get: a counter of the list (not "toString"), a finite count', () => {
    fc.assert(fc.property(badName, (v) => {
      refused(t, () => c.inc(v as 'exits'), { param: 'name', value: v, state });
      refused(t, () => c.max(v as 'exits', 1), { param: 'name', value: v, state });
      refused(t, () => c.get(v as 'exits'), { param: 'name', value: v, state });
    }), FC);
    fc.assert(fc.property(badCount, (v) => {
      refused(t, () => c.inc('exits', v as number), { param: 'by', value: v, state });
      refused(t, () => c.max('exits', v as number), { param: 'v', value: v, state });
    }), FC);
  });

  it('add / at: a slot in [0, names.length), a finite count', () => {
    fc.assert(fc.property(fc.oneof(badInt(0, n - 1), fc.constant(n)), (v) => {
      refused(t, () => c.add(v as number), { param: 'slot', value: v, state });
      refused(t, () => c.at(v as number), { param: 'slot', value: v, state });
    }), FC);
    fc.assert(fc.property(badCount, (v) => refused(t, () => c.add(0, v as number), { param: 'by', value: v, state })), FC);
    expect(c.at(counterSlot(VCPU_STAT_NAMES, 'exits'))).toBe(3);
  });

  it('counterSlot: a list and a name on it', () => {
    fc.assert(fc.property(badName, (v) => refused(t, () => counterSlot(VCPU_STAT_NAMES, v as 'exits'), { param: 'name', value: v })), FC);
    fc.assert(fc.property(junk.filter((v) => !Array.isArray(v)), (v) => refused(t, () => counterSlot(v as never, 'exits'), { param: 'names', value: v })), FC);
  });
});

describe('EventLog.record and the tables', () => {
  const log = new EventLog();
  log.record({ kind: 'zap', gpa: 0x1000n, level: 1 });
  const state = () => JSON.stringify(log.columns());

  // vcpu: an index below KVM_MAX_VCPUS (<= 4096, arch/x86/kvm/Kconfig:222) or -1.
  it('record: an event object of a known kind, bigint-or-null addresses and codes, integer level and vCPU, a string outcome', () => {
    fc.assert(fc.property(junk.filter((v) => typeof v !== 'object' || v === null || Array.isArray(v)), (v) => refused(t, () => log.record(v as never), { param: 'e', value: v, state })), FC);
    fc.assert(fc.property(badEnum(['zap', 'tlb_flush', 'page_fault', 'vm_dead']), (v) => refused(t, () => log.record({ kind: v as 'zap' }), { param: 'e.kind', value: v, state })), FC);
    for (const k of ['gva', 'gpa', 'code', 'oldSpte', 'newSpte'] as const) {
      fc.assert(fc.property(badBigint().filter((v) => v !== null), (v) => refused(t, () => log.record({ kind: 'zap', [k]: v }), { param: `e.${k}`, value: v, state })), { ...FC, numRuns: 10 });
    }
    fc.assert(fc.property(fc.constantFrom(1.5, NaN, '1', 1n), (v) => refused(t, () => log.record({ kind: 'zap', level: v as number }), { param: 'e.level', value: v, state })), FC);
    fc.assert(fc.property(fc.oneof(badInt(-1, 4095), fc.constantFrom(-2, 4096)).filter((v) => v !== undefined), (v) => refused(t, () => log.record({ kind: 'zap', vcpu: v as number }), { param: 'e.vcpu', value: v, state })), FC);
    fc.assert(fc.property(fc.constantFrom(1, null, {}, Symbol('o')), (v) => refused(t, () => log.record({ kind: 'zap', outcome: v as string }), { param: 'e.outcome', value: v, state })), FC);
    expect(log.length).toBe(1);
  });

  it('eventsTable: an EventLog; countersTable: scopes of named numbers', () => {
    fc.assert(fc.property(fc.oneof(junk, fc.constantFrom({ columns: () => ({}) }, {})), (v) => refused(t, () => eventsTable(v as never), { param: 'log', value: v, state })), FC);
    fc.assert(fc.property(junk.filter((v) => typeof v !== 'object' || v === null || Array.isArray(v)), (v) => {
      refused(t, () => countersTable(v as never), { param: 'scopes', value: v });
      refused(t, () => countersTable({ vm: v as never }), { param: 'scopes.vm', value: v });
    }), FC);
    fc.assert(fc.property(fc.constantFrom('1', 1n, null, {}, undefined), (v) => refused(t, () => countersTable({ vm: { exits: v as number } }), { param: 'scopes.vm.exits', value: v })), FC);
    expect(countersTable({ vm: { exits: 2 } }).numRows()).toBe(1);
  });
});
