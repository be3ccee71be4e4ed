import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { UNLABELLED } from '../../../../src/data/labels.js';
import { KindDataError } from '../../../../src/kinds/errors.js';
import { encodeTabularRecords, fitTabularEncoder } from '../../../../src/kinds/tabular/encoder.js';
import { readTabularFile, type RejectedLine } from '../../../../src/kinds/tabular/read.js';
import { parseKindSpec } from '../../../../src/kinds/tabular/spec.js';

const tmp = mkdtempSync(join(tmpdir(), 'gensemble-tabular-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function file(name: string, text: string | Buffer): string {
  const p = join(tmp, name);
  writeFileSync(p, text);
  return p;
}

const spec = parseKindSpec(
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
      { name: 'tip', type: 'float', optional: true },
      { name: 'note', type: 'string', optional: true },
    ],
    id: 'tx_id',
    eventTime: 'ts',
    features: {
      amount: { type: 'numeric', transform: 'log' },
      mcc: { type: 'categorical' },
      code: { type: 'categorical' },
      card_present: { type: 'boolean' },
      ts: { type: 'timestamp' },
    },
  },
  'kinds/shop_tx.json',
);

const T0 = Date.UTC(2024, 0, 1, 6, 0, 0);

const CSV = [
  'tx_id,amount,mcc,code,card_present,ts,extra,label',
  't1,12.5,5411,3,true,2024-01-01T06:00:00Z,zzz,0',
  't2,-3,,4,0,1704088800000,,1',
  't3, 1e3 ,abc,-5,FALSE,2024-01-01 06:00,x,0',
  '',
  't4,0.25,abc,5,1,2024-01-01T07:00:00+01:00,y,1',
].join('\n');

async function dataError(p: Promise<unknown>): Promise<KindDataError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(KindDataError);
  const e = err as KindDataError;
  expect(e.code).toBe('KIND_DATA_INVALID');
  expect(e.message).not.toContain('\n');
  return e;
}

