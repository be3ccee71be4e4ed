import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import avro from 'avsc';
import { describe, expect, it } from 'vitest';
import { KindDataError, KindSpecError } from '../../../../src/kinds/errors.js';
import {
  encodeTabularRecord,
  encodeTabularRecords,
  encoderDim,
  fitTabularEncoder,
  parseFittedEncoder,
  signedLog1p,
  type FittedTabularEncoder,
} from '../../../../src/kinds/tabular/encoder.js';
import { kindAvroType, parseKindSpec, type TabularKindSpec } from '../../../../src/kinds/tabular/spec.js';
import { ValidationError } from '../../../../src/schemas/errors.js';
import { tabularKind } from '../../../../src/kinds/tabular/index.js';
import type { CheckpointManifest, JsonValue } from '../../../../src/engine/checkpoint.js';

const SRC = 'kinds/shop_tx.json';

function makeSpec(features: Record<string, unknown>, extraFields: unknown[] = []): TabularKindSpec {
  return parseKindSpec(
    {
      name: 'shop_tx',
      topic: 'shop-tx',
      fields: [
        { name: 'tx_id', type: 'string' },
        { name: 'amount', type: 'double' },
        { name: 'mcc', type: 'string', optional: true },
        { name: 'code', type: 'int' },
        { name: 'card_present', type: 'boolean' },
        { name: 'ts', type: 'timestamp' },
        ...extraFields,
      ],
      id: 'tx_id',
      eventTime: 'ts',
      features,
    },
    SRC,
  );
}

const T0 = Date.UTC(2024, 0, 1, 6, 0, 0); // Monday 2024-01-01T06:00Z

function rec(i: number, over: Record<string, unknown> = {}): Record<string, unknown> {
  return { tx_id: `t${i}`, amount: i, mcc: 'a', code: 1, card_present: false, ts: T0, ...over };
}

/** Encodes one record into a fresh row. */
function row(spec: TabularKindSpec, enc: FittedTabularEncoder, r: Record<string, unknown>): number[] {
  const out = new Float32Array(encoderDim(enc));
  encodeTabularRecord(spec, enc, r, out, 0);
  return Array.from(out);
}

describe('numeric features', () => {
  it('robust scaling uses the median and the (linearly interpolated) IQR', () => {
    const spec = makeSpec({ amount: { type: 'numeric', scale: 'robust' } });
    const amounts = [7, 1, 100, 3, 5, 2, 6, 4];
    const enc = fitTabularEncoder(
      spec,
      amounts.map((a, i) => rec(i, { amount: a })),
    );
    // sorted 1 2 3 4 5 6 7 100: median (4+5)/2 = 4.5; Q1 at 7·0.25 = 1.75 → 2.75; Q3 at 5.25 → 6.25; IQR 3.5
    expect(enc.features[0]).toMatchObject({ type: 'numeric', center: 4.5, divisor: 3.5 });
    expect(enc.columns).toEqual(['amount']);
    expect(row(spec, enc, rec(0, { amount: 100 }))[0]).toBeCloseTo((100 - 4.5) / 3.5, 5);
    expect(row(spec, enc, rec(0, { amount: 4.5 }))[0]).toBe(0);
  });

  it('robust scaling with IQR 0 divides by 1', () => {
    const spec = makeSpec({ amount: { type: 'numeric', scale: 'robust' } });
    const enc = fitTabularEncoder(
      spec,
      [5, 5, 5, 5, 9].map((a, i) => rec(i, { amount: a })),
    );
    expect(enc.features[0]).toMatchObject({ center: 5, divisor: 1 });
    expect(row(spec, enc, rec(0, { amount: 9 }))[0]).toBe(4);
  });

  it('standard scaling uses the mean and the population std (std 0 → 1)', () => {
    const spec = makeSpec({ amount: { type: 'numeric' } });
    const enc = fitTabularEncoder(
      spec,
      [2, 4, 4, 4, 5, 5, 7, 9].map((a, i) => rec(i, { amount: a })),
    );
    expect(enc.features[0]).toMatchObject({ scale: 'standard', center: 5, divisor: 2 });
    expect(row(spec, enc, rec(0, { amount: 9 }))[0]).toBe(2);
    const flat = fitTabularEncoder(
      spec,
      [3, 3].map((a, i) => rec(i, { amount: a })),
    );
    expect(flat.features[0]).toMatchObject({ center: 3, divisor: 1 });
  });

  it('the log transform is sign(x)·log1p(|x|), for negatives and zero too', () => {
    expect(signedLog1p(-9)).toBeCloseTo(-Math.log(10), 12);
    expect(signedLog1p(0)).toBe(0);
    expect(signedLog1p(Math.E - 1)).toBeCloseTo(1, 12);
    const spec = makeSpec({ amount: { type: 'numeric', transform: 'log', scale: 'none' } });
    const enc = fitTabularEncoder(spec, [rec(0, { amount: -9 }), rec(1, { amount: 99 })]);
    expect(row(spec, enc, rec(0, { amount: -9 }))[0]).toBeCloseTo(-Math.log(10), 6);
    expect(row(spec, enc, rec(0, { amount: 99 }))[0]).toBeCloseTo(Math.log(100), 6);
    expect(row(spec, enc, rec(0, { amount: 0 }))[0]).toBe(0);
    // With standard scaling, the statistics are of the transformed values: ±ln 10 → mean 0, std ln 10.
    const spec2 = makeSpec({ amount: { type: 'numeric', transform: 'log' } });
    const enc2 = fitTabularEncoder(spec2, [rec(0, { amount: -9 }), rec(1, { amount: 9 })]);
    expect(enc2.features[0]).toMatchObject({ center: 0 });
    expect((enc2.features[0] as { divisor: number }).divisor).toBeCloseTo(Math.log(10), 12);
    expect(row(spec2, enc2, rec(0, { amount: 9 }))[0]).toBeCloseTo(1, 6);
  });

  it('bigint values (avsc longs) are accepted', () => {
    const spec = makeSpec({ amount: { type: 'numeric', scale: 'none' } });
    const enc = fitTabularEncoder(spec, [rec(0)]);
    expect(row(spec, enc, rec(0, { amount: 42n }))[0]).toBe(42);
  });
});

