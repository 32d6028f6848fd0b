/** Events and counters as arquero tables, for notebooks and charts. */
import * as aq from 'arquero';
import type { EventLog } from './event-log';

export function eventsTable(log: EventLog): ReturnType<typeof aq.table> {
  return aq.table(log.columns());
}

/** One row per counter: name, value (and a scope column). */
export function countersTable(scopes: Record<string, Record<string, number>>): ReturnType<typeof aq.table> {
  const scope: string[] = [];
  const name: string[] = [];
  const value: number[] = [];
  for (const [s, c] of Object.entries(scopes)) {
    for (const [n, v] of Object.entries(c)) {
      scope.push(s);
      name.push(n);
      value.push(v);
    }
  }
  return aq.table({ scope, name, value });
}
