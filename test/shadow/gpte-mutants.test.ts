/**
 * src/shadow/gpte.ts's checked entries as mutation testing (`npm run mutate`) found them
 * unchecked: each refusal's class, rule id and message text (a message starts with the
 * parameter's name). The rule ids and texts are this library's (src/errors.ts: an error names
 * argument, value and rule); gPTEs are 4 or 8 bytes (paging_tmpl.h:35, 60, 87 pt_element_t).
 */
import { describe, it } from 'vitest';
import { InvalidArgumentError } from '../../src';
import type { PageFormat } from '../../src/format/page-format';
import { paging4Format } from '../../src/format/paging4';
import { GuestMemory } from '../../src/memory/guest-memory';
import { isPresentGpte, readGpte } from '../../src/shadow/gpte';
import { refuses } from './refusal';

const p4: PageFormat = paging4Format({ maxPhyAddr: 46, nx: true, gbpages: true, pse: true, amd: false, cr0Wp: true, cr4Smep: false, cr4Smap: false, cr4Pke: false, kvm: '6.16' });


describe('gpte.ts refusals', () => {
  const mem = new GuestMemory({ maxPhyAddr: 46 });

  it('a format with another entry width, a reserved-bit table that is not two arrays of masks, or no bad_mt_xwr bigint', () => {
    const text = 'format must be a PageFormat (paging32Format, paeFormat, paging4Format, eptFormat, …)';
    refuses(() => readGpte(mem, { ...p4, rsvdBitsMask: [1n, 2n] } as unknown as PageFormat, 0, 0), InvalidArgumentError, 'page-format', text);
    refuses(() => isPresentGpte({ ...p4, entryBytes: 2 } as unknown as PageFormat, 1n), InvalidArgumentError, 'page-format', text);
    refuses(() => isPresentGpte({ ...p4, badMtXwr: 0 } as unknown as PageFormat, 1n), InvalidArgumentError, 'page-format', text);
  });

  it('a gPTE that is no u64, a memory that is none, an offset not on an entry', () => {
    refuses(() => isPresentGpte(p4, -1n), InvalidArgumentError, 'bigint-range', 'g must be in [0x0, 0xffffffffffffffff]');
    refuses(() => readGpte({} as GuestMemory, p4, 0, 0), InvalidArgumentError, 'guest-memory', 'mem must be a GuestMemory');
    refuses(() => readGpte(mem, p4, 0, 4), InvalidArgumentError, 'alignment', 'off must be a multiple of the entry size 8');
  });
});