describe('categorical features', () => {
  it('one-hot keeps the most frequent values (ties by value order); the rest, unknown and null go to __other__', () => {
    const spec = makeSpec({ mcc: { type: 'categorical', maxCategories: 2 } });
    const mccs = ['b', 'c', 'a', 'c', 'b', 'c', 'a', null, 'd'];
    const enc = fitTabularEncoder(
      spec,
      mccs.map((m, i) => rec(i, { mcc: m })),
    );
    // c:3, then a:2 and b:2 tie → a by value order.
    expect(enc.columns).toEqual(['mcc=c', 'mcc=a', 'mcc=__other__']);
    expect(row(spec, enc, rec(0, { mcc: 'c' }))).toEqual([1, 0, 0]);
    expect(row(spec, enc, rec(0, { mcc: 'a' }))).toEqual([0, 1, 0]);
    expect(row(spec, enc, rec(0, { mcc: 'b' }))).toEqual([0, 0, 1]);
    expect(row(spec, enc, rec(0, { mcc: 'never-seen' }))).toEqual([0, 0, 1]);
    expect(row(spec, enc, rec(0, { mcc: null }))).toEqual([0, 0, 1]);
    const missing = rec(0);
    delete missing.mcc;
    expect(row(spec, enc, missing)).toEqual([0, 0, 1]);
  });

  it('int categories tie-break numerically and match numbers and numeric strings', () => {
    const spec = makeSpec({ code: { type: 'categorical', maxCategories: 2 } });
    const enc = fitTabularEncoder(
      spec,
      [10, 9, 100].map((c, i) => rec(i, { code: c })),
    );
    expect(enc.columns).toEqual(['code=9', 'code=10', 'code=__other__']);
    expect(row(spec, enc, rec(0, { code: 10 }))).toEqual([0, 1, 0]);
    expect(row(spec, enc, rec(0, { code: '9' }))).toEqual([1, 0, 0]);
    expect(row(spec, enc, rec(0, { code: 100 }))).toEqual([0, 0, 1]);
  });

  it('frequency encoding is ln(count / N); null has its own frequency; unknown is ln(0.5 / N)', () => {
    const spec = makeSpec({ mcc: { type: 'categorical', encoding: 'frequency' } });
    const mccs = ['x', 'x', 'x', 'x', 'x', 'y', 'y', 'y', null, null];
    const enc = fitTabularEncoder(
      spec,
      mccs.map((m, i) => rec(i, { mcc: m })),
    );
    expect(enc.columns).toEqual(['mcc:freq']);
    expect(row(spec, enc, rec(0, { mcc: 'x' }))[0]).toBeCloseTo(Math.log(5 / 10), 6);
    expect(row(spec, enc, rec(0, { mcc: 'y' }))[0]).toBeCloseTo(Math.log(3 / 10), 6);
    expect(row(spec, enc, rec(0, { mcc: null }))[0]).toBeCloseTo(Math.log(2 / 10), 6);
    expect(row(spec, enc, rec(0, { mcc: 'z' }))[0]).toBeCloseTo(Math.log(0.5 / 10), 6);
  });

  it('frequency with values beyond maxCategories: those get their mean frequency', () => {
    const spec = makeSpec({ mcc: { type: 'categorical', encoding: 'frequency', maxCategories: 1 } });
    const mccs = ['x', 'x', 'x', 'x', 'y', 'y', 'z', 'w'];
    const enc = fitTabularEncoder(
      spec,
      mccs.map((m, i) => rec(i, { mcc: m })),
    );
    expect(row(spec, enc, rec(0, { mcc: 'x' }))[0]).toBeCloseTo(Math.log(4 / 8), 6);
    // dropped: y (2), w (1), z (1) → mean count 4/3
    expect(row(spec, enc, rec(0, { mcc: 'y' }))[0]).toBeCloseTo(Math.log(4 / 3 / 8), 6);
    expect(row(spec, enc, rec(0, { mcc: 'unseen' }))[0]).toBeCloseTo(Math.log(4 / 3 / 8), 6);
    expect(row(spec, enc, rec(0, { mcc: null }))[0]).toBeCloseTo(Math.log(0.5 / 8), 6);
  });
});

