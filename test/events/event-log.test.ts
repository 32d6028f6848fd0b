/**
 * The event log's cost rules (issue 13 item 3): a disabled log does no work at all — not even the
 * check of the event it drops — and the engine's own call sites use the unchecked twin, so a run
 * with the log on pays for the rows, not for re-checking events the engine built from values it
 * validated already. The public `record` keeps its checks (test/validate/events.test.ts).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { EventLog, type EventInput } from '../../src/events/event-log';

/** An event whose every field read is counted. */
function spied(): { e: EventInput; reads: () => number } {
  let n = 0;
  const e = {} as EventInput;
  for (const [k, v] of Object.entries({ kind: 'zap', gpa: 0x1000n, level: 1, vcpu: 0, outcome: 'x' })) {
    Object.defineProperty(e, k, { enumerable: true, get: () => (n++, v) });
  }
  return { e, reads: () => n };
}

describe('EventLog', () => {
  it('a disabled log returns before reading the event (record and recordUnchecked); an enabled one checks and keeps it', () => {
    const log = new EventLog();
    log.enabled = false;
    const s = spied();
    log.record(s.e);
    log.recordUnchecked(s.e);
    expect([s.reads(), log.length]).toEqual([0, 0]);
    log.enabled = true;
    log.record(s.e);
    expect(s.reads()).toBeGreaterThan(0);
    expect(log.all.map((r) => [r.seq, r.kind, r.gpa, r.level, r.vcpu, r.outcome])).toEqual([[0, 'zap', 0x1000n, 1, 0, 'x']]);
  });

  it('the engine (src/, outside src/events) records only through recordUnchecked', () => {
    const src = path.resolve(__dirname, '..', '..', 'src');
    const checked: string[] = [];
    const walk = (dir: string): void => {
      for (const f of fs.readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, f.name);
        if (f.isDirectory()) {
          if (p !== path.join(src, 'events')) walk(p);
        } else if (f.name.endsWith('.ts')) {
          fs.readFileSync(p, 'utf8').split('\n').forEach((line, i) => {
            if (/\bevents\.record\(/.test(line)) checked.push(`${path.relative(src, p)}:${i + 1}`);
          });
        }
      }
    };
    walk(src);
    expect(checked).toEqual([]);
  });

  it('copy(): the log as it was; later records, drops and a clear of the original do not reach it, and its records continue the sequence', () => {
    const log = new EventLog();
    log.limit = 3;
    for (let i = 0; i < 4; i++) log.recordUnchecked({ kind: 'zap', outcome: `z${i}` });
    const c = log.copy();
    log.recordUnchecked({ kind: 'zap', outcome: 'later' });
    log.clear();
    expect(c.all.map((e) => [e.seq, e.outcome])).toEqual([[1, 'z1'], [2, 'z2'], [3, 'z3']]);
    expect([c.dropped, c.limit, c.enabled]).toEqual([1, 3, true]);
    c.recordUnchecked({ kind: 'zap' });
    expect(c.all.map((e) => e.seq)).toEqual([2, 3, 4]);
    expect(log.length).toBe(0);
  });
});

