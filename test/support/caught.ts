import { MmulabError } from '../../src';

/** The typed error `f` throws (fails the test when it throws none or another kind). */
export function caught(f: () => unknown): MmulabError {
  try {
    f();
  } catch (e) {
    if (e instanceof MmulabError) return e;
    throw e;
  }
  throw new Error('expected an error');
}