describe('readTabularFile: CSV', () => {
  it('coerces values to the field types and reads labels', async () => {
    const rows = await readTabularFile(spec, file('a.csv', CSV));
    expect(rows.ids).toEqual(['t1', 't2', 't3', 't4']);
    expect(Array.from(rows.labels!)).toEqual([0, 1, 0, 1]);
    expect(rows.records[0]).toEqual({
      tx_id: 't1',
      amount: 12.5,
      mcc: '5411',
      code: 3,
      card_present: true,
      ts: T0,
      tip: null, // nullable, not in the file
      note: null,
    });
    expect(rows.records[1]).toMatchObject({ amount: -3, mcc: null, code: 4, card_present: false, ts: T0 });
    // " 1e3 " trims to a number; an ISO date-time without an offset is UTC.
    expect(rows.records[2]).toMatchObject({ amount: 1000, code: -5, card_present: false, ts: T0 });
    expect(rows.records[3]).toMatchObject({ card_present: true, ts: T0 });
    expect(Object.keys(rows.records[0])).not.toContain('extra');
  });

  it('reads gzipped files and honours limit', async () => {
    const rows = await readTabularFile(spec, file('a.csv.gz', gzipSync(CSV)), { limit: 2 });
    expect(rows.ids).toEqual(['t1', 't2']);
    expect(Array.from(rows.labels!)).toEqual([0, 1]);
  });

  it('a bad value names file, line and field', async () => {
    const p = file('bad.csv', CSV.replace('t3, 1e3 ,', 't3,12abc,'));
    const e = await dataError(readTabularFile(spec, p));
    expect(e.message).toBe(`${p}: line 4, field "amount": "12abc" is not a finite number (double)`);
    const p2 = file('bad2.csv', CSV.replace('true,2024', 'yes,2024'));
    expect((await dataError(readTabularFile(spec, p2))).message).toBe(
      `${p2}: line 2, field "card_present": "yes" is not a boolean (true/false/1/0)`,
    );
    const p3 = file('bad3.csv', CSV.replace('2024-01-01 06:00', '01/02/2024'));
    expect((await dataError(readTabularFile(spec, p3))).message).toContain(
      `line 4, field "ts": "01/02/2024" is neither ms since the epoch nor an ISO-8601 date-time`,
    );
    const p4 = file('bad4.csv', CSV.replace(',3,true', ',3.5,true'));
    expect((await dataError(readTabularFile(spec, p4))).message).toContain(
      'line 2, field "code": "3.5" is not an integer',
    );
    const p5 = file('bad5.csv', CSV.replace('t2,-3,', 't2,,'));
    expect((await dataError(readTabularFile(spec, p5))).message).toBe(
      `${p5}: line 3, field "amount": empty value for a required double field`,
    );
    const p6 = file('bad6.csv', CSV.replace(',x,0', ',x,2'));
    expect((await dataError(readTabularFile(spec, p6))).message).toContain(
      'line 4, field "label": "2" is not a label',
    );
  });

  it('a file labelled in part: blank and unsure are UNLABELLED, the review words and true/false are labels', async () => {
    const rows = [
      'tx_id,amount,mcc,code,card_present,ts,label',
      't1,1,a,1,true,0,fraud',
      't2,2,a,1,true,0,',
      't3,3,a,1,true,0,NOT_FRAUD',
      't4,4,a,1,true,0, unsure ',
      't5,5,a,1,true,0,True',
      't6,6,a,1,true,0,"  "',
      't7,7,a,1,true,0,false',
    ];
    const got = await readTabularFile(spec, file('partial.csv', rows.join('\n')));
    expect(Array.from(got.labels!)).toEqual([1, UNLABELLED, 0, UNLABELLED, 1, UNLABELLED, 0]);
    // JSONL: null and an absent field are unlabelled once the file has labels (its first object)
    const jsonl = [
      { tx_id: 'j1', amount: 1, code: 1, card_present: true, ts: 0, label: 'fraud' },
      { tx_id: 'j2', amount: 1, code: 1, card_present: true, ts: 0, label: null },
      { tx_id: 'j3', amount: 1, code: 1, card_present: true, ts: 0 },
      { tx_id: 'j4', amount: 1, code: 1, card_present: true, ts: 0, label: 'unsure' },
      { tx_id: 'j5', amount: 1, code: 1, card_present: true, ts: 0, label: false },
    ];
    const j = await readTabularFile(
      spec,
      file('partial.jsonl', jsonl.map((o) => JSON.stringify(o)).join('\n')),
    );
    expect(Array.from(j.labels!)).toEqual([1, UNLABELLED, UNLABELLED, UNLABELLED, 0]);
    // still refused: a value that is none of these
    const bad = file('partial-bad.csv', [...rows, 't8,8,a,1,true,0,yes'].join('\n'));
    expect((await dataError(readTabularFile(spec, bad))).message).toBe(
      `${bad}: line 9, field "label": "yes" is not a label (1 / fraud, 0 / not_fraud, or blank / unsure = unlabelled)`,
    );
  });

  it('missing required columns are named in one error; an explicit label column must exist', async () => {
    const p = file('missing.csv', 'tx_id,mcc,ts\nt1,a,0\n');
    const e = await dataError(readTabularFile(spec, p));
    expect(e.message).toMatch(
      new RegExp(
        `^${p.replace(/[.\\/]/g, '\\$&')}: the header lacks required columns amount, code, card_present \\(header: tx_id, mcc, ts\\)$`,
      ),
    );
    const p2 = file('nolabel.csv', CSV.replace(',label', ',lbl'));
    expect((await readTabularFile(spec, p2)).labels).toBeNull();
    expect((await dataError(readTabularFile(spec, p2, { labelColumn: 'is_fraud' }))).message).toBe(
      `${p2}: no label column "is_fraud" in the header`,
    );
    const rows = await readTabularFile(spec, p2, { labelColumn: 'lbl' });
    expect(Array.from(rows.labels!)).toEqual([0, 1, 0, 1]);
  });

  it('a ragged row and a record that cannot be scored are errors with their line', async () => {
    const p = file('ragged.csv', CSV.replace('t4,0.25,abc,5,1,', 't4,0.25,abc,5,'));
    expect((await dataError(readTabularFile(spec, p))).message).toMatch(/line 6: malformed CSV/);
    // An empty id is read as "" (required string) and then fails validation.
    const p2 = file('noid.csv', CSV.replace('t2,', ','));
    const e = await dataError(readTabularFile(spec, p2));
    expect(e.message).toContain(`${p2}: line 3, field "tx_id": BAD_ID`);
  });

  it('unsupported extensions and missing files', async () => {
    const p = file('a.txt', CSV);
    expect((await dataError(readTabularFile(spec, p))).message).toContain('unsupported file type');
    const q = join(tmp, 'nope.csv');
    expect((await dataError(readTabularFile(spec, q))).message).toBe(`${q}: no such file`);
  });

  it('records read from CSV encode', async () => {
    const rows = await readTabularFile(spec, file('b.csv', CSV));
    const enc = fitTabularEncoder(spec, rows.records);
    const x = encodeTabularRecords(spec, enc, rows.records);
    expect(x.length).toBe(4 * enc.columns.length);
    expect(x.every(Number.isFinite)).toBe(true);
  });
});

