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

// PFERR bits as module-local constants (an imported object's field is a load per use).
const P_WRITE = PFERR.WRITE;
const P_USER = PFERR.USER;
const P_FETCH = PFERR.FETCH;

/**
 * The packed access of `a`, or a typed error. A valid access is packed here, each field read once,
 * in a body small enough for V8 to inline into a caller's hot path (walk() packs one per walk);
 * anything else goes to refuseAccess, which names the first rule broken.
 */
export function encodeAccess(a: Access): number {
  if (typeof a === 'object' && a !== null) {
    const kind = a.kind;
    const user = a.user;
    const implicit = a.implicit;
    const ac = a.ac;
    const k = kind === 'write' ? P_WRITE : kind === 'read' ? 0 : kind === 'fetch' ? P_FETCH : -1;
    // Flags are booleans or absent; an implicit access is a supervisor access.
    if (k >= 0 && (user === undefined || user === false || (user === true && implicit !== true)) && (implicit === undefined || typeof implicit === 'boolean') && (ac === undefined || typeof ac === 'boolean')) {
      return k | (user === true ? P_USER : 0) | (implicit === true ? ACCESS_IMPLICIT : 0) | (ac === true ? ACCESS_AC : 0);
    }
  }
  return refuseAccess(a);
}

/** The error for an access encodeAccess does not pack, by its rules in this order. */
function refuseAccess(a: Access): never {
  if (typeof a !== 'object' || a === null) throw new InvalidArgumentError('access-object', 'access must be an object { kind, user?, implicit?, ac? }', describeValue(a));
  if (a.kind !== 'read' && a.kind !== 'write' && a.kind !== 'fetch') {
    throw new InvalidArgumentError('access-kind', 'access.kind must be read, write or fetch', describeValue(a.kind));
  }
  // Flags are booleans: a truthy 'yes' or 1 is a caller's mistake, not a user-mode access.
  if ((a.user !== undefined && typeof a.user !== 'boolean') || (a.implicit !== undefined && typeof a.implicit !== 'boolean') || (a.ac !== undefined && typeof a.ac !== 'boolean')) {
    throw new InvalidArgumentError('access-flag', 'access.user, access.implicit and access.ac are true or false', describeValue(typeof a.user !== 'boolean' && a.user !== undefined ? a.user : typeof a.implicit !== 'boolean' && a.implicit !== undefined ? a.implicit : a.ac));
  }
  throw new InvalidArgumentError(
    'implicit-is-supervisor',
    'an implicit access (GDT/LDT/IDT/TSS) is a supervisor access; it cannot also be a user access',
    'implicit+user',
  );
}

export function describeAccess(a: Access): string {
  encodeAccess(a); // the same checks: an object of a known kind with boolean flags
  const who = a.implicit ? 'implicit supervisor' : a.user ? 'user' : 'supervisor';
  return `${who} ${a.kind}${a.ac && !a.user ? ' (EFLAGS.AC=1)' : ''}`;
}
