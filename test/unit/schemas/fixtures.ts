import type { ImageFrame, Transaction } from '../../../src/schemas/schemas.js';

/** A transaction with distinct, hand-chosen values: Time=7.5, Vi = i + 0.25*i, Amount=123.45. */
export function sampleTransaction(over: Partial<Transaction> = {}): Transaction {
  const r: Record<string, unknown> = {
    id: 'tx-1',
    event_time: 1_764_000_000_123,
    time_seconds: 7.5,
    amount: 123.45,
    card_id: null,
    merchant_id: 'm-9',
  };
  for (let i = 1; i <= 28; i++) r[`V${i}`] = i + 0.25 * i * (i % 2 === 0 ? -1 : 1);
  return { ...(r as Transaction), ...over };
}

export function sampleFrame(over: Partial<ImageFrame> = {}): ImageFrame {
  const pixels = Buffer.alloc(28 * 28);
  for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 7) % 256;
  return {
    id: 'f-1',
    source: 'mnist',
    width: 28,
    height: 28,
    channels: 1,
    pixels,
    event_time: 1_764_000_000_000,
    label: 3,
    ood_kind: null,
    ...over,
  };
}
