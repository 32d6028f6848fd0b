import { InvalidArgumentError } from '../errors';
import { describeValue } from '../validate/describe-value';
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
/** Every bit an encoded access may hold (PFERR P/W/U/RSVD/F/PK/SS/SGX and the two flags): the raw walk APIs refuse others. */
export const RAW_ACCESS_BITS = 0x7f | PFERR.SGX | ACCESS_IMPLICIT | ACCESS_AC;

export function encodeAccess(a: Access): number {
  if (typeof a !== 'object' || a === null) throw new InvalidArgumentError('access-object', 'access must be an object { kind, user?, implicit?, ac? }', describeValue(a));
  if (a.kind !== 'read' && a.kind !== 'write' && a.kind !== 'fetch') {
    throw new InvalidArgumentError('access-kind', 'access.kind must be read, write or fetch', describeValue(a.kind));
  }
  // Flags are booleans: a truthy 'yes' or 1 is a caller's mistake, not a user-mode access.
  if ((a.user !== undefined && typeof a.user !== 'boolean') || (a.implicit !== undefined && typeof a.implicit !== 'boolean') || (a.ac !== undefined && typeof a.ac !== 'boolean')) {
    throw new InvalidArgumentError('access-flag', 'access.user, access.implicit and access.ac are true or false', describeValue(typeof a.user !== 'boolean' && a.user !== undefined ? a.user : typeof a.implicit !== 'boolean' && a.implicit !== undefined ? a.implicit : a.ac));
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
  encodeAccess(a); // the same checks: an object of a known kind with boolean flags
  const who = a.implicit ? 'implicit supervisor' : a.user ? 'user' : 'supervisor';
  return `${who} ${a.kind}${a.ac && !a.user ? ' (EFLAGS.AC=1)' : ''}`;
}
