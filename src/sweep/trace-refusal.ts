/**
 * How a sweep refuses a job whose parameters give no trace: one error, whether the coordinator's
 * up-front check (checkJobParams, checkTraces) or the job itself (runJob) finds it. Not a public
 * entry point: the engine calls it with a job it checked and the error it caught.
 */
import { SweepError } from './sweep-error';
import { describeValue } from '../validate/describe-value';

/** JSON of a value when it has one (bigints and cycles have none), else a short description. */
export function show(v: unknown): string {
  try {
    return JSON.stringify(v) ?? describeValue(v);
  } catch {
    return describeValue(v);
  }
}

/** Why a job's parameters give no trace: the generator's or the trace validator's error, as the sweep reports it. */
export function traceRefusal(j: { generator: string; params: unknown }, err: unknown): SweepError {
  return new SweepError('sweep-param-invalid', `workload ${j.generator} with ${show(j.params)} does not give a valid trace: ${(err as Error).message}`, show(j.params));
}
