/**
 * What a nested (ngpa) translation was for, as the exit reports it: EPT qualification bits 7/8,
 * AMD NPF EXITINFO1 bits 32/33. 'none' when there is no guest linear address (a direct nGPA
 * access, e.g. a PDPTE load by MOV to CR3).
 */
export type NestedDuring = 'none' | 'paging-structure' | 'final';

/** Every NestedDuring value (argument checks match by membership). */
export const NESTED_DURING: readonly NestedDuring[] = ['none', 'paging-structure', 'final'];