describe('boolean and timestamp features', () => {
  it('boolean is 0/1', () => {
    const spec = makeSpec({ card_present: { type: 'boolean' } });
    const enc = fitTabularEncoder(spec, [rec(0)]);
    expect(enc.columns).toEqual(['card_present']);
    expect(row(spec, enc, rec(0, { card_present: true }))).toEqual([1]);
    expect(row(spec, enc, rec(0, { card_present: false }))).toEqual([0]);
  });

  it('timestamp is sin/cos of the UTC hour of day and day of week', () => {
    const spec = makeSpec({ ts: { type: 'timestamp' } });
    const enc = fitTabularEncoder(spec, [rec(0)]);
    expect(enc.columns).toEqual(['ts:hour_sin', 'ts:hour_cos', 'ts:dow_sin', 'ts:dow_cos']);
    // 2024-01-01T06:00Z: Monday (getUTCDay 1), hour 6 → sin(2π·6/24) = 1.
    expect(new Date(T0).getUTCDay()).toBe(1);
    const v = row(spec, enc, rec(0, { ts: T0 }));
    expect(v[0]).toBeCloseTo(1, 6);
    expect(v[1]).toBeCloseTo(0, 6);
    expect(v[2]).toBeCloseTo(Math.sin((2 * Math.PI) / 7), 6);
    expect(v[3]).toBeCloseTo(Math.cos((2 * Math.PI) / 7), 6);
    // Date and number give the same; fractional hours count (06:30 → 6.5 h).
    expect(row(spec, enc, rec(0, { ts: new Date(T0) }))).toEqual(v);
    const half = row(spec, enc, rec(0, { ts: T0 + 30 * 60_000 }));
    expect(half[0]).toBeCloseTo(Math.sin((2 * Math.PI * 6.5) / 24), 6);
    // Before 1970: 1969-12-31T18:00Z is a Wednesday, hour 18 → sin = −1.
    const t = Date.UTC(1969, 11, 31, 18);
    expect(new Date(t).getUTCDay()).toBe(3);
    const w = row(spec, enc, rec(0, { ts: t }));
    expect(w[0]).toBeCloseTo(-1, 6);
    expect(w[2]).toBeCloseTo(Math.sin((2 * Math.PI * 3) / 7), 6);
    expect(w[3]).toBeCloseTo(Math.cos((2 * Math.PI * 3) / 7), 6);
  });
});

