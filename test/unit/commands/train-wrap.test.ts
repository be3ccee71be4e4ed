/**
 * `gensemble train --wrap <column:period>` (repeatable; `none` switches a kind's default off): the
 * parser, the kinds' defaults (transactions wraps Time to the time of day, declared tabular kinds wrap
 * nothing), and the wrap that reaches the manifest of a real (tiny) training run.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvalidArgumentError } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, cliDataDir as dataDir, creditCsv as csv } from '../../helpers/cli.js';
import { parseWrapArg, type WrapArg } from '../../../src/commands/args.js';
import { buildModel } from '../../../src/detector/build.js';
import type { FeatureTransform } from '../../../src/engine/spec.js';
import { InputError } from '../../../src/errors.js';
import { framesProfile } from '../../../src/kinds/frames/index.js';
import { tabularProfile } from '../../../src/kinds/tabular/index.js';
import { TIME_OF_DAY_PERIOD, transactionsProfile } from '../../../src/kinds/transactions/index.js';

const mnist = join(dataDir, 'mnist/train-images-idx3-ubyte.gz');

/** Feeds the values through the parser as commander does for a repeated option. */
const parseAll = (...values: string[]): WrapArg | undefined =>
  values.reduce<WrapArg | undefined>((prev, v) => parseWrapArg(v, prev), undefined);

describe('--wrap parsing', () => {
  it('column:period, repeatable; none', () => {
    expect(parseAll('0:86400')).toEqual([{ column: 0, period: 86400 }]);
    expect(parseAll(' 0 : 86400 ', '29:2.5', '3:1e3')).toEqual([
      { column: 0, period: 86400 },
      { column: 29, period: 2.5 },
      { column: 3, period: 1000 },
    ]);
    expect(parseAll('none')).toBe('none');
    expect(parseAll('none', 'none')).toBe('none');
  });

  it('rejects malformed values with one clear InvalidArgumentError', () => {
    const bad: Array<[string[], RegExp]> = [
      [['86400'], /--wrap takes column:period \(e\.g\. 0:86400\) or none, got "86400"/],
      [['0:1:2'], /--wrap takes column:period/],
      [[''], /--wrap takes column:period/],
      [['nonee'], /--wrap takes column:period/],
      [['a:86400'], /--wrap column must be a non-negative integer, got "a"/],
      [['1.5:86400'], /--wrap column must be a non-negative integer, got "1\.5"/],
      [['-1:86400'], /--wrap column must be a non-negative integer, got "-1"/],
      [[':86400'], /--wrap column must be a non-negative integer, got ""/],
      [['0:'], /--wrap period must be a number > 0, got ""/],
      [['0:0'], /--wrap period must be a number > 0, got "0"/],
      [['0:-86400'], /--wrap period must be a number > 0, got "-86400"/],
      [['0:day'], /--wrap period must be a number > 0, got "day"/],
      [['0:Infinity'], /--wrap period must be a number > 0/],
      [['0:1e-60'], /--wrap 0:1e-60: .*also in float32/],
      [['0:86400', '0:3600'], /--wrap 0:3600: wrap names column 0 more than once/],
      [['none', '0:86400'], /--wrap none cannot be combined with --wrap column:period/],
      [['0:86400', 'none'], /--wrap none cannot be combined with --wrap column:period/],
    ];
    for (const [values, re] of bad) {
      expect(() => parseAll(...values), values.join(' ')).toThrow(InvalidArgumentError);
      expect(() => parseAll(...values), values.join(' ')).toThrow(re);
    }
  });
});

