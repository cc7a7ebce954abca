/** A configuration problem the operator must fix; printed as one sentence, never a stack trace. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}
