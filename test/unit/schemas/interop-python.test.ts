/**
 * Interop with an independent Avro implementation: Apache Avro for Python (Debian `python3-avro`),
 * driven by test/interop/avro_single_object.py. Python writes single-object records that our codec
 * decodes, and decodes what our codec writes. Skipped, with a message, when no python3 with the
 * `avro` module is found (set GENSEMBLE_PYTHON to pick the interpreter).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import {
  canonicalForm,
  crc64Avro,
  imageFrameCodec,
  toSignedInt64,
  transactionCodec,
  IMAGE_FRAME_SCHEMA,
  TRANSACTION_SCHEMA,
  type ImageFrame,
  type Transaction,
} from '../../../src/schemas/index.js';
import { sampleFrame, sampleTransaction } from './fixtures.js';
import { AVRO_SCRIPT, findPythonAvro } from '../../helpers/python-avro.js';

const SCRIPT = AVRO_SCRIPT;
const TX_AVSC = fileURLToPath(new URL('../../../src/schemas/transaction.avsc', import.meta.url));
const FRAME_AVSC = fileURLToPath(new URL('../../../src/schemas/image-frame.avsc', import.meta.url));
const TIMEOUT_MS = 30_000;

const PYTHON = findPythonAvro();
if (!PYTHON) {
  console.warn(
    'SKIP python interop: no python3 with the avro module (apt-get install -y python3-avro, ' +
      'or set GENSEMBLE_PYTHON)',
  );
}

interface WriteOut {
  canonical_form: string;
  raw_canonical_form: string;
  fingerprint_hex: string;
  fingerprint_signed: string;
  messages: string[];
}

const dir = mkdtempSync(join(tmpdir(), 'gensemble-interop-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function py(args: string[], input?: string): string {
  return execFileSync(PYTHON as string, [SCRIPT, ...args], {
    input,
    timeout: TIMEOUT_MS,
    maxBuffer: 64 << 20,
    encoding: 'utf8',
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

function transactions(): Transaction[] {
  return [
    sampleTransaction(),
    sampleTransaction({ id: 'tx-2', card_id: 'c-1', merchant_id: null, amount: 0, V5: -1e-300, V6: 1.7e308 }),
    sampleTransaction({ id: 'ü-3', event_time: 0, time_seconds: 172792, V28: -33.78 }),
  ];
}

// Under CI (.ci/run installs python3-avro) a missing interpreter is a failure, not a skip.
describe.skipIf(!PYTHON && !process.env.CI)('python3-avro interop (single-object encoding)', () => {
  it('Python-written Transactions decode with our codec; fingerprints and canonical forms agree', () => {
    const records = transactions();
    const file = join(dir, 'tx.json');
    writeFileSync(file, JSON.stringify(records));
    const out = JSON.parse(py(['write', TX_AVSC, file])) as WriteOut;

    expect(out.canonical_form).toBe(canonicalForm(TRANSACTION_SCHEMA));
    const fp = crc64Avro(canonicalForm(TRANSACTION_SCHEMA));
    expect(out.fingerprint_signed).toBe(toSignedInt64(fp).toString());
    const le = Buffer.alloc(8);
    le.writeBigUInt64LE(fp);
    expect(out.fingerprint_hex).toBe(le.toString('hex'));

    const codec = transactionCodec();
    expect(out.messages).toHaveLength(records.length);
    out.messages.forEach((hex, i) => {
      expect({ ...codec.decode(Buffer.from(hex, 'hex')) }).toEqual(records[i]);
    });
  });

  it('our Transactions decode in Python', () => {
    const records = transactions();
    const codec = transactionCodec();
    const hex = records.map((r) => codec.encode(r).toString('hex'));
    const back = JSON.parse(py(['read', TX_AVSC], JSON.stringify(hex))) as Transaction[];
    expect(back).toEqual(records);
  });

  it('ImageFrames both ways (bytes field, null unions)', () => {
    const frames: ImageFrame[] = [sampleFrame(), sampleFrame({ id: 'f-2', label: null, ood_kind: 'flip' })];
    const asJson = frames.map((f) => ({ ...f, pixels: f.pixels.toString('hex') }));
    const file = join(dir, 'frames.json');
    writeFileSync(file, JSON.stringify(asJson));
    const out = JSON.parse(py(['write', FRAME_AVSC, file])) as WriteOut;
    expect(out.canonical_form).toBe(canonicalForm(IMAGE_FRAME_SCHEMA));
    const codec = imageFrameCodec();
    out.messages.forEach((h, i) => {
      const f = codec.decode(Buffer.from(h, 'hex'));
      expect({ ...f, pixels: f.pixels.toString('hex') }).toEqual(asJson[i]);
    });
    const back = JSON.parse(
      py(['read', FRAME_AVSC], JSON.stringify(frames.map((f) => codec.encode(f).toString('hex')))),
    ) as unknown[];
    expect(back).toEqual(asJson);
  });

  it('Python refuses our bytes when the fingerprint is wrong (the check is real)', () => {
    const buf = transactionCodec().encode(sampleTransaction());
    buf[9] ^= 1;
    expect(() => py(['read', TX_AVSC], JSON.stringify([buf.toString('hex')]))).toThrow(
      /fingerprint mismatch/,
    );
  });
});
