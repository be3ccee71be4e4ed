/** Argument parsers of the CLI's options: a bad value is commander's InvalidArgumentError (exit 2, one line). */
import { InvalidArgumentError } from 'commander';
import { wrapProblem, type WrapColumn } from '../engine/spec.js';

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

/** A comma-separated list of distinct names, each one of `allowed` ("neg_logp,rate,feature_knn"). */
export function parseNameList<T extends string>(name: string, allowed: readonly T[]) {
  return (value: string): T[] => {
    const parts = value.split(',').map((p) => p.trim());
    if (parts.some((p) => p === ''))
      throw new InvalidArgumentError(`${name} must be a comma-separated list, got "${value}"`);
    for (const p of parts)
      if (!(allowed as readonly string[]).includes(p))
        throw new InvalidArgumentError(`${name}: unknown name "${p}" (one of ${allowed.join(', ')})`);
    if (new Set(parts).size !== parts.length)
      throw new InvalidArgumentError(`${name} names a value twice: "${value}"`);
    return parts as T[];
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

/** A finite number > 0 (a penalty, a scale). */
export function parsePositiveArg(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || !(n > 0))
      throw new InvalidArgumentError(`${name} must be a finite number > 0, got "${value}"`);
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

/** The value of the repeatable --wrap: the periodic columns given, or 'none' (no wrap, not even the kind's). */
export type WrapArg = WrapColumn[] | 'none';

/**
 * One --wrap value, accumulated over repeats: "column:period" (a raw column index, a period > 0 in the
 * column's raw unit, e.g. 0:86400) adds a wrapped column; "none" switches off the kind's default wrap
 * and cannot be combined with a column. The column's range is checked against the data later.
 */
export function parseWrapArg(value: string, previous: WrapArg | undefined): WrapArg {
  const v = value.trim();
  const mixed = '--wrap none cannot be combined with --wrap column:period';
  if (v === 'none') {
    if (previous !== undefined && previous !== 'none') throw new InvalidArgumentError(mixed);
    return 'none';
  }
  const m = /^([^:]*):([^:]*)$/.exec(v);
  if (!m) throw new InvalidArgumentError(`--wrap takes column:period (e.g. 0:86400) or none, got "${value}"`);
  const [col, per] = [m[1].trim(), m[2].trim()];
  if (!/^\d+$/.test(col))
    throw new InvalidArgumentError(
      `--wrap column must be a non-negative integer, got "${col}" in "${value}"`,
    );
  const period = Number(per);
  if (per === '' || !Number.isFinite(period) || !(period > 0))
    throw new InvalidArgumentError(`--wrap period must be a number > 0, got "${per}" in "${value}"`);
  if (previous === 'none') throw new InvalidArgumentError(mixed);
  const wrap = [...(previous ?? []), { column: Number(col), period }];
  const problem = wrapProblem(wrap, Infinity);
  if (problem !== undefined) throw new InvalidArgumentError(`--wrap ${value}: ${problem}`);
  return wrap;
}
