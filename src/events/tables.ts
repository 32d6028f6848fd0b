/** Events and counters as arquero tables, for notebooks and charts. */
import * as aq from 'arquero';
import { EventLog } from './event-log';
import { checkObject, refuse } from '../validate/checks';

export function eventsTable(log: EventLog): ReturnType<typeof aq.table> {
  if (!(log instanceof EventLog)) refuse('log', 'event-log', 'must be an EventLog (vm.events)', log);
  return aq.table(log.columns());
}

/** One row per counter: name, value (and a scope column). */
export function countersTable(scopes: Record<string, Record<string, number>>): ReturnType<typeof aq.table> {
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
  return aq.table({ scope, name, value });
}