describe("kinds' default wrap", () => {
  it('transactions wraps Time (column 0) to the time of day; declared tabular kinds and frames wrap nothing', () => {
    expect(TIME_OF_DAY_PERIOD).toBe(86400);
    expect(transactionsProfile.defaultConfig(30).wrap).toEqual([{ column: 0, period: 86400 }]);
    expect(transactionsProfile.defaultConfig(30).transform).toBe('standard');
    expect(transactionsProfile.defaultConfig(30).likelihood).toBe('gaussian');
    expect(tabularProfile.defaultConfig(12).wrap).toBeUndefined();
    expect(framesProfile.defaultConfig(784).wrap).toBeUndefined();
  });

  it('buildModel refuses a wrap with the scale transform (before any training)', async () => {
    const d = 4;
    const raw = new Float32Array(100 * d).map((_, i) => i % 255);
    const err = await buildModel({
      kind: 'frames',
      profile: framesProfile,
      raw,
      n: 100,
      d,
      model: {
        arch: { kind: 'mlp', inputDim: d, encoderHidden: [3], decoderHidden: [3], latentDim: 2 },
        wrap: [{ column: 0, period: 10 }],
      },
      members: 1,
      steps: 1,
      outDir: join(tmpdir(), 'gensemble-never-written'),
    }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(InputError);
    expect((err as InputError).code).toBe('BUILD_WRAP');
  });
});

describe('gensemble train --wrap (CLI)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gensemble-cli-wrap-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** A 1-member, 5-step transactions model on the first 600 rows of the credit subset. */
  async function trainTiny(name: string, extra: string[]): Promise<FeatureTransform> {
    const out = join(dir, name);
    const tiny = ['--members', '1', '--steps', '5', '--limit', '600', '--no-progress'];
    const t = await cli(['train', '--kind', 'transactions', '--data', csv, '--out', out, ...tiny, ...extra]);
    expect(t.code, t.stderr).toBe(0);
    const m = JSON.parse(await readFile(join(out, 'manifest.json'), 'utf8')) as {
      transform: FeatureTransform;
    };
    return m.transform;
  }

  it("the kind's default wraps Time; --wrap replaces it; --wrap none switches it off", async () => {
    const def = await trainTiny('default', []);
    expect(def.kind).toBe('standard');
    if (def.kind !== 'standard') return;
    expect(def.wrap).toEqual([{ column: 0, period: 86400 }]);
    expect(def.mean[0]).toBeGreaterThanOrEqual(0);
    expect(def.mean[0]).toBeLessThan(86400);

    // the Bernoulli likelihood reads min-max features; the wrap goes along
    const own = await trainTiny('own', ['--wrap', '29:50', '--wrap', '0:3600', '--likelihood', 'bernoulli']);
    expect(own.kind).toBe('minmax');
    if (own.kind !== 'minmax') return;
    expect(own.wrap).toEqual([
      { column: 0, period: 3600 },
      { column: 29, period: 50 },
    ]);
    expect(own.max[0]).toBeLessThan(3600);

    const none = await trainTiny('none', ['--wrap', 'none']);
    expect(none.kind).toBe('standard');
    expect('wrap' in none).toBe(false);
  }, 300_000);

  it('rejects bad --wrap values with one line and no stack trace', async () => {
    const base = [
      'train',
      '--kind',
      'transactions',
      '--data',
      csv,
      '--out',
      join(dir, 'x'),
      '--limit',
      '100',
    ];
    const cases: Array<[string[], number, RegExp]> = [
      [[...base, '--wrap', '0-86400'], 2, /--wrap takes column:period \(e\.g\. 0:86400\) or none/],
      [[...base, '--wrap', 'x:86400'], 2, /--wrap column must be a non-negative integer/],
      [[...base, '--wrap', '0:0'], 2, /--wrap period must be a number > 0/],
      [[...base, '--wrap', 'none', '--wrap', '0:60'], 2, /--wrap none cannot be combined/],
      [[...base, '--wrap', '30:60'], 1, /--wrap column 30 is out of range: records have 30 columns/],
      [
        [
          'train',
          '--kind',
          'frames',
          '--data',
          mnist,
          '--out',
          join(dir, 'y'),
          '--limit',
          '100',
          '--wrap',
          '0:10',
        ],
        1,
        /--wrap needs a minmax or standard transform/,
      ],
    ];
    for (const [args, code, re] of cases) {
      const r = await cli(args);
      expect(r.code, args.join(' ')).toBe(code);
      expect(r.stderr, args.join(' ')).toMatch(re);
      expect(r.stderr, args.join(' ')).not.toMatch(/\n\s+at /);
    }
  }, 120_000);
});