describe('missing values (an optional field, missing "indicator")', () => {
  const extra = [
    { name: 'fee', type: 'double', optional: true },
    { name: 'vip', type: 'boolean', optional: true },
    { name: 'seen', type: 'timestamp', optional: true },
  ];
  const features = {
    fee: { type: 'numeric', transform: 'log', scale: 'robust' },
    vip: { type: 'boolean' },
    seen: { type: 'timestamp' },
  };
  const spec = makeSpec(features, extra);
  const fees = [3, null, 1, 100, null, 7, 2, 5, 4, 6];
  const vips = [true, false, null, true, false, false, null, true, false, false];
  const seens = [T0, null, T0 + 3_600_000, null, T0 + 90_000_000, T0, T0 + 7_200_000, null, T0, T0 + 1];
  const train = fees.map((fee, i) => rec(i, { fee, vip: vips[i], seen: seens[i] }));
  const enc = fitTabularEncoder(spec, train);

  /** Quartile of sorted values, numpy's default, in float64 (independent of the encoder's helper). */
  const q = (xs: number[], p: number): number => {
    const v = [...xs].sort((a, b) => a - b);
    const h = (v.length - 1) * p;
    const lo = Math.floor(h);
    return v[lo] + (h - lo) * (v[Math.min(lo + 1, v.length - 1)] - v[lo]);
  };

  it('adds a `:missing` column after each such feature', () => {
    expect(enc.columns).toEqual([
      'fee',
      'fee:missing',
      'vip',
      'vip:missing',
      'seen:hour_sin',
      'seen:hour_cos',
      'seen:dow_sin',
      'seen:dow_cos',
      'seen:missing',
    ]);
  });

  it('fits scaling on the records that have the value; a missing one takes the median and a 1', () => {
    const present = fees.filter((x): x is number => x !== null).map((x) => Math.log1p(x));
    const med = q(present, 0.5);
    const iqr = q(present, 0.75) - q(present, 0.25);
    const f = enc.features[0];
    expect(f).toMatchObject({ type: 'numeric', center: med, divisor: iqr, missingFill: [0] });
    const base = { vip: true, seen: T0 };
    expect(row(spec, enc, rec(0, { ...base, fee: 100 })).slice(0, 2)).toEqual([
      Math.fround((Math.log1p(100) - med) / iqr),
      0,
    ]);
    expect(row(spec, enc, rec(0, { ...base, fee: null })).slice(0, 2)).toEqual([0, 1]);
    const absent = rec(0, base);
    delete absent.fee;
    expect(row(spec, enc, absent).slice(0, 2)).toEqual([0, 1]);
  });

  it('standard scaling: the fill is the encoded median, not 0', () => {
    const s2 = makeSpec({ fee: { type: 'numeric' } }, extra);
    const e2 = fitTabularEncoder(s2, train);
    const present = fees.filter((x): x is number => x !== null);
    const mean = present.reduce((a, b) => a + b, 0) / present.length;
    const sd = Math.sqrt(present.reduce((a, b) => a + (b - mean) ** 2, 0) / present.length);
    const f = e2.features[0] as { center: number; divisor: number; missingFill: number[] };
    expect(f.center).toBeCloseTo(mean, 12);
    expect(f.divisor).toBeCloseTo(sd, 12);
    expect(f.missingFill[0]).toBeCloseTo((q(present, 0.5) - mean) / sd, 12);
    expect(row(s2, e2, rec(0, { fee: null }))).toEqual([Math.fround(f.missingFill[0]), 1]);
  });

  it('boolean: the share of true; timestamp: the mean of each column', () => {
    const v = vips.filter((x) => x !== null);
    const share = v.filter((x) => x).length / v.length;
    expect(enc.features[1]).toEqual({ name: 'vip', type: 'boolean', missingFill: [share] });
    const cols = seens
      .filter((x): x is number => x !== null)
      .map((ms) => {
        const h = ((ms % 86_400_000) / 3_600_000) * ((2 * Math.PI) / 24);
        const d = ((Math.floor(ms / 86_400_000) + 4) % 7) * ((2 * Math.PI) / 7);
        return [Math.sin(h), Math.cos(h), Math.sin(d), Math.cos(d)];
      });
    const means = [0, 1, 2, 3].map((j) => cols.reduce((a, c) => a + c[j], 0) / cols.length);
    const fill = (enc.features[2] as { missingFill: number[] }).missingFill;
    means.forEach((m, j) => expect(fill[j]).toBeCloseTo(m, 12));
    const r = row(spec, enc, rec(0, { fee: 3, vip: null, seen: null }));
    expect(r.slice(2)).toEqual([Math.fround(share), 1, ...fill.map(Math.fround), 1]);
    const p = row(spec, enc, rec(0, { fee: 3, vip: false, seen: T0 }));
    expect(p[3]).toBe(0);
    expect(p[8]).toBe(0);
    expect(p[4]).toBeCloseTo(1, 6); // 06:00 → sin(π/2)
  });

  it('a feature null in every training record is a KindDataError naming it', () => {
    expect(() =>
      fitTabularEncoder(
        spec,
        train.map((r) => ({ ...r, vip: null })),
      ),
    ).toThrow(KindDataError);
    expect(() =>
      fitTabularEncoder(
        spec,
        train.map((r) => ({ ...r, vip: null })),
      ),
    ).toThrow(/feature vip is null in every training record/);
  });

  it('a model fitted before missing values were encoded rejects a null (and still scores the rest)', () => {
    const old = JSON.parse(JSON.stringify(enc)) as FittedTabularEncoder;
    for (const f of old.features) delete (f as { missingFill?: number[] }).missingFill;
    old.columns = old.columns.filter((c) => !c.endsWith(':missing'));
    const back = parseFittedEncoder(old, spec);
    const out = new Float32Array(encoderDim(back)).fill(7);
    let err: unknown;
    try {
      encodeTabularRecord(spec, back, rec(0, { fee: null, vip: true, seen: T0 }), out, 0);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).reason).toBe('INVALID_RECORD');
    expect((err as ValidationError).field).toBe('fee');
    expect((err as ValidationError).message).toContain('retrain');
    expect(Array.from(out)).toEqual(new Array(encoderDim(back)).fill(7)); // nothing half-written
    expect(row(spec, back, rec(0, { fee: 3, vip: true, seen: T0 }))).toHaveLength(6);
  });

  it('a stored fill of the wrong length or not finite is a KindSpecError', () => {
    const bad = JSON.parse(JSON.stringify(enc)) as { features: { missingFill?: unknown }[] };
    bad.features[2].missingFill = [0, 0];
    expect(() => parseFittedEncoder(bad, spec)).toThrow(KindSpecError);
    const nan = JSON.parse(JSON.stringify(enc)) as { features: { missingFill?: unknown }[] };
    nan.features[0].missingFill = [null];
    expect(() => parseFittedEncoder(nan, spec)).toThrow(KindSpecError);
    expect(parseFittedEncoder(JSON.parse(JSON.stringify(enc)), spec)).toEqual(enc);
  });
});

