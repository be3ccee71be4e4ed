import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import type { Kafka } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { replayTransactions } from '../../../producers/replay-transactions.js';
import { replayFrames } from '../../../producers/replay-frames.js';
import { replayTabular } from '../../../producers/replay-records.js';
import { parseKindSpec } from '../../../src/kinds/tabular/spec.js';
import { labelSummary } from '../../../src/replay/runner.js';
import { findPythonAvro, pythonAvroRead } from '../../helpers/python-avro.js';
import { imageFrameCodec, transactionCodec } from '../../../src/schemas/index.js';
import { encodeIdx } from '../../../src/data/idx.js';
import {
  collectMessages,
  createTopic,
  randomName,
  testKafka,
  type ReceivedMessage,
} from '../../helpers/kafka.js';

const SHARED = '/work/shared/datasets';
const CREDIT = join(SHARED, 'creditcard/creditcard-subset.csv.gz');
const MNIST = join(SHARED, 'mnist/t10k-images-idx3-ubyte.gz');

let kafka: Kafka;
let tmp: string;
/** The first rows of the shared Kaggle subset, parsed here independently (split on commas). */
let csvLines: string[];

beforeAll(async () => {
  kafka = testKafka('replay-test');
  tmp = await mkdtemp(join(tmpdir(), 'gensemble-replay-'));
  csvLines = gunzipSync(await readFile(CREDIT))
    .toString('utf8')
    .split('\n')
    .slice(0, 2001);
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

async function consumeAll(topic: string, count: number): Promise<ReceivedMessage[]> {
  const consumer = kafka.consumer({ groupId: randomName('group') });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  try {
    const c = await collectMessages(consumer);
    const all = await c.waitFor(count, 60_000);
    return all;
  } finally {
    await consumer.disconnect();
  }
}

const h = (m: ReceivedMessage, k: string): string | undefined => m.headers[k]?.toString();

describe('replay transactions', () => {
  it('Kaggle CSV with header (gzip) → decodable Transactions keyed by id, Class in the label header', async () => {
    const topic = await createTopic(kafka, { prefix: 'tx' });
    const n = 1500;
    const s = await replayTransactions({
      kafka,
      file: CREDIT,
      topic,
      limit: n,
      progress: false,
      idPrefix: 'r-',
    });
    expect(s).toMatchObject({ sent: n, stoppedBy: 'limit', hasLabels: true });
    const msgs = await consumeAll(topic, n);
    expect(msgs).toHaveLength(n);
    const codec = transactionCodec();
    const header = csvLines[0].split(',').map((c) => c.replace(/"/g, ''));
    const col = (name: string) => header.indexOf(name);
    let frauds = 0;
    msgs.forEach((m, i) => {
      const t = codec.decode(m.value);
      expect(m.key?.toString()).toBe(t.id);
      expect(t.id).toBe(`r-${i}`);
      const fields = csvLines[i + 1].split(',').map((c) => c.replace(/"/g, ''));
      // Values are the CSV's doubles, not float32 artefacts (the consumer rounds for the model).
      expect(t.time_seconds).toBe(Number(fields[col('Time')]));
      expect(t.V1).toBe(Number(fields[col('V1')]));
      expect(t.V28).toBe(Number(fields[col('V28')]));
      expect(t.amount).toBe(Number(fields[col('Amount')]));
      expect(h(m, 'label')).toBe(fields[col('Class')]);
      if (h(m, 'label') === '1') frauds++;
      expect(Math.abs(t.event_time - Date.now())).toBeLessThan(120_000);
    });
    expect(s.frauds).toBe(frauds);
    expect(s.normals).toBe(n - frauds);
  });

  it('headerless plain CSV with --loop: ids stay unique across passes, limit honoured exactly', async () => {
    const file = join(tmp, 'noheader.csv');
    await writeFile(file, csvLines.slice(1, 11).join('\n') + '\n');
    const topic = await createTopic(kafka, { prefix: 'txloop' });
    const s = await replayTransactions({
      kafka,
      file,
      topic,
      limit: 25,
      loop: true,
      progress: false,
      compression: 'gzip',
    });
    expect(s).toMatchObject({ sent: 25, stoppedBy: 'limit' });
    const msgs = await consumeAll(topic, 25);
    const ids = msgs.map((m) => transactionCodec().decode(m.value).id);
    expect(new Set(ids).size).toBe(25);
    expect(ids.slice(0, 3)).toEqual(['tx-0', 'tx-1', 'tx-2']);
    expect(ids[10]).toBe('tx-0-p1');
    expect(msgs.every((m) => h(m, 'label') === '0' || h(m, 'label') === '1')).toBe(true);
  });

  it('--rate paces the stream (bounds, not exact timing)', async () => {
    const file = join(tmp, 'rate.csv.gz');
    await writeFile(file, gzipSync(csvLines.slice(0, 101).join('\n') + '\n'));
    const topic = await createTopic(kafka, { prefix: 'txrate' });
    const t0 = Date.now();
    // 80 records at 100/s: the first batch (5) is free, the other 75 need >= 0.75 s.
    const s = await replayTransactions({ kafka, file, topic, limit: 80, rate: 100, progress: false });
    const ms = Date.now() - t0;
    expect(s.sent).toBe(80);
    expect(ms).toBeGreaterThanOrEqual(700);
    expect(ms).toBeLessThan(15_000);
    expect(s.ratePerSec).toBeLessThanOrEqual(110);
  });

  it('an abort signal stops the replay after the batch in flight (nothing half-sent)', async () => {
    const topic = await createTopic(kafka, { prefix: 'txabort' });
    const ac = new AbortController();
    let batches = 0;
    const s = await replayTransactions({
      kafka,
      file: CREDIT,
      topic,
      rate: 200,
      loop: true,
      progress: false,
      signal: ac.signal,
      onSent: () => {
        if (++batches === 3) ac.abort();
      },
    });
    expect(s.stoppedBy).toBe('signal');
    expect(s.sent).toBe(30); // 3 batches of 10 (200/s paced in 10s)
    const msgs = await consumeAll(topic, 30);
    expect(msgs).toHaveLength(30);
  });
});

describe('replay frames', () => {
  it('MNIST mixed with notMNIST, uniform noise and flips: ratio within tolerance, headers label every frame', async () => {
    const topic = await createTopic(kafka, { prefix: 'frames' });
    const n = 1200;
    const ratio = 0.25;
    const s = await replayFrames({
      kafka,
      file: MNIST,
      topic,
      limit: n,
      oodRatio: ratio,
      oodKinds: ['notmnist', 'uniform', 'hflip'],
      dataDir: SHARED,
      seed: 11,
      progress: false,
    });
    expect(s.sent).toBe(n);
    const msgs = await consumeAll(topic, n);
    // Independent reads of the IDX files (header 16 bytes, then 784 bytes per image; labels after 8).
    const images = gunzipSync(await readFile(MNIST));
    const labels = gunzipSync(await readFile(join(SHARED, 'mnist/t10k-labels-idx1-ubyte.gz')));
    const notmnist = gunzipSync(await readFile(join(SHARED, 'notmnist/t10k-images-idx3-ubyte.gz')));
    const img = (buf: Buffer, i: number) => buf.subarray(16 + i * 784, 16 + (i + 1) * 784);
    const codec = imageFrameCodec();
    const kinds = new Map<string, number>();
    let nextIn = 0;
    for (const m of msgs) {
      const f = codec.decode(m.value);
      expect(m.key?.toString()).toBe(f.id);
      expect([f.width, f.height, f.channels, f.pixels.length]).toEqual([28, 28, 1, 784]);
      const kind = h(m, 'ood-kind') as string;
      kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
      const idx = Number(h(m, 'source-index'));
      if (kind === 'none') {
        expect(h(m, 'ood')).toBe('0');
        expect(idx).toBe(nextIn++); // in-distribution frames walk the file in order
        expect(Buffer.compare(Buffer.from(f.pixels), img(images, idx))).toBe(0);
        expect(h(m, 'label')).toBe(String(labels[8 + idx]));
        expect(f.label).toBe(labels[8 + idx]);
        expect(f.ood_kind).toBeNull();
      } else {
        expect(h(m, 'ood')).toBe('1');
        expect(f.ood_kind).toBe(kind);
        if (kind === 'hflip') {
          const src = img(images, idx);
          for (const [r, c] of [
            [0, 0],
            [5, 3],
            [14, 20],
            [27, 27],
          ])
            expect(f.pixels[r * 28 + (27 - c)]).toBe(src[r * 28 + c]);
        } else if (kind === 'notmnist') {
          expect(Buffer.compare(Buffer.from(f.pixels), img(notmnist, idx))).toBe(0);
        } else {
          expect(kind).toBe('uniform');
        }
      }
    }
    const ood = n - (kinds.get('none') ?? 0);
    const sd = Math.sqrt(n * ratio * (1 - ratio));
    expect(Math.abs(ood - n * ratio)).toBeLessThan(4 * sd);
    for (const k of ['notmnist', 'uniform', 'hflip'])
      expect(kinds.get(k) ?? 0).toBeGreaterThan(ood / 3 - 4 * Math.sqrt(ood / 3));
    expect(Object.fromEntries(kinds)).toEqual(s.byKind);
  });

  it('colour frames [n, h, w, c]: channels kept, flips move whole pixels, noise has every channel; grayscale OoD sets refused', async () => {
    const [n, hh, ww, cc] = [40, 6, 8, 3];
    const data = Uint8Array.from({ length: n * hh * ww * cc }, (_, i) => (i * 7 + (i >> 5)) % 256);
    const file = join(tmp, 'colour.idx');
    await writeFile(file, encodeIdx({ type: 'uint8', dims: [n, hh, ww, cc], data }));
    const topic = await createTopic(kafka, { prefix: 'frames-rgb' });
    const s = await replayFrames({
      kafka,
      file,
      topic,
      oodRatio: 0.3,
      oodKinds: ['vflip', 'gaussian'],
      seed: 3,
      progress: false,
    });
    const msgs = await consumeAll(topic, s.sent);
    const codec = imageFrameCodec();
    const size = hh * ww * cc;
    let sawFlip = 0;
    for (const m of msgs) {
      const f = codec.decode(m.value);
      expect([f.width, f.height, f.channels, f.pixels.length]).toEqual([ww, hh, cc, size]);
      const idx = Number(h(m, 'source-index'));
      const src = data.subarray(idx * size, (idx + 1) * size);
      if (h(m, 'ood-kind') === 'none')
        expect(Buffer.compare(Buffer.from(f.pixels), Buffer.from(src))).toBe(0);
      if (h(m, 'ood-kind') === 'vflip') {
        sawFlip++;
        // pixel (y, x) channel k of the flip is pixel (h−1−y, x) channel k of the source
        for (let y = 0; y < hh; y++)
          for (let x = 0; x < ww; x++)
            for (let k = 0; k < cc; k++)
              expect(f.pixels[(y * ww + x) * cc + k]).toBe(src[((hh - 1 - y) * ww + x) * cc + k]);
      }
    }
    expect(sawFlip).toBeGreaterThan(0);
    await expect(
      replayFrames({
        kafka,
        file,
        topic: randomName('never'),
        limit: 5,
        oodRatio: 0.5,
        oodKinds: ['notmnist'],
        dataDir: SHARED,
        progress: false,
      }),
    ).rejects.toMatchObject({ code: 'REPLAY_SHAPE', message: expect.stringMatching(/grayscale.*3-channel/) });
  });

  it('a missing OoD data set fails before producing anything, with a typed error', async () => {
    const topic = randomName('never');
    await expect(
      replayFrames({
        kafka,
        file: MNIST,
        topic,
        limit: 10,
        oodRatio: 0.5,
        oodKinds: ['fashion'],
        dataDir: tmp,
        progress: false,
      }),
    ).rejects.toMatchObject({ code: 'DATA_NOT_FOUND' });
  });
});

describe('replay records (a declared kind)', () => {
  const spec = parseKindSpec(
    {
      name: 'shop_tx',
      topic: 'shop.tx',
      fields: [
        { name: 'tx_id', type: 'string' },
        { name: 'ts', type: 'timestamp' },
        { name: 'amount', type: 'double' },
        { name: 'tip', type: 'double', optional: true },
        { name: 'mcc', type: 'string' },
        { name: 'card_present', type: 'boolean' },
      ],
      id: 'tx_id',
      eventTime: 'ts',
      features: {
        amount: { type: 'numeric', transform: 'log' },
        tip: { type: 'numeric' },
        mcc: { type: 'categorical' },
        card_present: { type: 'boolean' },
      },
    },
    'test',
  );
  const PYTHON = findPythonAvro();
  // .ci/run installs python3-avro: under CI the independent reader is required, not skipped.
  if (!PYTHON && process.env.CI) throw new Error('CI: no python3 with the avro module');

  /** Row i of the test file, as this test writes it (every third tip empty). */
  const row = (i: number) => ({
    tx_id: `s${i}`,
    ts: Date.UTC(2026, 0, 1) + i * 61_000,
    amount: Math.round((3 + ((i * 37) % 90) / 7) * 100) / 100,
    tip: i % 3 === 0 ? null : Math.round(i * 13) / 100,
    mcc: ['5411', '5812', '7995'][i % 3],
    card_present: i % 4 !== 0,
    // every tenth a fraud, every tenth from the fifth unlabelled (a blank cell: no "label" header)
    label: i % 10 === 9 ? 1 : i % 10 === 4 ? null : 0,
  });
  const N = 30;

  it.skipIf(!PYTHON)(
    "CSV with empty cells → records of the kind's schema, read back by python3-avro: nulls stay null, doubles exact, labels in headers (none where blank)",
    async () => {
      const file = join(tmp, 'shop.csv');
      const lines = ['tx_id,ts,amount,tip,mcc,card_present,label'];
      for (let i = 0; i < N; i++) {
        const r = row(i);
        lines.push(
          [
            r.tx_id,
            new Date(r.ts).toISOString(),
            r.amount,
            r.tip ?? '',
            r.mcc,
            r.card_present,
            r.label ?? '',
          ].join(','),
        );
      }
      await writeFile(file, lines.join('\n') + '\n');
      const topic = await createTopic(kafka, { prefix: 'shop' });
      const s = await replayTabular({ kafka, spec, file, topic, progress: false });
      expect(s).toMatchObject({
        kind: 'shop_tx',
        sent: N,
        stoppedBy: 'end',
        hasLabels: true,
        frauds: 3,
        normals: 24,
      });
      expect(labelSummary(s)).toBe(' (3 fraud, 24 normal, 3 unlabelled)');
      const msgs = await consumeAll(topic, N);
      const schemaFile = join(tmp, 'shop.avsc');
      await writeFile(schemaFile, JSON.stringify(spec.schema));
      const decoded = pythonAvroRead(
        PYTHON!,
        schemaFile,
        msgs.map((m) => m.value!),
      ) as Record<string, unknown>[];
      decoded.forEach((d, i) => {
        const { label, ...fields } = row(i);
        expect(d).toEqual(fields);
        expect(msgs[i].key?.toString()).toBe(fields.tx_id);
        expect(h(msgs[i], 'label')).toBe(label === null ? undefined : String(label));
      });
      expect(decoded.filter((d) => d.tip === null)).toHaveLength(N / 3);
    },
  );

  it('JSONL with --loop: string ids get -p<pass>, the limit is honoured exactly', async () => {
    const file = join(tmp, 'shop.jsonl');
    await writeFile(
      file,
      Array.from({ length: 4 }, (_, i) => {
        const { label: _label, ...r } = row(i);
        return JSON.stringify(r);
      }).join('\n') + '\n',
    );
    const topic = await createTopic(kafka, { prefix: 'shoploop' });
    const s = await replayTabular({
      kafka,
      spec,
      file,
      topic,
      loop: true,
      limit: 10,
      idPrefix: 'x-',
      progress: false,
    });
    expect(s).toMatchObject({ sent: 10, stoppedBy: 'limit', hasLabels: false, frauds: null });
    const msgs = await consumeAll(topic, 10);
    const keys = msgs.map((m) => m.key?.toString());
    expect(keys).toEqual([
      'x-s0',
      'x-s1',
      'x-s2',
      'x-s3',
      'x-s0-p1',
      'x-s1-p1',
      'x-s2-p1',
      'x-s3-p1',
      'x-s0-p2',
      'x-s1-p2',
    ]);
  });

  it('a numeric id refuses --loop and --id-prefix before producing anything', async () => {
    const numeric = parseKindSpec(
      {
        name: 'num_tx',
        topic: 'num.tx',
        fields: [
          { name: 'n', type: 'long' },
          { name: 'amount', type: 'double' },
        ],
        id: 'n',
        features: { amount: { type: 'numeric' } },
      },
      'test',
    );
    const file = join(tmp, 'num.csv');
    await writeFile(file, 'n,amount\n1,2.5\n');
    await expect(
      replayTabular({ kafka, spec: numeric, file, topic: randomName('never'), loop: true, progress: false }),
    ).rejects.toMatchObject({ code: 'REPLAY_NUMERIC_ID' });
  });
});
