import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { loadCreditCardCsv, CREDIT_FEATURES, DataError, UNLABELLED } from '../../../src/data/index.js';
import type { RejectedRow } from '../../../src/data/credit.js';
import { testDataDir } from './datadir.js';

const tmp = mkdtempSync(join(tmpdir(), 'gensemble-credit-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const header = ['Time', ...Array.from({ length: 28 }, (_, i) => `V${i + 1}`), 'Amount', 'Class'];
/** A row whose feature j has value base + j/100, Amount = base·10, given class. */
function row(base: number, cls: number | string): string[] {
  return [
    String(base),
    ...Array.from({ length: 28 }, (_, j) => String(base + (j + 1) / 100)),
    String(base * 10),
    String(cls),
  ];
}
function write(name: string, lines: string[][], gz = false): string {
  const text = lines.map((l) => l.join(',')).join('\n') + '\n';
  const p = join(tmp, name);
  writeFileSync(p, gz ? gzipSync(text) : text);
  return p;
}
async function codeAndMessage(p: Promise<unknown>): Promise<[string, string]> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(DataError);
  return [(e as DataError).code, (e as DataError).message];
}

describe('credit-card CSV', () => {
  it('reads a header file: features in Time,V1..V28,Amount order, labels, row ids', async () => {
    const p = write('h.csv', [header, row(1, 0), row(2, 1), row(3, 0)]);
    const d = await loadCreditCardCsv(p);
    expect(d.n).toBe(3);
    expect(d.d).toBe(30);
    expect(d.hasHeader).toBe(true);
    expect(d.columns).toEqual(CREDIT_FEATURES);
    expect(d.features.length).toBe(90);
    expect(d.features[30 + 0]).toBe(2); // row 2 Time
    expect(d.features[30 + 1]).toBe(Math.fround(2.01)); // row 2 V1
    expect(d.features[30 + 28]).toBe(Math.fround(2.28)); // row 2 V28
    expect(d.features[30 + 29]).toBe(20); // row 2 Amount
    expect(Array.from(d.labels ?? [])).toEqual([0, 1, 0]);
    expect(Array.from(d.rowIds)).toEqual([0, 1, 2]);
  });

  it('reads Kaggle-style quoted headers and labels, gzipped, with reordered columns and an extra column', async () => {
    const q = (s: string): string => `"${s}"`;
    const hdr = ['id', ...header.slice().reverse()].map(q);
    const lines = [
      hdr,
      ...[row(5, 1), row(6, 0)].map((r, i) => [
        String(100 + i),
        ...r
          .slice()
          .reverse()
          .map((v, k) => (k === 0 ? q(v) : v)),
      ]),
    ];
    const d = await loadCreditCardCsv(write('q.csv.gz', lines, true));
    expect(d.n).toBe(2);
    expect(d.features[0]).toBe(5);
    expect(d.features[29]).toBe(50);
    expect(d.features[30 + 5]).toBe(Math.fround(6.05));
    expect(Array.from(d.labels ?? [])).toEqual([1, 0]);
  });

  it('reads a file without header (31 fields), and 30 fields when labels are not required', async () => {
    const d = await loadCreditCardCsv(write('nh.csv', [row(1, 1), row(2, 0)]));
    expect(d.hasHeader).toBe(false);
    expect(Array.from(d.labels ?? [])).toEqual([1, 0]);
    const u = await loadCreditCardCsv(write('nh30.csv', [row(1, 1).slice(0, 30)]), { requireLabels: false });
    expect(u.labels).toBeNull();
    expect(u.features[29]).toBe(10);
    await expect(loadCreditCardCsv(write('nh30b.csv', [row(1, 1).slice(0, 30)]))).rejects.toMatchObject({
      code: 'CSV_BAD_HEADER',
    });
  });

  it('names the row and column of a malformed value', async () => {
    const bad = row(3, 0);
    bad[4] = 'abc'; // V4
    const [code, msg] = await codeAndMessage(
      loadCreditCardCsv(write('bad.csv', [header, row(1, 0), row(2, 0), bad])),
    );
    expect(code).toBe('CSV_MALFORMED_ROW');
    expect(msg).toMatch(/data row 3 \(line 4\): column V4: "abc" is not a number/);

    const empty = row(1, 0);
    empty[29] = '';
    expect((await codeAndMessage(loadCreditCardCsv(write('e.csv', [header, empty]))))[1]).toMatch(
      /data row 1.*column Amount/,
    );

    const cls = row(1, 2);
    expect((await codeAndMessage(loadCreditCardCsv(write('c.csv', [header, cls]))))[1]).toMatch(
      /column Class: "2" is not 0 or 1/,
    );

    // a Class left blank or "unsure" is unlabelled (a file labelled in part), 1.0 and "fraud" are frauds
    const partial = await loadCreditCardCsv(
      write('p.csv', [
        header,
        row(1, ''),
        row(2, 'unsure'),
        row(3, '1.0'),
        row(4, 'fraud'),
        row(5, 'not_fraud'),
      ]),
    );
    expect(Array.from(partial.labels!)).toEqual([UNLABELLED, UNLABELLED, 1, 1, 0]);

    const short = row(1, 0).slice(0, 20);
    const [c2, m2] = await codeAndMessage(loadCreditCardCsv(write('s.csv', [header, row(1, 0), short])));
    expect(c2).toBe('CSV_MALFORMED_ROW');
    expect(m2).toMatch(/data row 2 \(line 3\): 20 fields, expected 31/);

    const inf = row(1, 0);
    inf[2] = '1e999';
    expect((await codeAndMessage(loadCreditCardCsv(write('i.csv', [header, inf]))))[1]).toMatch(
      /column V2.*not finite/,
    );
  });

  it('header problems, CSV syntax, empty, missing and corrupt files', async () => {
    expect(
      (
        await codeAndMessage(
          loadCreditCardCsv(write('m.csv', [header.filter((h) => h !== 'V7'), row(1, 0).slice(1)])),
        )
      )[1],
    ).toMatch(/lacks column\(s\) V7/);
    expect(
      (
        await codeAndMessage(
          loadCreditCardCsv(write('nc.csv', [header.slice(0, 30), row(1, 0).slice(0, 30)])),
        )
      )[0],
    ).toBe('CSV_BAD_HEADER');
    expect(
      (
        await codeAndMessage(
          loadCreditCardCsv(
            write('d.csv', [
              [...header, 'V1'],
              [...row(1, 0), '0'],
            ]),
          ),
        )
      )[1],
    ).toMatch(/"v1" twice/);
    const p = join(tmp, 'quote.csv');
    writeFileSync(p, header.join(',') + '\n"1,2\n');
    expect((await codeAndMessage(loadCreditCardCsv(p)))[0]).toBe('CSV_SYNTAX');
    const z = join(tmp, 'empty.csv');
    writeFileSync(z, '');
    expect((await codeAndMessage(loadCreditCardCsv(z)))[0]).toBe('CSV_MALFORMED_ROW');
    expect((await codeAndMessage(loadCreditCardCsv(join(tmp, 'missing.csv'))))[0]).toBe('DATA_NOT_FOUND');
    const rows = [header, ...Array.from({ length: 500 }, (_, i) => row(i, 0))];
    const gz = gzipSync(Buffer.from(rows.map((l) => l.join(',')).join('\n') + '\n'));
    for (const keep of [30, Math.floor(gz.length / 2), gz.length - 10]) {
      writeFileSync(join(tmp, 'cut.csv.gz'), gz.subarray(0, keep));
      expect((await codeAndMessage(loadCreditCardCsv(join(tmp, 'cut.csv.gz'))))[0]).toBe('DATA_BAD_GZIP');
    }
  });

  it('float64 keeps the values as written (77.89, not its float32 77.88999938964844)', async () => {
    const r = row(1, 0);
    r[29] = '77.89';
    r[1] = '-1.3598071336738';
    const d = await loadCreditCardCsv(write('f64.csv', [header, r]), { float64: true });
    expect(d.features64?.[29]).toBe(77.89);
    expect(d.features64?.[1]).toBe(-1.3598071336738);
    expect(d.features[29]).toBe(Math.fround(77.89));
    expect((await loadCreditCardCsv(write('f32.csv', [header, r]))).features64).toBeUndefined();
  });

  it('onReject: bad rows are reported and skipped, row ids keep their place, the rest read as from a clean file', async () => {
    const bad = (base: number, col: number, v: string): string[] => {
      const r = row(base, 0);
      r[col] = v;
      return r;
    };
    const lines = [
      header,
      row(1, 0),
      bad(2, 5, 'abc'), // data row 2, line 3
      row(3, 1),
      row(4, 0).slice(0, 30), // ragged
      bad(5, 29, '1e39'), // overflows float32
      bad(6, 30, '2'), // Class 2
      bad(7, 1, 'NaN'),
      row(8, 0),
      bad(9, 3, ''),
    ];
    const got: RejectedRow[] = [];
    const d = await loadCreditCardCsv(write('rejects.csv', lines), { onReject: (r) => got.push(r) });
    const clean = await loadCreditCardCsv(write('clean.csv', [header, row(1, 0), row(3, 1), row(8, 0)]));
    expect(d.n).toBe(3);
    expect(Array.from(d.features)).toEqual(Array.from(clean.features));
    expect(Array.from(d.labels ?? [])).toEqual([0, 1, 0]);
    expect(Array.from(d.rowIds)).toEqual([0, 2, 7]);
    expect(got).toEqual([
      { line: 3, row: 1, reason: 'column V5: "abc" is not a number' },
      { line: 5, row: 3, reason: '30 fields, expected 31' },
      { line: 6, row: 4, reason: 'column Amount: 1e39 overflows float32' },
      { line: 7, row: 5, reason: 'column Class: "2" is not 0 or 1 (or blank / unsure = unlabelled)' },
      { line: 8, row: 6, reason: 'column V1: "NaN" is not a number' },
      { line: 10, row: 8, reason: 'column V3: "" is not a number' },
    ]);
    // without onReject: the first bad row is the error, named as before
    const [code, msg] = await codeAndMessage(loadCreditCardCsv(write('rejects2.csv', lines)));
    expect(code).toBe('CSV_MALFORMED_ROW');
    expect(msg).toMatch(/data row 2 \(line 3\): column V5: "abc" is not a number$/);
    // many rows: ids stay right across the buffer growth, maxRows counts the rows read
    const many = [
      header,
      ...Array.from({ length: 70_000 }, (_, i) => (i % 5 === 4 ? bad(i, 2, 'x') : row(i, 0))),
    ];
    const skipped: number[] = [];
    const big = await loadCreditCardCsv(write('many-rejects.csv', many), {
      onReject: (r) => skipped.push(r.row),
    });
    expect(big.n).toBe(56_000);
    expect(skipped.length).toBe(14_000);
    for (let i = 0; i < big.n; i++) {
      const id = big.rowIds[i];
      expect(id % 5).not.toBe(4);
      expect(big.features[i * 30]).toBe(id); // Time = base = the data row
    }
    const first = await loadCreditCardCsv(write('many-rejects.csv', many), {
      maxRows: 8,
      onReject: () => {},
    });
    expect(Array.from(first.rowIds)).toEqual([0, 1, 2, 3, 5, 6, 7, 8]);
  });

  it('maxRows stops early', async () => {
    const d = await loadCreditCardCsv(write('many.csv', [header, row(1, 0), row(2, 0), row(3, 1)]), {
      maxRows: 2,
    });
    expect(d.n).toBe(2);
  });

  it('the shared subset: 52,538 rows, 473 frauds, Kaggle ranges', async () => {
    const d = await loadCreditCardCsv(join(testDataDir, 'creditcard', 'creditcard-subset.csv.gz'));
    expect(d.n).toBe(52538);
    expect(d.hasHeader).toBe(true);
    const labels = d.labels ?? new Uint8Array(0);
    expect(labels.reduce((a, b) => a + b, 0)).toBe(473);
    // first row of the Kaggle file: Time 0, V1 -1.3598071336738, Amount 149.62, Class 0
    expect(d.features[0]).toBe(0);
    expect(d.features[1]).toBe(Math.fround(-1.3598071336738));
    expect(d.features[29]).toBe(Math.fround(149.62));
    let maxTime = 0;
    for (let i = 0; i < d.n; i++) maxTime = Math.max(maxTime, d.features[i * 30]);
    expect(maxTime).toBeLessThanOrEqual(172792); // the Kaggle data spans two days
  });
});