describe('whole encoder', () => {
  const features = {
    amount: { type: 'numeric', transform: 'log', scale: 'robust' },
    mcc: { type: 'categorical', maxCategories: 3 },
    code: { type: 'categorical', encoding: 'frequency' },
    card_present: { type: 'boolean' },
    ts: { type: 'timestamp' },
  };
  const spec = makeSpec(features);
  const train = Array.from({ length: 50 }, (_, i) =>
    rec(i, {
      amount: ((i * 37) % 91) - 20,
      mcc: ['a', 'b', 'c', 'd', null][i % 5],
      code: i % 7,
      card_present: i % 3 === 0,
      ts: T0 + i * 3_599_999,
    }),
  );
  const enc = fitTabularEncoder(spec, train);

  it('columns in declaration order', () => {
    expect(enc.columns).toEqual([
      'amount',
      'mcc=a',
      'mcc=b',
      'mcc=c',
      'mcc=__other__',
      'code:freq',
      'card_present',
      'ts:hour_sin',
      'ts:hour_cos',
      'ts:dow_sin',
      'ts:dow_cos',
    ]);
    expect(encoderDim(enc)).toBe(11);
  });

  it('JSON round trip gives the same encodings', () => {
    const back = parseFittedEncoder(JSON.parse(JSON.stringify(enc)), spec);
    expect(back).toEqual(enc);
    const a = encodeTabularRecords(spec, enc, train);
    const b = encodeTabularRecords(spec, back, train);
    expect(a.length).toBe(50 * 11);
    expect(Array.from(b)).toEqual(Array.from(a));
    // And row i of the batch equals a single-record encoding.
    expect(Array.from(a.subarray(7 * 11, 8 * 11))).toEqual(row(spec, enc, train[7]));
  });

  it('a stored encoder for another declaration or a malformed one is a KindSpecError', () => {
    const json = JSON.parse(JSON.stringify(enc)) as FittedTabularEncoder;
    const other = makeSpec({ ...features, amount: { type: 'numeric' } });
    let err: unknown;
    try {
      parseFittedEncoder(json, other);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(KindSpecError);
    expect((err as Error).message).toBe(
      `${SRC}: model was trained for a different declaration of kind shop_tx: feature "amount" was numeric (transform log, scale robust), the declaration says numeric (transform none, scale standard)`,
    );
    const fewer = makeSpec({ amount: features.amount });
    expect(() => parseFittedEncoder(json, fewer)).toThrow(
      /different declaration of kind shop_tx: it has features/,
    );
    expect(() => parseFittedEncoder({ ...json, kind: 'x' }, spec)).toThrow(/the model is for kind "x"/);
    expect(() => parseFittedEncoder({ ...json, version: 2 }, spec)).toThrow(KindSpecError);
    expect(() => parseFittedEncoder({ ...json, columns: json.columns.slice(1) }, spec)).toThrow(
      /columns do not follow/,
    );
    const bad = JSON.parse(JSON.stringify(enc)) as { features: Record<string, unknown>[] };
    bad.features[0].divisor = 0;
    expect(() => parseFittedEncoder(bad, spec)).toThrow(/malformed: features\[0\]/);
    // Encoding with a mismatched spec is refused as well.
    expect(() => encodeTabularRecords(other, enc, train)).toThrow(KindSpecError);
  });

  it('writes only its row; a record that fails validation leaves the output untouched', () => {
    const dim = encoderDim(enc);
    const out = new Float32Array(3 * dim).fill(-7);
    encodeTabularRecord(spec, enc, train[1], out, 1);
    expect(Array.from(out.subarray(0, dim)).every((x) => x === -7)).toBe(true);
    expect(Array.from(out.subarray(2 * dim)).every((x) => x === -7)).toBe(true);
    expect(Array.from(out.subarray(dim, 2 * dim))).toEqual(row(spec, enc, train[1]));
    const before = Array.from(out);
    expect(() => encodeTabularRecord(spec, enc, { ...train[2], amount: NaN }, out, 2)).toThrow(
      ValidationError,
    );
    expect(Array.from(out)).toEqual(before);
    expect(() => encodeTabularRecord(spec, enc, train[2], out, 3)).toThrow(RangeError);
  });

  it('batch encoding names the failing record', () => {
    const bad = [...train.slice(0, 3), { ...train[3], amount: null }];
    let err: unknown;
    try {
      encodeTabularRecords(spec, enc, bad);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).reason).toBe('INVALID_RECORD');
    expect((err as ValidationError).field).toBe('amount');
    expect((err as Error).message).toMatch(/^INVALID_RECORD: record 3: amount is null/);
  });

  it('fitting on a bad record or on nothing is a KindDataError', () => {
    expect(() => fitTabularEncoder(spec, [])).toThrow(KindDataError);
    expect(() => fitTabularEncoder(spec, [...train, rec(99, { amount: Infinity })])).toThrow(
      /training record 50 \(tx_id "t99"\): NON_FINITE: amount is Infinity/,
    );
  });

  it('Avro round trip: avsc-decoded records encode like the plain objects', () => {
    const type = avro.Type.forSchema(spec.schema);
    expect(kindAvroType(spec).schema()).toEqual(type.schema());
    const decoded = train.map((r) => type.fromBuffer(type.toBuffer(r)) as Record<string, unknown>);
    expect(decoded[4].mcc).toBeNull();
    expect(typeof decoded[0].ts).toBe('number');
    expect(Array.from(encodeTabularRecords(spec, enc, decoded))).toEqual(
      Array.from(encodeTabularRecords(spec, enc, train)),
    );
    // With a timestamp-millis logical type registered, avsc decodes Dates: same features.
    class DateType extends avro.types.LogicalType {
      override _fromValue(v: number): Date {
        return new Date(v);
      }
      override _toValue(v: unknown): number | undefined {
        return v instanceof Date ? v.getTime() : typeof v === 'number' ? v : undefined;
      }
    }
    const dated = avro.Type.forSchema(spec.schema, { logicalTypes: { 'timestamp-millis': DateType } });
    const withDates = train.map((r) => dated.fromBuffer(type.toBuffer(r)) as Record<string, unknown>);
    expect(withDates[0].ts).toBeInstanceOf(Date);
    expect(Array.from(encodeTabularRecords(spec, enc, withDates))).toEqual(
      Array.from(encodeTabularRecords(spec, enc, train)),
    );
  });
});

