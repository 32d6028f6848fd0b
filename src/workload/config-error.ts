/** Typed errors for run configurations: the value and the rule, raised before anything is built. */
import { InvalidArgumentError } from '../errors';

/** A configuration that cannot exist (a TD with shadow paging, an unknown name, …). */
export class ConfigurationError extends InvalidArgumentError {}

