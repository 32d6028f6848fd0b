/** Events and counters as arquero tables, for notebooks and charts. */
import type * as Aq from 'arquero';
import { EventLog } from './event-log';
import { arquero } from './arquero';
import { checkObject, refuse } from '../validate/checks';

export function eventsTable(log: EventLog): Aq.ColumnTable {
  if (!(log instanceof EventLog)) refuse('log', 'event-log', 'must be an EventLog (vm.events)', log);
  return arquero().table(log.columns());
}

/** One row per counter: name, value (and a scope column). */
export function countersTable(scopes: Record<string, Record<string, number>>): Aq.ColumnTable {
  const scope: string[] = [];
  const name: string[] = [];
  const value: number[] = [];
  checkObject('scopes', scopes);
  for (const [s, c] of Object.entries(scopes)) {
    checkObject(`scopes.${s}`, c);
    for (const [n, v] of Object.entries(c)) {
      if (typeof v !== 'number') refuse(`scopes.${s}.${n}`, 'counter-value', 'must be a number (a counter)', v);
      scope.push(s);
      name.push(n);
      value.push(v);
    }
  }
  return arquero().table({ scope, name, value });
}