describe('readTabularFile: onReject (score / train --rejects)', () => {
  const collect = (): { got: RejectedLine[]; onReject: (r: RejectedLine) => void } => {
    const got: RejectedLine[] = [];
    return { got, onReject: (r) => got.push(r) };
  };

  it('CSV: bad records are reported with line and reason and skipped; the rest are read as from a clean file', async () => {
    const bad = [
      'tx_id,amount,mcc,code,card_present,ts,extra,label',
      't1,12.5,5411,3,true,2024-01-01T06:00:00Z,zzz,0',
      'b1,12abc,5411,3,true,2024-01-01T06:00:00Z,zzz,0', // line 3: not a number
      't2,-3,,4,0,1704088800000,,1',
      'b2,1,5411,3,true,2024-01-01T06:00:00Z', // line 5: ragged
      'b3,1,5411,3,yes,2024-01-01T06:00:00Z,z,0', // line 6: not a boolean
      '"t3", 1e3 ,abc,-5,FALSE,"2024-01-01 06:00",x,0',
      ',1,5411,3,true,2024-01-01T06:00:00Z,z,0', // line 8: empty id fails validation
      'b5,1,5411,3,true,2024-01-01T06:00:00Z,z,2', // line 9: label 2
      't4,0.25,abc,5,1,2024-01-01T07:00:00+01:00,y,1',
    ].join('\r\n');
    const p = file('rejects.csv', bad);
    const { got, onReject } = collect();
    const rows = await readTabularFile(spec, p, { onReject });
    const clean = await readTabularFile(spec, file('clean.csv', CSV));
    expect(rows).toEqual(clean);
    expect(got.map((r) => r.line)).toEqual([3, 5, 6, 8, 9]);
    expect(got[0].reason).toBe('field "amount": "12abc" is not a finite number (double)');
    expect(got[1].reason).toBe('malformed CSV: 6 fields, the header has 8');
    expect(got[2].reason).toBe('field "card_present": "yes" is not a boolean (true/false/1/0)');
    expect(got[3].reason).toMatch(/^field "tx_id": BAD_ID/);
    expect(got[4].reason).toMatch(/^field "label": "2" is not a label/);
    for (const r of got) expect(r.reason).not.toContain(p);
    // limit counts the records read, not the rejected ones
    const two = await readTabularFile(spec, p, { limit: 2, onReject: () => undefined });
    expect(two.ids).toEqual(['t1', 't2']);
    // without onReject the first bad record is the error, as before
    expect((await dataError(readTabularFile(spec, p))).message).toBe(
      `${p}: line 3, field "amount": "12abc" is not a finite number (double)`,
    );
    // problems of the whole file still throw under onReject
    const noCols = file('nocols.csv', 'tx_id,mcc,ts\nt1,a,0\n');
    expect((await dataError(readTabularFile(spec, noCols, { onReject }))).message).toContain(
      'the header lacks required columns',
    );
    const quote = file('quote.csv', `${CSV}\n"t9,1,a,1,true,0,x,0\n`);
    expect((await dataError(readTabularFile(spec, quote, { onReject }))).message).toMatch(/malformed CSV/);
  });

  it('JSONL: invalid JSON, non-objects, missing fields and wrong types are reported and skipped', async () => {
    const good = [
      { tx_id: 't1', amount: 12.5, mcc: '5411', code: 3, card_present: true, ts: T0, label: 0 },
      { tx_id: 't2', amount: -3, mcc: null, code: 4, card_present: false, ts: T0, label: 1 },
    ];
    const text = [
      '{"tx_id": ', // 1: invalid JSON (the first line: labels are decided by the first object read)
      JSON.stringify(good[0]),
      '[1, 2]', // 3
      JSON.stringify({ ...good[0], tx_id: 'b', amount: 'NaN' }), // 4
      '',
      JSON.stringify({ tx_id: 'c', mcc: 'x', card_present: true, ts: T0, label: 0 }), // 6
      JSON.stringify({ ...good[1], label: 'maybe' }), // 7
      JSON.stringify(good[1]),
    ].join('\n');
    const { got, onReject } = collect();
    const rows = await readTabularFile(spec, file('rejects.jsonl', text), { onReject });
    const clean = await readTabularFile(
      spec,
      file('clean.jsonl', good.map((g) => JSON.stringify(g)).join('\n')),
    );
    expect(rows).toEqual(clean);
    expect(rows.ids).toEqual(['t1', 't2']);
    expect(got.map((r) => r.line)).toEqual([1, 3, 4, 6, 7]);
    expect(got[0].reason).toMatch(/^invalid JSON: /);
    expect(got[1].reason).toBe('expected a JSON object, got an array');
    expect(got[2].reason).toBe('field "amount": "NaN" (a string) does not fit a double field');
    expect(got[3].reason).toBe('missing required fields amount, code');
    expect(got[4].reason).toMatch(/^field "label": "maybe" is not a label/);
  });
});

