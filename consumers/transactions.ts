/**
 * Transactions: topic of Avro `gensemble.Transaction` records → the credit model (30 raw features:
 * Time, V1..V28, Amount, as in the Kaggle CSV) → flags of kind 'transactions'. The kind itself lives
 * in src/kinds/transactions; this is its consumer's wiring.
 */
import type { RecordCodec } from '../src/schemas/codec.js';
import type { Transaction } from '../src/schemas/schemas.js';
import type { ScoringConsumer } from '../src/stream/consumer.js';
import { transactionsKind } from '../src/kinds/transactions/index.js';
import { createKindConsumer, type ConsumerDeps } from './common.js';

export { transactionFeatureFields, transactionPayload } from '../src/kinds/transactions/index.js';

export interface TransactionsConsumerOptions extends ConsumerDeps {
  codec?: RecordCodec<Transaction>;
}

export function createTransactionsConsumer(o: TransactionsConsumerOptions): ScoringConsumer<Transaction> {
  return createKindConsumer(transactionsKind, o);
}
