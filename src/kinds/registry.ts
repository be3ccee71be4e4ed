/**
 * The kind registry: the one table of input kinds. Built-in kinds (transactions, frames) plus the
 * kinds users declare in KINDS_DIR (one JSON file each; src/kinds/tabular). Everything that needs a
 * kind's behaviour — the stream service, `train`, `score`, `serve`, the console — looks it up here;
 * nothing else lists kinds.
 */
import { ConfigError } from '../errors.js';
import { framesKind } from './frames/index.js';
import { transactionsKind } from './transactions/index.js';
import type { KindDefinition } from './types.js';

export const BUILTIN_KINDS: readonly KindDefinition[] = [
  transactionsKind as KindDefinition,
  framesKind as KindDefinition,
];

export class KindRegistry {
  private readonly byName = new Map<string, KindDefinition>();

  constructor(kinds: readonly KindDefinition[]) {
    for (const k of kinds) {
      if (this.byName.has(k.name)) throw new ConfigError(`two input kinds are named "${k.name}"`);
      this.byName.set(k.name, k);
    }
  }

  /** The built-in kinds only. */
  static builtins(): KindRegistry {
    return new KindRegistry(BUILTIN_KINDS);
  }

  /** Every kind's name, built-ins first. */
  names(): string[] {
    return [...this.byName.keys()];
  }

  all(): KindDefinition[] {
    return [...this.byName.values()];
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  /** The kind of this name; an unknown name is one clear ConfigError listing the known ones. */
  get(name: string): KindDefinition {
    const k = this.byName.get(name);
    if (!k)
      throw new ConfigError(
        `unknown input kind "${name}" (known: ${this.names().join(', ')}; declare your own in KINDS_DIR)`,
      );
    return k;
  }
}