describe('readTabularFile: JSONL', () => {
  const lines = [
    {
      tx_id: 't1',
      amount: 12.5,
      mcc: '5411',
      code: 3,
      card_present: true,
      ts: '2024-01-01T06:00:00Z',
      label: 0,
    },
    { tx_id: 't2', amount: -3, mcc: null, code: 4, card_present: false, ts: T0, tip: 1.5, label: 1, x: [1] },
  ];
  const text = `${JSON.stringify(lines[0])}\n\n${JSON.stringify(lines[1])}\n`;

  it('reads objects, with ISO or ms times, nulls and labels', async () => {
    for (const name of ['a.jsonl', 'a.ndjson']) {
      const rows = await readTabularFile(spec, file(name, text));
      expect(rows.ids).toEqual(['t1', 't2']);
      expect(Array.from(rows.labels!)).toEqual([0, 1]);
      expect(rows.records[0]).toEqual({
        tx_id: 't1',
        amount: 12.5,
        mcc: '5411',
        code: 3,
        card_present: true,
        ts: T0,
        tip: null,
        note: null,
      });
      expect(rows.records[1]).toMatchObject({ mcc: null, tip: 1.5, ts: T0 });
    }
    const gz = await readTabularFile(spec, file('a.jsonl.gz', gzipSync(text)), { limit: 1 });
    expect(gz.ids).toEqual(['t1']);
  });

  it('a value of the wrong JSON type names file, line and field', async () => {
    const bad = `${JSON.stringify(lines[0])}\n\n${JSON.stringify({ ...lines[1], amount: '12' })}\n`;
    const p = file('bad.jsonl', bad);
    expect((await dataError(readTabularFile(spec, p))).message).toBe(
      `${p}: line 3, field "amount": "12" (a string) does not fit a double field`,
    );
    const p2 = file('bad2.jsonl', `${JSON.stringify(lines[0])}\n{"tx_id": \n`);
    expect((await dataError(readTabularFile(spec, p2))).message).toMatch(/line 2: invalid JSON/);
    const noCode: Record<string, unknown> = { ...lines[1] };
    delete noCode.code;
    const p3 = file('bad3.jsonl', `${JSON.stringify(lines[0])}\n${JSON.stringify(noCode)}\n`);
    expect((await dataError(readTabularFile(spec, p3))).message).toBe(
      `${p3}: line 2: missing required field code`,
    );
    const p4 = file('bad4.jsonl', `${JSON.stringify({ ...lines[0], code: 2 ** 31 })}\n`);
    expect((await dataError(readTabularFile(spec, p4))).message).toContain(
      'line 1, field "code": 2147483648 is out of range',
    );
    const p5 = file('bad5.jsonl', `${JSON.stringify({ ...lines[0], amount: null })}\n`);
    expect((await dataError(readTabularFile(spec, p5))).message).toBe(
      `${p5}: line 1, field "amount": null for a required double field`,
    );
  });
});
