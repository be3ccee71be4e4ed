/**
 * Transactions replayer: a Kaggle-format credit-card CSV → Avro `gensemble.Transaction` records on a
 * topic (idempotent producer, rate-controlled, labels in headers). The implementation lives in
 * src/replay/transactions.ts (the CLI's `gensemble replay transactions` uses it); this is the
 * producer side's entry point for programs that embed it.
 */
export {
  replayTransactions,
  rowToTransaction,
  type ReplayTransactionsOptions,
  type ReplayTransactionsSummary,
} from '../src/replay/transactions.js';
