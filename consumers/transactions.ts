/**
 * Transactions: topic of Avro `gensemble.Transaction` records → the credit model (30 raw features:
 * Time, V1..V28, Amount, as in the Kaggle CSV) → flags of kind 'transactions'.
 */
import { TRANSACTION_SPEC, transactionCodec } from '../src/schemas/codec.js';
import type { RecordCodec } from '../src/schemas/codec.js';
import { TRANSACTION_FEATURE_DIM, writeTransactionFeatures } from '../src/schemas/features.js';
import { TRANSACTION_PCA_FIELDS, type Transaction } from '../src/schemas/schemas.js';
import { ScoringConsumer, cleanText, type InputSpec } from '../src/stream/consumer.js';
import { StreamConfigError } from '../src/stream/errors.js';
import { consumerCodec, groupFor, type ConsumerDeps } from './common.js';

/** time_seconds and V1..V28 of a transaction, by name (as the producer sent them). */
export function transactionFeatureFields(r: Transaction): Record<string, number> {
  const out: Record<string, number> = { time_seconds: r.time_seconds };
  for (const f of TRANSACTION_PCA_FIELDS) out[f] = r[f];
  return out;
}

export function transactionSpec(
  codec: RecordCodec<Transaction> = transactionCodec(),
): InputSpec<Transaction> {
  return {
    kind: 'transactions',
    codec,
    writeFeatures(r, out, row, inputDim) {
      if (inputDim !== TRANSACTION_FEATURE_DIM)
        throw new StreamConfigError(
          `the transactions model takes ${inputDim} features, a Transaction has ${TRANSACTION_FEATURE_DIM}`,
        );
      writeTransactionFeatures(r, out, row);
    },
    recordId: (r) => r.id,
    eventTime: (r) => r.event_time,
    payload: (r) => ({
      amount: r.amount,
      // The record's other fields, so that a reviewer sees them and labels can train on them.
      features: transactionFeatureFields(r),
      ...(r.card_id !== null ? { card_id: cleanText(r.card_id, 64) } : {}),
      ...(r.merchant_id !== null ? { merchant_id: cleanText(r.merchant_id, 64) } : {}),
    }),
  };
}

export interface TransactionsConsumerOptions extends ConsumerDeps {
  codec?: RecordCodec<Transaction>;
}

export function createTransactionsConsumer(o: TransactionsConsumerOptions): ScoringConsumer<Transaction> {
  if (o.models.current.kind !== 'transactions')
    throw new StreamConfigError(
      `the transactions consumer needs a transactions model, got ${o.models.current.kind}`,
    );
  if (o.models.current.inputDim !== TRANSACTION_FEATURE_DIM) {
    throw new StreamConfigError(
      `the transactions model takes ${o.models.current.inputDim} features, a Transaction has ${TRANSACTION_FEATURE_DIM}`,
    );
  }
  return new ScoringConsumer<Transaction>({
    ...o.tuning,
    kafka: o.kafka,
    db: o.db,
    topic: o.topic,
    groupId: groupFor(o.groupId, 'transactions'),
    dlqTopic: o.dlqTopic,
    spec: transactionSpec(
      o.codec ?? consumerCodec(TRANSACTION_SPEC, transactionCodec([], o.codecOptions), o.schemaRegistry),
    ),
    models: o.models,
    logger: o.logger,
    ...(o.metrics ? { metrics: o.metrics } : {}),
    ...(o.dlqProducer ? { dlqProducer: o.dlqProducer } : {}),
    ...(o.flagsTopic ? { flagsTopic: o.flagsTopic } : {}),
  });
}