describe('a flag payload back to model input (fromPayload, used by label training)', () => {
  it('equals the stream encoding of the record, on repeated calls with the same stored encoder', () => {
    const spec = makeSpec({
      amount: { type: 'numeric', scale: 'robust' },
      mcc: { type: 'categorical' },
      ts: { type: 'timestamp' },
    });
    const records = Array.from({ length: 20 }, (_, i) =>
      rec(i, { amount: i * 3, mcc: i % 2 ? 'a' : 'b', ts: T0 + i * 3_600_000 }),
    );
    const enc = fitTabularEncoder(spec, records);
    const input = JSON.parse(JSON.stringify(enc)) as JsonValue;
    const kind = tabularKind(spec);
    const fromPayload = kind.fromPayload!;
    const binding = kind.bind({
      kind: spec.name,
      input,
      inputDim: encoderDim(enc),
    } as unknown as CheckpointManifest);
    for (const r of [records[3], records[17], rec(99, { amount: 1e6, mcc: 'zzz', ts: T0 - 86_400_000 })]) {
      const want = new Float32Array(binding.inputDim);
      binding.writeFeatures(r, want, 0);
      // the payload goes through PostgreSQL's jsonb as JSON
      const payload = JSON.parse(JSON.stringify(binding.payload(r))) as unknown;
      const first = fromPayload(payload, input);
      expect(first).toEqual(Array.from(want));
      expect(fromPayload(payload, input)).toEqual(first);
    }
    expect(fromPayload({ nope: 1 }, input)).toBeNull();
    expect(fromPayload({ fields: { amount: 'x' } }, input)).toBeNull();
    expect(fromPayload(JSON.parse(JSON.stringify(binding.payload(records[0]))), undefined)).toBeNull();
  });
});

