/** A config value or file that cannot be used: `airlock serve` prints it and exits. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}
