/**
 * Memory references of a 2D walk (reference §6.7, Appendix A.10): with n guest levels read from
 * memory and m nested levels, every guest table pointer (CR3 and each non-leaf gPTE) is an nGPA
 * needing an m-level nested walk before the gPTE is read, and the final nGPA needs one more:
 * n·(m+1) + m = (n+1)(m+1) − 1. A PAE guest reads only 2 levels (its PDPTEs are registers); a
 * guest with paging off reads none (the linear address is the nGPA): refs = m.
 */
import { InvalidArgumentError } from '../errors';
import { describeValue } from '../validate/describe-value';

export function refs2d(n: number, m: number): number {
  if (!Number.isInteger(n) || n < 0 || n > 5) throw new InvalidArgumentError('refs2d-guest-levels', 'n: guest levels read from memory are 0..5', describeValue(n));
  if (!Number.isInteger(m) || m < 1 || m > 5) throw new InvalidArgumentError('refs2d-nested-levels', 'm: nested levels are 1..5', describeValue(m));
  return (n + 1) * (m + 1) - 1;
}

/** Guest levels read from memory for a paging level (cpu_role level 0, 2, 3, 4, 5): PAE reads 2. */
export function guestLevelsRead(roleLevel: number): number {
  if (![0, 2, 3, 4, 5].includes(roleLevel)) throw new InvalidArgumentError('paging-level', 'roleLevel: a paging level is 0 (off), 2, 3 (PAE), 4 or 5', describeValue(roleLevel));
  return roleLevel === 3 ? 2 : roleLevel;
}
