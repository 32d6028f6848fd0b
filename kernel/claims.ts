/**
 * A note's claims, read back from its outputs: each claim that held is a display output carrying
 * the engine's claim record (CLAIM_MIME); one that failed is the cell's `ClaimFailed` error. The
 * notes runner counts them per note and the HTML report lists them.
 */
import type { Notebook } from './notebook';

/** The engine's `CLAIM_MIME` (src/claim/claim.ts); the kernel does not import the engine. */
export const CLAIM_MIME = 'application/vnd.mmulab.claim+json';
export const CLAIM_FAILED = 'ClaimFailed';

export interface NoteClaim {
  /** Index of the cell that made the claim. */
  cell: number;
  text: string;
  holds: boolean;
  /** `name = value, …` as the claim was decided. */
  values: string;
}

interface ClaimRecord {
  text: string;
  holds: boolean;
  values: Record<string, string>;
}

function isRecord(x: unknown): x is ClaimRecord {
  const o = x as Partial<ClaimRecord> | null;
  return typeof o === 'object' && o !== null && typeof o.text === 'string' && typeof o.holds === 'boolean' && typeof o.values === 'object' && o.values !== null;
}

/** `ClaimFailed`'s message: `claim does not hold: TEXT (value VALUES; rule: claim)`. */
export function parseClaimFailure(evalue: string): { text: string; values: string } {
  const m = /^claim does not hold: ([\s\S]*) \(value ([\s\S]*); rule: claim\)$/.exec(evalue);
  return m ? { text: m[1]!, values: m[2]! } : { text: evalue, values: '' };
}

export function notebookClaims(nb: Notebook): NoteClaim[] {
  const out: NoteClaim[] = [];
  nb.cells.forEach((c, cell) => {
    if (c.cell_type !== 'code') return;
    for (const o of c.outputs) {
      if ((o.output_type === 'display_data' || o.output_type === 'execute_result') && isRecord(o.data[CLAIM_MIME])) {
        const r = o.data[CLAIM_MIME] as ClaimRecord;
        out.push({
          cell,
          text: r.text,
          holds: r.holds,
          values: Object.entries(r.values)
            .map(([k, v]) => `${k} = ${v}`)
            .join(', '),
        });
      } else if (o.output_type === 'error' && o.ename === CLAIM_FAILED) {
        out.push({ cell, holds: false, ...parseClaimFailure(o.evalue) });
      }
    }
  });
  return out;
}

/** `3 claims hold` / `2 claims hold, 1 fails`. */
export function claimSummary(claims: readonly NoteClaim[]): string {
  const held = claims.filter((c) => c.holds).length;
  const failed = claims.length - held;
  return `${held} claim${held === 1 ? '' : 's'} hold${held === 1 ? 's' : ''}${failed ? `, ${failed} fail${failed === 1 ? 's' : ''}` : ''}`;
}
