/** The kind registry of a running gensemble: the built-in kinds plus the kinds declared in KINDS_DIR. */
import { BUILTIN_KINDS, KindRegistry } from './registry.js';
import { loadKindSpecDir } from './tabular/spec.js';
import { tabularKind } from './tabular/index.js';
import type { KindDefinition } from './types.js';

export async function loadKindRegistry(kindsDir: string): Promise<KindRegistry> {
  const specs = kindsDir === '' ? [] : await loadKindSpecDir(kindsDir);
  return new KindRegistry([...BUILTIN_KINDS, ...specs.map((s) => tabularKind(s) as KindDefinition)]);
}
