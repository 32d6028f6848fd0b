/** `RET_PF_*` (mmu_internal.h, v6.16; values in order, reference §12.1). */
export const RET_PF = Object.freeze({
  CONTINUE: 0,
  RETRY: 1,
  EMULATE: 2,
  WRITE_PROTECTED: 3,
  INVALID: 4,
  FIXED: 5,
  SPURIOUS: 6,
} as const);

export type RetPf = (typeof RET_PF)[keyof typeof RET_PF];

export const RET_PF_NAMES: Readonly<Record<number, string>> = Object.freeze({
  0: 'RET_PF_CONTINUE',
  1: 'RET_PF_RETRY',
  2: 'RET_PF_EMULATE',
  3: 'RET_PF_WRITE_PROTECTED',
  4: 'RET_PF_INVALID',
  5: 'RET_PF_FIXED',
  6: 'RET_PF_SPURIOUS',
});
