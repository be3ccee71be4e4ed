/**
 * A field that never varied in the training data (a boolean always true, the one merchant category
 * seen, an amount that was always the same) must still count when it varies in a scored record. Before
 * the minmax transform's constant indicators (spec.ts CONSTANT_GAIN), such a feature was multiplied by
 * 0 in a Bernoulli model: a card-not-present transaction in an unseen category at 500 times the amount
 * scored exactly like a normal one and was not flagged. Both likelihoods are checked: the declared
 * kinds' default Gaussian on standardised features and the Bernoulli on min-max features; both
 * transforms make such a feature an indicator (0 at its training value, 1 elsewhere), and the scores
 * stay finite (the standard transform's floored std used to send a large deviation beyond float32).
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = resolve(import.meta.dirname, '../../..');
const bin = join(root, 'bin/gensemble.js');

describe('constant training features (declared kind, Bernoulli on min-max features)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gensemble-constant-'));
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it.each([
    ['the default (mixed, here the Gaussian alone: no 0/1 column varies in training)', [], 'standard'],
    ['bernoulli', ['--likelihood', 'bernoulli'], 'minmax'],
  ])(
    '%s: a record off a constant feature is flagged; the training value is not',
    async (name, flags, transform) => {
      const kinds = join(dir, 'kinds');
      await mkdir(kinds, { recursive: true });
      await writeFile(
        join(kinds, 'shop.json'),
        JSON.stringify({
          name: 'shop',
          topic: 'shop.tx',
          fields: [
            { name: 'tx_id', type: 'string' },
            { name: 'amount', type: 'double' },
            { name: 'fee', type: 'double' },
            { name: 'mcc', type: 'string' },
            { name: 'card_present', type: 'boolean' },
          ],
          id: 'tx_id',
          features: {
            amount: { type: 'numeric', transform: 'log', scale: 'robust' },
            fee: { type: 'numeric' },
            mcc: { type: 'categorical' },
            card_present: { type: 'boolean' },
          },
        }),
      );
      // amount varies; fee, mcc and card_present never do in training
      const train = Array.from({ length: 400 }, (_, i) =>
        JSON.stringify({
          tx_id: `t${i}`,
          amount: 5 + ((i * 37) % 200) / 4,
          fee: 0.3,
          mcc: '5411',
          card_present: true,
        }),
      );
      const data = join(dir, 'train.jsonl');
      await writeFile(data, train.join('\n') + '\n');
      const model = join(dir, `model-${transform}`);
      const env = { ...process.env, KINDS_DIR: kinds };
      await run(
        process.execPath,
        [
          bin,
          'train',
          '--kind',
          'shop',
          '--data',
          data,
          '--out',
          model,
          '--members',
          '2',
          '--steps',
          '300',
          ...flags,
        ],
        { cwd: root, env, timeout: 120_000 },
      );
      const manifest = JSON.parse(await readFile(join(model, 'manifest.json'), 'utf8')) as {
        transform: { kind: string; constant?: string; min: number[]; max: number[] };
        thresholds: Record<string, number>;
      };
      expect(manifest.transform.kind).toBe(transform);
      // both transforms mark their constant features as indicators
      expect(manifest.transform.constant).toBe('indicator');

      const base = { amount: 20, fee: 0.3, mcc: '5411', card_present: true };
      const records = [
        { tx_id: 'normal', ...base },
        { tx_id: 'not-present', ...base, card_present: false },
        { tx_id: 'unseen-mcc', ...base, mcc: '7995' },
        { tx_id: 'fee', ...base, fee: 12 },
      ];
      const input = join(dir, `score-${transform}.jsonl`);
      await writeFile(input, records.map((r) => JSON.stringify(r)).join('\n') + '\n');
      const out = join(dir, `scores-${transform}.jsonl`);
      await run(process.execPath, [bin, 'score', '--model', model, '--input', input, '--out', out], {
        cwd: root,
        env,
        timeout: 120_000,
      });
      const rows = (await readFile(out, 'utf8'))
        .trim()
        .split('\n')
        .map(
          (l) =>
            JSON.parse(l) as { id: string; score: number | null; flagged: boolean; logp_mean: number | null },
        );
      const by = new Map(rows.map((r) => [r.id, r]));
      expect(by.get('normal')!.flagged).toBe(false);
      for (const id of ['not-present', 'unseen-mcc', 'fee']) {
        const r = by.get(id)!;
        expect(r.flagged, id).toBe(true);
        // the density itself sees it, not only the rule's feature statistic
        // and finitely: a non-finite score would be dead-lettered by the stream (NON_FINITE_SCORE), not
        // flagged (before the standard transform's indicator, the Gaussian's (12 − 0.3)/1e-6 fee did)
        expect(Number.isFinite(r.score), `${id} score ${r.score}`).toBe(true);
        expect(r.logp_mean, id).not.toBeNull();
        expect(r.logp_mean!, id).toBeLessThan(by.get('normal')!.logp_mean! - 1);
      }
    },
    120_000,
  );
});
