/** Refusal assertions shared by the shadow tests: the error a call throws, and its class, rule and text. */
import { expect } from 'vitest';
import type { MmulabError } from '../../src';

/** The error `fn` throws (the test fails if it throws none). */
export function err(fn: () => unknown): MmulabError {
  try {
    fn();
  } catch (e) {
    return e as MmulabError;
  }
  throw new Error('no refusal');
}

/** The refusal: its class, rule, and message start "<name> <text>" (src/errors.ts: an error names argument, value and rule). */
export function refuses(fn: () => unknown, cls: abstract new (...a: never[]) => MmulabError, rule: string, text: string): void {
  const e = err(fn);
  expect(e).toBeInstanceOf(cls);
  expect(e.rule).toBe(rule);
  expect(e.message.startsWith(text), e.message).toBe(true);
}
