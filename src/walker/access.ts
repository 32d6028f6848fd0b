import { InvalidArgumentError } from '../errors';
import { PFERR } from '../format/acc';

/** What the access is: its kind, privilege, and the two SMAP inputs. */
export interface Access {
  kind: 'read' | 'write' | 'fetch';
  /** User-mode access (CPL=3 and not an implicit supervisor access). Default false. */
  user?: boolean;
  /** Implicit supervisor access (GDT/LDT/IDT/TSS): SMAP cannot be overridden. Default false. */
  implicit?: boolean;
  /** EFLAGS.AC: overrides SMAP for explicit supervisor accesses. Default false. */
  ac?: boolean;
}

/** Packed access for the hot path: PFERR W/U/FETCH bits, plus these flags above bit 16. */
export const ACCESS_IMPLICIT = 1 << 16;
export const ACCESS_AC = 1 << 17;

export function encodeAccess(a: Access): number {
  if (a.kind !== 'read' && a.kind !== 'write' && a.kind !== 'fetch') {
    throw new InvalidArgumentError('access-kind', 'access kind must be read, write or fetch', String(a.kind));
  }
  if (a.implicit && a.user) {
    throw new InvalidArgumentError(
      'implicit-is-supervisor',
      'an implicit access (GDT/LDT/IDT/TSS) is a supervisor access; it cannot also be a user access',
      'implicit+user',
    );
  }
  return (
    (a.kind === 'write' ? PFERR.WRITE : 0) |
    (a.kind === 'fetch' ? PFERR.FETCH : 0) |
    (a.user ? PFERR.USER : 0) |
    (a.implicit ? ACCESS_IMPLICIT : 0) |
    (a.ac ? ACCESS_AC : 0)
  );
}

export function describeAccess(a: Access): string {
  const who = a.implicit ? 'implicit supervisor' : a.user ? 'user' : 'supervisor';
  return `${who} ${a.kind}${a.ac && !a.user ? ' (EFLAGS.AC=1)' : ''}`;
}
