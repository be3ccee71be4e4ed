/**
 * Report rendering: the SVG charts are well-formed XML (checked by an independent tag-balance
 * parser written here), escape their text, and draw what they are given; the Markdown tables put
 * the paper's values beside ours.
 */
import { describe, expect, it } from 'vitest';
import { escapeXml, histogramSvg, lineSvg, niceTicks, rocSvg } from '../../../benchmarks/lib/svg.js';
import { imageTables, type TrainResultJson } from '../../../benchmarks/image-ood/run.js';
import { OOD_NAMES } from '../../../benchmarks/image-ood/paper.js';
import { creditTables, type SplitResult } from '../../../benchmarks/credit-fraud/run.js';
import { metrics, mdTable } from '../../../benchmarks/lib/evaluate.js';

/** Minimal XML well-formedness check: balanced, properly nested tags, quoted attributes, known entities only. */
function wellFormed(xml: string): { ok: boolean; why?: string; tags: string[] } {
  const body = xml.replace(/^<\?xml[^?]*\?>\s*/, '');
  const stack: string[] = [];
  const tags: string[] = [];
  const re = /<(\/?)([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>/g;
  let last = 0;
  let m: RegExpExecArray | null;
  let roots = 0;
  while ((m = re.exec(body)) !== null) {
    const between = body.slice(last, m.index);
    if (between.includes('<') || between.includes('>'))
      return { ok: false, why: `stray markup near ${JSON.stringify(between.slice(0, 40))}`, tags };
    for (const ent of between.match(/&[^;\s]*;?/g) ?? [])
      if (!/^&(amp|lt|gt|quot|apos);$/.test(ent)) return { ok: false, why: `bad entity ${ent}`, tags };
    last = re.lastIndex;
    const [, close, name, , self] = m;
    if (close) {
      if (stack.pop() !== name) return { ok: false, why: `mismatched </${name}>`, tags };
    } else {
      tags.push(name);
      if (stack.length === 0) roots++;
      if (!self) stack.push(name);
    }
  }
  if (body.slice(last).trim() !== '') return { ok: false, why: 'trailing content', tags };
  if (stack.length) return { ok: false, why: `unclosed <${stack.join('>, <')}>`, tags };
  if (roots !== 1) return { ok: false, why: `${roots} root elements`, tags };
  return { ok: true, tags };
}

describe('wellFormed (the checker itself)', () => {
  it('rejects broken XML', () => {
    expect(wellFormed('<svg><g></svg>').ok).toBe(false);
    expect(wellFormed('<svg><text>a < b</text></svg>').ok).toBe(false);
    expect(wellFormed('<svg><text>R&D</text></svg>').ok).toBe(false);
    expect(wellFormed('<svg a="1"/><svg/>').ok).toBe(false);
    expect(wellFormed('<svg><text>a &amp; b</text><line x="1"/></svg>').ok).toBe(true);
  });
});

describe('rocSvg / histogramSvg', () => {
  it('ROC chart: well-formed, one path per series plus the legend, hostile names escaped', () => {
    const svg = rocSvg(
      [
        {
          name: 'log p <single> & "x"',
          points: [
            { fpr: 0, tpr: 0 },
            { fpr: 0.1, tpr: 0.8 },
            { fpr: 1, tpr: 1 },
          ],
        },
        {
          name: 'Rate',
          points: [
            { fpr: 0, tpr: 0 },
            { fpr: 1, tpr: 1 },
          ],
        },
      ],
      'MNIST vs <Omniglot>',
    );
    const r = wellFormed(svg);
    expect(r.why).toBeUndefined();
    expect(r.ok).toBe(true);
    expect(r.tags.filter((t) => t === 'path')).toHaveLength(2);
    expect(svg).toContain('log p &lt;single&gt; &amp; &quot;x&quot;');
    expect(svg).toContain('MNIST vs &lt;Omniglot&gt;');
    // the point (0.1, 0.8) lands inside the plot frame: x = 56 + 0.1·314, y = 30 + 284·0.2
    expect(svg).toContain(
      `L${Math.round((56 + 0.1 * 314) * 100) / 100} ${Math.round((30 + 284 * 0.2) * 100) / 100}`,
    );
  });

  it('histogram: well-formed, densities integrate to 1, extreme values do not widen the axis', () => {
    const a = Array.from({ length: 1000 }, (_, i) => -100 - (i % 50));
    const b = [
      ...Array.from({ length: 990 }, (_, i) => -120 - (i % 30)),
      ...Array.from({ length: 10 }, () => -1e6),
    ];
    const svg = histogramSvg(
      [
        { name: 'test', values: a },
        { name: 'noise', values: b },
      ],
      'log p',
      'nats',
      20,
    );
    const r = wellFormed(svg);
    expect(r.ok).toBe(true);
    expect(r.tags.filter((t) => t === 'path')).toHaveLength(2);
    expect(svg).toContain('end bins hold values beyond');
    expect(svg).not.toContain('1.0e+6');
    expect(() => histogramSvg([{ name: 'empty', values: [] }], 't', 'x')).not.toThrow();
    expect(wellFormed(histogramSvg([{ name: 'nan', values: [NaN, Infinity] }], 't', 'x')).ok).toBe(true);
  });

  it('line chart: well-formed, one path per non-empty series, points placed on the axes given by the data', () => {
    const svg = lineSvg(
      [
        {
          name: '1 × <6>',
          points: [
            { x: 0, y: 100 },
            { x: 5, y: 50 },
            { x: 10, y: 0 },
          ],
        },
        { name: 'empty', points: [] },
      ],
      'lag & time',
      'seconds',
      'records',
    );
    const r = wellFormed(svg);
    expect(r.ok, r.why).toBe(true);
    expect(r.tags.filter((t) => t === 'path')).toHaveLength(1);
    expect(svg).toContain('1 × &lt;6&gt;');
    expect(svg).toContain('lag &amp; time');
    // x in [0, 10] over 314 px from 56; y in [0, 100] over 284 px from the bottom (30 + 284)
    expect(svg).toContain(`M56 30 L${56 + 157} ${30 + 142} L${56 + 314} ${30 + 284}`);
  });

  it('niceTicks and escapeXml', () => {
    expect(niceTicks(0, 1)).toEqual([0, 0.2, 0.4, 0.6000000000000001, 0.8, 1]);
    expect(niceTicks(-300, -100).every((t) => t >= -300 && t <= -100)).toBe(true);
    expect(escapeXml(`<a href='x'>&</a>`)).toBe('&lt;a href=&apos;x&apos;&gt;&amp;&lt;/a&gt;');
  });
});

describe('report tables', () => {
  it('mdTable', () => {
    expect(mdTable(['a', 'b'], [['1', '2']])).toBe('| a | b |\n| --- | --- |\n| 1 | 2 |');
  });

  it('image table: paper values beside ours and goal verdicts from the default score', () => {
    const perfect = metrics([0, 0.1], [1, 2]); // AUROC 1
    const coin = metrics([0, 1], [0, 1]); // AUROC 0.5
    const m = {
      neg_logp_single: perfect,
      rate: coin,
      logp_var: coin,
      neg_waic: perfect,
      neg_logp: perfect,
      combined: coin,
      default: perfect,
    };
    const sets = Object.fromEntries(
      OOD_NAMES.map((o) => [
        o,
        { name: o, n: 2, metrics: { ...m, ...(o === 'hflip' ? { default: coin } : {}) }, roc: {} },
      ]),
    );
    const r: TrainResultJson = {
      train: 'fashion',
      checkpoint: '/x',
      cached: true,
      trainMs: null,
      defaultScore: 'neg_logp',
      checkpointScore: 'neg_logp',
      trainingConfig: {},
      inDistribution: { name: 'fashion-mnist/test', n: 2 },
      sets,
      validation: {
        proxies: {
          blur: {
            neg_logp_single: 0.9,
            rate: 0.5,
            logp_var: 0.5,
            neg_waic: 0.8,
            neg_logp: 0.95,
            combined: 0.7,
          },
        },
        meanAuroc: {
          neg_logp_single: 0.9,
          rate: 0.5,
          logp_var: 0.5,
          neg_waic: 0.8,
          neg_logp: 0.95,
          combined: 0.7,
        },
        best: 'neg_logp',
      },
      histograms: {},
    };
    const md = imageTables([r]);
    expect(md).toContain('paper log p');
    expect(md).toContain('paper WAIC');
    // Fashion → MNIST row: paper log p 40.4, Rate 97.1, WAIC 14.2; goal 97.1 met with AUROC 100
    expect(md).toMatch(
      /\| other \| 100\.0 \| 50\.0 \| 50\.0 \| 100\.0 \| 100\.0 \| 40\.4 \| 97\.1 \| 14\.2 \| 97\.1 \| met \|/,
    );
    // HFlip default at 50 misses the 72.4 goal by 22.4
    expect(md).toMatch(/\| hflip \|.*\| 72\.4 \| \*\*missed\*\* \(-22\.4\) \|/);
  });

  it('credit table: mean ± std over splits with the paper column', () => {
    const mk = (a: number): SplitResult => {
      const good = metrics([0, 0.1, 0.2, a], [0.3, 0.5, 0.6, 0.7]);
      const row = {
        neg_logp_single: good,
        rate: good,
        logp_var: good,
        neg_waic: good,
        neg_logp: good,
        combined: good,
      };
      return {
        seed: 0,
        counts: {
          train: 1,
          validationNormals: 1,
          validationFrauds: 1,
          testFrauds: 4,
          testNormals: 4,
          heldOutNormals: 4,
          paperTest: 10,
        },
        validation: { 'bernoulli-minmax': { neg_logp: 0.9 }, 'gaussian-standard': { neg_logp: 0.8 } },
        chosen: 'bernoulli-minmax',
        test: row,
        realisticAp: {
          neg_logp_single: 0.5,
          rate: 0.5,
          logp_var: 0.5,
          neg_waic: 0.5,
          neg_logp: 0.5,
          combined: 0.5,
        },
        realisticFraudRate: 0.5,
        paper: row,
        classifier: good,
        roc: {},
        hist: { normal: [], fraud: [], normalWaic: [], fraudWaic: [] },
      };
    };
    // split 1: all positives above all negatives (AUROC 1); split 2: one negative above all (AUROC 0.75)
    const md = creditTables({ defaultScore: 'neg_logp' }, [mk(0.25), mk(0.9)]);
    expect(md).toContain('| Single IWAE (log p, one member) |');
    expect(md).toMatch(
      /\| WAIC \| [\d.]+ ± [\d.]+ \| 87\.5 ± 17\.7 \| [\d.]+ ± [\d.]+ \| 15\.2 \| 94\.7 \| 92\.1 \|/,
    );
    expect(md).toContain('AUROC 87.5 (goal ≥ 96): **missed**');
  });
});