describe('a labelled training file: the encoder is fitted on the records the model trains on', () => {
  it('labels 0 and unlabelled records shape the scaling and vocabulary, label 1 does not', async () => {
    const spec = makeSpec({ amount: { type: 'numeric', scale: 'standard' }, mcc: { type: 'categorical' } });
    const rows = Array.from({ length: 12 }, (_, i) => ({
      r: rec(i, { amount: i % 3 === 0 ? 1000 + i : i, mcc: i % 3 === 0 ? 'x' : 'a' }),
      // every third record far out: a fraud (1), or left blank (unlabelled) when i is 6
      label: i % 3 !== 0 ? '0' : i === 6 ? '' : '1',
    }));
    const dir = await mkdtemp(join(tmpdir(), 'gensemble-enc-'));
    try {
      const path = join(dir, 'train.csv');
      const csv = ['tx_id,amount,mcc,code,card_present,ts,label'].concat(
        rows.map(({ r, label }) =>
          [
            r.tx_id,
            r.amount,
            r.mcc,
            r.code,
            r.card_present,
            new Date(r.ts as number).toISOString(),
            label,
          ].join(','),
        ),
      );
      await writeFile(path, csv.join('\n') + '\n');
      const got = await tabularKind(spec).readFile(path);
      const want = fitTabularEncoder(
        spec,
        rows.filter(({ label }) => label !== '1').map(({ r }) => r),
      );
      expect(got.input).toEqual(JSON.parse(JSON.stringify(want)));
      // the unlabelled far-out record is in the fit: 'x' is a category of the vocabulary
      expect(JSON.stringify(got.input)).toContain('"x"');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
