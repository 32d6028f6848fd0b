/**
 * An event log's rows as table columns. Apart from event-log.ts (whose rows it takes by their
 * shape) so that a trace result can build its table later from a copy of the rows, without a
 * public entry point of its own.
 */

/** The fields of an MmuEvent (event-log.ts) a table shows. */
interface EventRow {
  seq: number;
  vcpu: number;
  kind: string;
  gva: bigint | null;
  gpa: bigint | null;
  level: number | null;
  code: bigint | null;
  outcome: string;
  oldSpte: bigint | null;
  newSpte: bigint | null;
}

/** `EventLog.columns` of a list of rows (also a copy of a log's rows taken earlier, as a trace result keeps). */
export function eventColumns(rows: readonly EventRow[]): Record<string, (string | number | null)[]> {
  const h = (v: bigint | null) => (v === null ? null : '0x' + v.toString(16));
  const cols: Record<string, (string | number | null)[]> = { seq: [], vcpu: [], kind: [], gva: [], gpa: [], level: [], code: [], outcome: [], old_spte: [], new_spte: [] };
  for (const r of rows) {
    cols.seq!.push(r.seq);
    cols.vcpu!.push(r.vcpu);
    cols.kind!.push(r.kind);
    cols.gva!.push(h(r.gva));
    cols.gpa!.push(h(r.gpa));
    cols.level!.push(r.level);
    cols.code!.push(h(r.code));
    cols.outcome!.push(r.outcome);
    cols.old_spte!.push(h(r.oldSpte));
    cols.new_spte!.push(h(r.newSpte));
  }
  return cols;
}
