/** Argument parsers of the CLI's options: a bad value is commander's InvalidArgumentError (exit 2, one line). */
import { InvalidArgumentError } from 'commander';

export function parseIntArg(name: string, min = 0, max = Number.MAX_SAFE_INTEGER) {
  return (value: string): number => {
    if (!/^-?\d+$/.test(value.trim()))
      throw new InvalidArgumentError(`${name} must be an integer, got "${value}"`);
    const n = Number(value);
    if (n < min || n > max)
      throw new InvalidArgumentError(`${name} must be between ${min} and ${max}, got ${n}`);
    return n;
  };
}

/** A comma-separated list of integers in [min, max] ("512,512"). */
export function parseIntList(name: string, min = 0, max = Number.MAX_SAFE_INTEGER) {
  const one = parseIntArg(name, min, max);
  return (value: string): number[] => {
    const parts = value.split(',').map((p) => p.trim());
    if (parts.length === 0 || parts.some((p) => p === ''))
      throw new InvalidArgumentError(`${name} must be a comma-separated list of integers, got "${value}"`);
    return parts.map(one);
  };
}

export function parseFloatArg(name: string, min = -Infinity, max = Infinity) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n))
      throw new InvalidArgumentError(`${name} must be a number, got "${value}"`);
    if (n < min || n > max)
      throw new InvalidArgumentError(`${name} must be between ${min} and ${max}, got ${n}`);
    return n;
  };
}

/** A kind's name (which kinds exist: `gensemble kinds list`). */
export function parseKindName(value: string): string {
  if (!/^[a-z][a-z0-9_]{0,39}$/.test(value))
    throw new InvalidArgumentError(
      `--kind takes a kind name (transactions, frames, or one declared in KINDS_DIR), got "${value}"`,
    );
  return value;
}
