import { describe, expect, it } from 'vitest';
import { CLAIM_MIME, claim, ClaimFailed, DISPLAY_ON_CALL, InvalidArgumentError, md, proseValue } from '../../src/index';

const bundle = (x: unknown): Record<string, unknown> => (x as { [k: symbol]: () => Record<string, unknown> })[Symbol.for('Jupyter.display')]!();

describe('claim', () => {
  it('renders a held claim with the numbers it was decided on, in every MIME type', () => {
    const c = claim('shadow pays more exits than TDP', 283 > 175, { shadow: 283, tdp: 175 });
    const b = bundle(c);
    expect(b['text/plain']).toBe('✔ claim: shadow pays more exits than TDP [shadow = 283, tdp = 175]');
    expect(b['text/markdown']).toBe('✔ **claim:** shadow pays more exits than TDP — `shadow` = 283, `tdp` = 175');
    expect(b[CLAIM_MIME]).toEqual({ text: 'shadow pays more exits than TDP', holds: true, values: { shadow: '283', tdp: '175' } });
  });

  it('throws ClaimFailed naming the claim and its values when the condition is false', () => {
    let err: unknown;
    try {
      claim('shadow pays fewer exits than TDP', 283 < 175, { shadow: 283, tdp: 175 });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ClaimFailed);
    const f = err as ClaimFailed;
    expect(f.rule).toBe('claim');
    expect(f.claimText).toBe('shadow pays fewer exits than TDP');
    expect(f.value).toBe('shadow = 283, tdp = 175');
    expect(f.message).toBe('claim does not hold: shadow pays fewer exits than TDP (value shadow = 283, tdp = 175; rule: claim)');
  });

  it('refuses a condition that is not a boolean, an empty text and values that are not scalars', () => {
    expect(() => claim('a count is not a claim', 3 as unknown as boolean)).toThrow(InvalidArgumentError);
    expect(() => claim('  ', true)).toThrow(/claim-text/);
    expect(() => claim('nested values', true, { a: { b: 1 } } as never)).toThrow(/claim-values/);
  });

  it('is marked for the kernel to show each claim when it is made', () => {
    expect(claim[DISPLAY_ON_CALL]).toBe(true);
  });
});

describe('md and proseValue', () => {
  it('interpolates computed values deterministically', () => {
    const n = 1095;
    const p = md`**${n}** exits, ratio ${200 / 1088}, root ${0x3784n}, ${'TDP'}`;
    expect(bundle(p)).toEqual({ 'text/markdown': '**1,095** exits, ratio 0.18, root 0x3784, TDP', 'text/plain': '**1,095** exits, ratio 0.18, root 0x3784, TDP' });
  });
  it('formats negative, large and array values', () => {
    expect(proseValue(-1234567)).toBe('-1,234,567');
    expect(proseValue([1, 2000])).toBe('1, 2,000');
    expect(proseValue(-16n)).toBe('-0x10');
    expect(proseValue(true)).toBe('true');
  });
});
