/** Typed errors for sweeps, raised before any job runs or anything is written. */
import { InvalidArgumentError } from '../errors';

export class SweepError extends InvalidArgumentError {}
