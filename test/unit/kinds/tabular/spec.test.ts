import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { KindSpecError } from '../../../../src/kinds/errors.js';
import {
  BUILTIN_KIND_NAMES,
  kindAvroType,
  kindFields,
  loadKindSpecDir,
  loadKindSpecFile,
  parseKindSpec,
  pascalCase,
  validateTabularRecord,
  type TabularKindSpec,
} from '../../../../src/kinds/tabular/spec.js';
import { ValidationError } from '../../../../src/schemas/errors.js';

const SRC = 'kinds/card_tx.json';
const tmp = mkdtempSync(join(tmpdir(), 'gensemble-kinds-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** The short-form declaration of the brief, as parsed JSON. */
function cardTx(): Record<string, unknown> {
  return {
    name: 'card_tx',
    description: 'card transactions',
    topic: 'card-tx',
    fields: [
      { name: 'tx_id', type: 'string' },
      { name: 'amount', type: 'double' },
      { name: 'mcc', type: 'string' },
      { name: 'card_present', type: 'boolean' },
      { name: 'ts', type: 'timestamp' },
      { name: 'note', type: 'string', optional: true },
    ],
    id: 'tx_id',
    eventTime: 'ts',
    features: {
      amount: { type: 'numeric', transform: 'log', scale: 'robust' },
      mcc: { type: 'categorical', encoding: 'one-hot', maxCategories: 32 },
      card_present: { type: 'boolean' },
      ts: { type: 'timestamp' },
    },
  };
}

/** Runs fn, expects a KindSpecError, returns it after the one-line / source checks. */
function specError(fn: () => unknown, source = SRC): KindSpecError {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(KindSpecError);
  const e = err as KindSpecError;
  expect(e.code).toBe('KIND_SPEC_INVALID');
  expect(e.message).not.toContain('\n');
  expect(e.message.startsWith(`${source}: `)).toBe(true);
  return e;
}

async function specErrorAsync(p: Promise<unknown>, source: string): Promise<KindSpecError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  return specError(() => {
    if (err) throw err;
  }, source);
}

function validationError(fn: () => unknown): ValidationError {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(ValidationError);
  return err as ValidationError;
}

describe('parseKindSpec: the fields form', () => {
  it('builds the Avro record schema and fills in defaults', () => {
    const decl = cardTx();
    (decl.features as Record<string, unknown>).v = { type: 'numeric' };
    (decl.fields as unknown[]).push({ name: 'v', type: 'float' });
    (decl.features as Record<string, unknown>).mcc = { type: 'categorical' };
    const spec = parseKindSpec(decl, SRC);
    expect(spec.name).toBe('card_tx');
    expect(spec.description).toBe('card transactions');
    expect(spec.topic).toBe('card-tx');
    expect(spec.id).toBe('tx_id');
    expect(spec.eventTime).toBe('ts');
    expect(spec.source).toBe(SRC);
    expect(spec.schema).toEqual({
      type: 'record',
      name: 'CardTx',
      namespace: 'gensemble.user',
      fields: [
        { name: 'tx_id', type: 'string' },
        { name: 'amount', type: 'double' },
        { name: 'mcc', type: 'string' },
        { name: 'card_present', type: 'boolean' },
        { name: 'ts', type: { type: 'long', logicalType: 'timestamp-millis' } },
        { name: 'note', type: ['null', 'string'], default: null },
        { name: 'v', type: 'float' },
      ],
    });
    // Declaration order, defaults filled in.
    expect(Object.keys(spec.features)).toEqual(['amount', 'mcc', 'card_present', 'ts', 'v']);
    expect(spec.features.v).toEqual({
      type: 'numeric',
      transform: 'none',
      scale: 'standard',
      missing: 'reject',
    });
    expect(spec.features.mcc).toEqual({ type: 'categorical', encoding: 'one-hot', maxCategories: 32 });
    expect(spec.features.amount).toEqual({
      type: 'numeric',
      transform: 'log',
      scale: 'robust',
      missing: 'reject',
    });
    // avsc accepts the generated schema and reports the field types.
    expect(kindAvroType(spec).name).toBe('gensemble.user.CardTx');
    const fields = kindFields(spec);
    expect(fields.map((f) => f.name)).toEqual(['tx_id', 'amount', 'mcc', 'card_present', 'ts', 'note', 'v']);
    expect(fields[4]).toMatchObject({ base: 'long', timestampMillis: true, nullable: false });
    expect(fields[5]).toMatchObject({ base: 'string', nullable: true, hasDefault: true, defaultValue: null });
  });

  it('frequency encoding defaults to 1024 kept categories', () => {
    const decl = cardTx();
    (decl.features as Record<string, unknown>).mcc = { type: 'categorical', encoding: 'frequency' };
    expect(parseKindSpec(decl, SRC).features.mcc).toEqual({
      type: 'categorical',
      encoding: 'frequency',
      maxCategories: 1024,
    });
  });

  it('PascalCase of kind names', () => {
    expect(pascalCase('card_tx')).toBe('CardTx');
    expect(pascalCase('a1__b')).toBe('A1B');
    expect(pascalCase('x')).toBe('X');
  });
});

describe('parseKindSpec: the schema form', () => {
  const schema = {
    type: 'record',
    name: 'CardTx',
    namespace: 'acme',
    fields: [
      { name: 'tx_id', type: 'long' },
      { name: 'amount', type: ['null', 'double'], default: null },
      { name: 'channel', type: { type: 'enum', name: 'Channel', symbols: ['WEB', 'POS'] } },
      { name: 'ts', type: { type: 'long', logicalType: 'timestamp-millis' } },
      { name: 'tags', type: { type: 'array', items: 'string' } },
      { name: 'plain_time', type: 'long' },
    ],
  };
  const decl = (over: Record<string, unknown> = {}): Record<string, unknown> => ({
    name: 'acme_tx',
    topic: 'acme.tx',
    schema,
    id: 'tx_id',
    eventTime: 'plain_time',
    features: { amount: { type: 'numeric' }, channel: { type: 'categorical' }, ts: { type: 'timestamp' } },
    ...over,
  });

  it('accepts an Avro record schema with extra complex fields, keeping it as given', () => {
    const spec = parseKindSpec(decl(), SRC);
    expect(spec.schema).toEqual(schema);
    expect(spec.schema).not.toBe(schema);
    expect(kindFields(spec).find((f) => f.name === 'channel')).toMatchObject({
      base: 'enum',
      symbols: ['WEB', 'POS'],
    });
    expect(kindFields(spec).find((f) => f.name === 'tags')?.base).toBe('complex');
  });

  it('rejects an invalid Avro schema with one line from avsc', () => {
    const bad = { ...schema, fields: [...schema.fields, { name: 'x', type: 'strin' }] };
    const e = specError(() => parseKindSpec(decl({ schema: bad }), SRC));
    expect(e.path).toBe('schema');
    expect(e.message).toContain('schema: not a valid Avro record schema: undefined type name: acme.strin');
  });

  it('rejects a schema that is not a record, and both/neither of schema and fields', () => {
    expect(specError(() => parseKindSpec(decl({ schema: 'string' }), SRC)).message).toContain(
      'schema: must be an Avro record schema',
    );
    expect(
      specError(() => parseKindSpec(decl({ fields: [{ name: 'a', type: 'int' }] }), SRC)).message,
    ).toContain('not both');
    const none = decl();
    delete none.schema;
    expect(specError(() => parseKindSpec(none, SRC)).message).toContain('needs "fields"');
  });

  it('only primitive fields can be features: an array field is rejected', () => {
    const e = specError(() => parseKindSpec(decl({ features: { tags: { type: 'categorical' } } }), SRC));
    expect(e.message).toBe(
      `${SRC}: features.tags: categorical needs a string, int, long, boolean or enum field, "tags" is array`,
    );
  });

  it('a timestamp feature needs timestamp-millis; the event time may be a plain long', () => {
    const e = specError(() => parseKindSpec(decl({ features: { plain_time: { type: 'timestamp' } } }), SRC));
    expect(e.path).toBe('features.plain_time');
    expect(e.message).toContain('timestamp needs a long field with logicalType timestamp-millis');
    expect(parseKindSpec(decl({ eventTime: 'ts' }), SRC).eventTime).toBe('ts');
  });

  it('the id must be a non-nullable string/int/long field', () => {
    const e = specError(() => parseKindSpec(decl({ id: 'amount' }), SRC));
    expect(e.message).toBe(
      `${SRC}: id: the id needs a string, int or long field that is not nullable, "amount" is [null, double]`,
    );
    expect(specError(() => parseKindSpec(decl({ eventTime: 'channel' }), SRC)).path).toBe('eventTime');
  });
});

describe('parseKindSpec: rejections are one line naming file and path', () => {
  it('a feature on an unknown field lists the fields', () => {
    const decl = cardTx();
    (decl.features as Record<string, unknown>).merchant = { type: 'categorical' };
    const e = specError(() => parseKindSpec(decl, SRC));
    expect(e.path).toBe('features.merchant');
    expect(e.message).toBe(
      `${SRC}: features.merchant: no field "merchant" in the schema (fields: tx_id, amount, mcc, card_present, ts, note)`,
    );
  });

  it('numeric on a string field', () => {
    const decl = cardTx();
    (decl.features as Record<string, unknown>).mcc = { type: 'numeric' };
    const e = specError(() => parseKindSpec(decl, SRC));
    expect(e.message).toBe(
      `${SRC}: features.mcc: numeric needs a numeric field (int, long, float, double), "mcc" is string`,
    );
  });

  it('missing: "indicator" on a field that is never null is refused, naming the path', () => {
    const d = cardTx();
    (d.features as Record<string, unknown>).amount = { type: 'numeric', missing: 'indicator' };
    const e = specError(() => parseKindSpec(d, SRC));
    expect(e.path).toBe('features.amount.missing');
    expect(e.message).toContain('needs an optional (nullable) field, "amount" is double');
    const bad = cardTx();
    (bad.features as Record<string, unknown>).card_present = { type: 'boolean', missing: 'maybe' };
    expect(specError(() => parseKindSpec(bad, SRC)).path).toBe('features.card_present.missing');
    // A categorical feature takes no "missing" (null is a category of its own).
    const cat = cardTx();
    (cat.features as Record<string, unknown>).mcc = { type: 'categorical', missing: 'reject' };
    expect(specError(() => parseKindSpec(cat, SRC)).message).toContain('features.mcc.missing: unknown key');
  });

  it('unknown keys, at the top and in a feature', () => {
    const top = { ...cardTx(), topics: 'x' };
    const e1 = specError(() => parseKindSpec(top, SRC));
    expect(e1.path).toBe('topics');
    expect(e1.message).toContain(`${SRC}: topics: unknown key (allowed: name, description, topic,`);
    const decl = cardTx();
    (decl.features as Record<string, unknown>).amount = { type: 'numeric', scaling: 'robust' };
    const e2 = specError(() => parseKindSpec(decl, SRC));
    expect(e2.message).toBe(
      `${SRC}: features.amount.scaling: unknown key (allowed: type, transform, scale, missing)`,
    );
  });

  it('bad enum values, feature types, missing keys, ranges', () => {
    const d1 = cardTx();
    (d1.features as Record<string, unknown>).amount = { type: 'numeric', transform: 'sqrt' };
    expect(specError(() => parseKindSpec(d1, SRC)).message).toBe(
      `${SRC}: features.amount.transform: must be one of "none", "log" (got "sqrt")`,
    );
    const d2 = cardTx();
    (d2.features as Record<string, unknown>).amount = { type: 'numerc' };
    expect(specError(() => parseKindSpec(d2, SRC)).message).toBe(
      `${SRC}: features.amount.type: must be one of "numeric", "categorical", "boolean", "timestamp" (got "numerc")`,
    );
    const d3 = cardTx();
    delete d3.topic;
    expect(specError(() => parseKindSpec(d3, SRC)).message).toBe(`${SRC}: topic: is required`);
    const d4 = cardTx();
    (d4.features as Record<string, unknown>).mcc = { type: 'categorical', maxCategories: 2000 };
    expect(specError(() => parseKindSpec(d4, SRC)).message).toContain(
      `${SRC}: features.mcc.maxCategories: must be an integer from 1 to 1024`,
    );
    const d5 = { ...cardTx(), features: {} };
    expect(specError(() => parseKindSpec(d5, SRC)).message).toBe(
      `${SRC}: features: declare at least one feature`,
    );
    const d6 = { ...cardTx(), topic: 'bad topic!' };
    expect(specError(() => parseKindSpec(d6, SRC)).path).toBe('topic');
    const d7 = cardTx();
    (d7.fields as unknown[]).push({ name: 'amount', type: 'int' });
    expect(specError(() => parseKindSpec(d7, SRC)).message).toBe(
      `${SRC}: fields[6].name: field "amount" is already declared at fields[1]`,
    );
    const d8 = cardTx();
    (d8.fields as Record<string, unknown>[])[1].type = 'decimal';
    expect(specError(() => parseKindSpec(d8, SRC)).path).toBe('fields[1].type');
    expect(specError(() => parseKindSpec([1, 2], SRC)).message).toBe(
      `${SRC}: must be a JSON object, got an array`,
    );
  });

  it('kind names: built-in names and bad patterns', () => {
    for (const name of BUILTIN_KIND_NAMES) {
      const e = specError(() => parseKindSpec({ ...cardTx(), name }, SRC));
      expect(e.path).toBe('name');
      expect(e.message).toContain('built-in kind');
    }
    for (const name of ['Card', '1x', 'a-b', 'x'.repeat(41), '']) {
      expect(specError(() => parseKindSpec({ ...cardTx(), name }, SRC)).path).toBe('name');
    }
  });

  it('type mismatches for boolean features and a categorical float', () => {
    const d = cardTx();
    (d.features as Record<string, unknown>).amount = { type: 'categorical' };
    expect(specError(() => parseKindSpec(d, SRC)).message).toContain('"amount" is double');
    const d2 = cardTx();
    (d2.features as Record<string, unknown>).mcc = { type: 'boolean' };
    expect(specError(() => parseKindSpec(d2, SRC)).message).toBe(
      `${SRC}: features.mcc: boolean needs a boolean field, "mcc" is string`,
    );
  });
});

describe('loadKindSpecFile / loadKindSpecDir', () => {
  it('reads a file; bad JSON is one line with its position', async () => {
    const good = join(tmp, 'good.json');
    writeFileSync(good, JSON.stringify(cardTx(), null, 2));
    const spec = await loadKindSpecFile(good);
    expect(spec.name).toBe('card_tx');
    expect(spec.source).toBe(good);

    const bad = join(tmp, 'bad.json');
    writeFileSync(bad, '{\n  "name": "x",\n}\n');
    const e = await specErrorAsync(loadKindSpecFile(bad), bad);
    expect(e.message).toMatch(/invalid JSON: .*line 3/);

    const missing = join(tmp, 'nope.json');
    expect((await specErrorAsync(loadKindSpecFile(missing), missing)).message).toBe(
      `${missing}: no such file`,
    );
  });

  it('loads every *.json of a directory; a missing directory has none; duplicate names fail', async () => {
    expect(await loadKindSpecDir(join(tmp, 'does-not-exist'))).toEqual([]);
    const dir = join(tmp, 'kinds');
    mkdirSync(dir);
    writeFileSync(join(dir, 'a.json'), JSON.stringify(cardTx()));
    writeFileSync(join(dir, 'b.json'), JSON.stringify({ ...cardTx(), name: 'other_tx', topic: 'other' }));
    writeFileSync(join(dir, 'README.md'), 'not a kind');
    const specs = await loadKindSpecDir(dir);
    expect(specs.map((s) => s.name)).toEqual(['card_tx', 'other_tx']);

    writeFileSync(join(dir, 'c.json'), JSON.stringify(cardTx()));
    const e = await specErrorAsync(loadKindSpecDir(dir), join(dir, 'c.json'));
    expect(e.message).toBe(
      `${join(dir, 'c.json')}: name: kind "card_tx" is already declared in ${join(dir, 'a.json')}`,
    );
  });

  it('an invalid file in a directory names that file', async () => {
    const dir = join(tmp, 'kinds2');
    mkdirSync(dir);
    writeFileSync(join(dir, 'x.json'), JSON.stringify({ ...cardTx(), name: 'frames' }));
    const e = await specErrorAsync(loadKindSpecDir(dir), join(dir, 'x.json'));
    expect(e.path).toBe('name');
  });
});

describe('validateTabularRecord', () => {
  const spec: TabularKindSpec = (() => {
    const d = cardTx();
    (d.fields as unknown[]).push({ name: 'opt_amount', type: 'double', optional: true });
    (d.fields as unknown[]).push({ name: 'opt_mcc', type: 'int', optional: true });
    (d.fields as unknown[]).push({ name: 'opt_fee', type: 'double', optional: true });
    (d.fields as unknown[]).push({ name: 'opt_flag', type: 'boolean', optional: true });
    (d.fields as unknown[]).push({ name: 'opt_ts', type: 'timestamp', optional: true });
    Object.assign(d.features as Record<string, unknown>, {
      opt_amount: { type: 'numeric', missing: 'reject' },
      opt_mcc: { type: 'categorical' },
      opt_fee: { type: 'numeric' },
      opt_flag: { type: 'boolean' },
      opt_ts: { type: 'timestamp' },
    });
    return parseKindSpec(d, SRC);
  })();
  const ok = (): Record<string, unknown> => ({
    tx_id: 't1',
    amount: 12.5,
    mcc: '5411',
    card_present: true,
    ts: 1_704_088_800_000,
    note: null,
    opt_amount: 3,
    opt_mcc: 7,
    opt_fee: 0.3,
    opt_flag: true,
    opt_ts: 1_704_088_800_000,
  });

  it('missing: "indicator" is the default of an optional field, "reject" of a required one', () => {
    expect(spec.features.opt_fee).toMatchObject({ type: 'numeric', missing: 'indicator' });
    expect(spec.features.opt_flag).toEqual({ type: 'boolean', missing: 'indicator' });
    expect(spec.features.opt_ts).toEqual({ type: 'timestamp', missing: 'indicator' });
    expect(spec.features.opt_amount).toMatchObject({ missing: 'reject' });
    expect(spec.features.amount).toMatchObject({ missing: 'reject' });
    expect(spec.features.card_present).toEqual({ type: 'boolean', missing: 'reject' });
  });

  it('a null or absent value of an indicator feature passes; of a "reject" one it does not', () => {
    validateTabularRecord(spec, { ...ok(), opt_fee: null, opt_flag: null, opt_ts: null });
    const absent = ok();
    delete absent.opt_fee;
    delete absent.opt_flag;
    delete absent.opt_ts;
    validateTabularRecord(spec, absent);
    // Present values are still checked.
    const e1 = validationError(() => validateTabularRecord(spec, { ...ok(), opt_fee: NaN }));
    expect([e1.reason, e1.field]).toEqual(['NON_FINITE', 'opt_fee']);
    const e2 = validationError(() => validateTabularRecord(spec, { ...ok(), opt_flag: 'yes' }));
    expect([e2.reason, e2.field]).toEqual(['INVALID_RECORD', 'opt_flag']);
    const e3 = validationError(() => validateTabularRecord(spec, { ...ok(), opt_ts: 'noon' }));
    expect([e3.reason, e3.field]).toEqual(['INVALID_RECORD', 'opt_ts']);
  });

  it('accepts good records, with Date or bigint times and a null categorical', () => {
    validateTabularRecord(spec, ok());
    validateTabularRecord(spec, { ...ok(), ts: new Date(1_704_088_800_000), opt_mcc: null, mcc: null });
    validateTabularRecord(spec, { ...ok(), ts: 1_704_088_800_000n, amount: 5n });
  });

  it('rejects non-finite numbers, null numerics, missing ids and wrong types', () => {
    const e1 = validationError(() => validateTabularRecord(spec, { ...ok(), amount: NaN }));
    expect([e1.reason, e1.field]).toEqual(['NON_FINITE', 'amount']);
    const e2 = validationError(() => validateTabularRecord(spec, { ...ok(), amount: Infinity }));
    expect(e2.reason).toBe('NON_FINITE');
    const e3 = validationError(() => validateTabularRecord(spec, { ...ok(), opt_amount: null }));
    expect([e3.reason, e3.field]).toEqual(['INVALID_RECORD', 'opt_amount']);
    expect(e3.message).toContain('numeric features must be present');
    const noId = ok();
    delete noId.tx_id;
    const e4 = validationError(() => validateTabularRecord(spec, noId));
    expect([e4.reason, e4.field]).toEqual(['BAD_ID', 'tx_id']);
    expect(validationError(() => validateTabularRecord(spec, { ...ok(), tx_id: '' })).reason).toBe('BAD_ID');
    const e5 = validationError(() => validateTabularRecord(spec, { ...ok(), card_present: null }));
    expect([e5.reason, e5.field]).toEqual(['INVALID_RECORD', 'card_present']);
    const e6 = validationError(() => validateTabularRecord(spec, { ...ok(), ts: new Date(NaN) }));
    expect([e6.reason, e6.field]).toEqual(['NON_FINITE', 'ts']);
    const e7 = validationError(() => validateTabularRecord(spec, { ...ok(), amount: '12' }));
    expect([e7.reason, e7.field]).toEqual(['INVALID_RECORD', 'amount']);
    const e8 = validationError(() => validateTabularRecord(spec, { ...ok(), mcc: { a: 1 } }));
    expect([e8.reason, e8.field]).toEqual(['INVALID_RECORD', 'mcc']);
  });

  it('checks the event time even when it is not a feature', () => {
    const d = cardTx();
    delete (d.features as Record<string, unknown>).ts;
    const s = parseKindSpec(d, SRC);
    const e = validationError(() => validateTabularRecord(s, { ...ok(), ts: null }));
    expect([e.reason, e.field]).toEqual(['INVALID_RECORD', 'ts']);
    expect(e.message).toContain('the event time must be present');
  });
});
