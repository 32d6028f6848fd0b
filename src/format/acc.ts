/** KVM's ACC_* access bits (spte.h) and #PF error-code bits (kvm_host.h; reference §4.2, §5.4). */
export const ACC_EXEC = 1;
export const ACC_WRITE = 2;
/** For EPT gPTEs this bit means "readable" (v6.16 reuses ACC_USER_MASK). */
export const ACC_USER = 4;
export const ACC_ALL = 7;

export const PFERR = Object.freeze({
  PRESENT: 1 << 0,
  WRITE: 1 << 1,
  USER: 1 << 2,
  RSVD: 1 << 3,
  FETCH: 1 << 4,
  PK: 1 << 5,
  SS: 1 << 6,
  SGX: 1 << 15,
});

/** Decode an error code into the SDM's names, e.g. "P|W|U". */
export function decodeErrorCode(ec: number): string {
  const names: [number, string][] = [
    [PFERR.PRESENT, 'P'],
    [PFERR.WRITE, 'W'],
    [PFERR.USER, 'U'],
    [PFERR.RSVD, 'RSVD'],
    [PFERR.FETCH, 'I/D'],
    [PFERR.PK, 'PK'],
    [PFERR.SS, 'SS'],
    [PFERR.SGX, 'SGX'],
  ];
  const out = names.filter(([b]) => (ec & b) !== 0).map(([, n]) => n);
  return out.length === 0 ? '0' : out.join('|');
}

/** Decode an ACC value, e.g. "U W X". */
export function decodeAcc(acc: number, ept = false): string {
  const u = ept ? 'R' : 'U';
  return [(acc & ACC_USER) !== 0 ? u : '-', (acc & ACC_WRITE) !== 0 ? 'W' : '-', (acc & ACC_EXEC) !== 0 ? 'X' : '-'].join('');
}
