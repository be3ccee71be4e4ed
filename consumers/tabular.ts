/**
 * User-declared tabular kinds (KINDS_DIR): a topic of Avro records of the user's schema → the kind's
 * feature encoder (fitted at training, stored in the model) → its model → flags of that kind. The kind
 * itself lives in src/kinds/tabular; this is its consumer's wiring.
 */
import type { KindDefinition } from '../src/kinds/types.js';
import type { TabularRecord } from '../src/kinds/tabular/index.js';
import type { ScoringConsumer } from '../src/stream/consumer.js';
import { createKindConsumer, type ConsumerDeps } from './common.js';

export { tabularKind } from '../src/kinds/tabular/index.js';
export { loadKindSpecFile, loadKindSpecDir } from '../src/kinds/tabular/spec.js';

export function createTabularConsumer(
  kind: KindDefinition<TabularRecord>,
  o: ConsumerDeps,
): ScoringConsumer<TabularRecord> {
  return createKindConsumer(kind, o);
}
