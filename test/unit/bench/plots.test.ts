/**
 * The reports' charts (benchmarks/lib/plots.ts, Vega-Lite → Vega → headless SVG): each output is parsed
 * as XML by an independent strict parser written here, then checked for what it draws (marks per
 * series, where a known point lands, axis titles, legend labels, heat-map cell colours), for escaping
 * of hostile text, and for byte-identical output on identical input, also when renders overlap.
 */
import { afterEach, beforeEach, describe, expect, it, vi, type MockInstance } from 'vitest';
import {
  PALETTE,
  heatmapGridSvg,
  heatmapSvg,
  histogramSvg,
  lineSvg,
  rocSvg,
  type HeatmapGrid,
} from '../../../benchmarks/lib/plots.js';

interface El {
  name: string;
  attrs: Record<string, string>;
  children: El[];
  text: string;
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function decode(s: string): string {
  return s.replace(/&(#x[0-9a-fA-F]+|#\d+|\w+);/g, (_, e: string) =>
    e[0] === '#' ? String.fromCodePoint(Number(e[1] === 'x' ? '0' + e.slice(1) : e.slice(1))) : ENTITIES[e],
  );
}

/**
 * Strict XML parse into a tree: optional XML declaration, one root, balanced and properly nested tags,
 * double-quoted attributes without '<', no duplicate attribute, only known or numeric entities, no
 * stray '<' / '>' / '&' in text. Throws on the first violation.
 */
function parseXml(xml: string): El {
  const body = xml.replace(/^<\?xml version="1\.0" encoding="UTF-8"\?>\n/, '');
  if (body.startsWith('<?')) throw new Error('bad XML declaration');
  const checkText = (t: string, where: string): void => {
    if (/[<>]/.test(t)) throw new Error(`stray markup ${where}: ${JSON.stringify(t.slice(0, 40))}`);
    for (const ent of t.match(/&[^;\s]*;?/g) ?? [])
      if (!/^&(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);$/.test(ent)) throw new Error(`bad entity ${ent}`);
  };
  const root: El = { name: '#document', attrs: {}, children: [], text: '' };
  const stack: El[] = [root];
  const tag = /<(\/?)([A-Za-z][\w:.-]*)((?:\s+[\w:.-]+="[^"<]*")*)\s*(\/?)>/g;
  let last = 0;
  let m: RegExpExecArray | null;
  while ((m = tag.exec(body)) !== null) {
    const between = body.slice(last, m.index);
    checkText(between, `before <${m[2]}>`);
    stack[stack.length - 1].text += decode(between);
    last = tag.lastIndex;
    const [, close, name, attrText, self] = m;
    if (close) {
      if (attrText || self) throw new Error(`malformed </${name}>`);
      const open = stack.pop();
      if (open?.name !== name) throw new Error(`</${name}> closes <${open?.name}>`);
      continue;
    }
    const attrs: Record<string, string> = {};
    for (const a of attrText.matchAll(/([\w:.-]+)="([^"]*)"/g)) {
      if (a[1] in attrs) throw new Error(`duplicate attribute ${a[1]} on <${name}>`);
      checkText(a[2], `in ${a[1]}`);
      attrs[a[1]] = decode(a[2]);
    }
    const el: El = { name, attrs, children: [], text: '' };
    const parent = stack[stack.length - 1];
    if (parent === root && root.children.length) throw new Error('several root elements');
    parent.children.push(el);
    if (!self) stack.push(el);
  }
  if (body.slice(last).trim() !== '') throw new Error('content after the root element');
  if (stack.length !== 1) throw new Error(`unclosed <${stack[stack.length - 1].name}>`);
  if (root.children.length !== 1) throw new Error('no root element');
  return root.children[0];
}

function all(el: El, pred: (e: El) => boolean, out: El[] = []): El[] {
  if (pred(el)) out.push(el);
  for (const c of el.children) all(c, pred, out);
  return out;
}

/** The `g` groups of Vega marks whose class list has all of `classes` (e.g. 'mark-line', 'role-mark'). */
const groups = (svg: El, ...classes: string[]): El[] =>
  all(svg, (e) => e.name === 'g' && classes.every((c) => (e.attrs.class ?? '').split(' ').includes(c)));

const paths = (g: El[]): El[] => g.flatMap((x) => x.children.filter((c) => c.name === 'path'));

const texts = (svg: El, ...classes: string[]): string[] =>
  groups(svg, ...classes).flatMap((g) => g.children.filter((c) => c.name === 'text').map((t) => t.text));

/** Tick labels of the axis titled `title`. */
function axisLabels(svg: El, title: string): string[] {
  const axes = groups(svg, 'role-axis').filter((g) => texts(g, 'role-axis-title').includes(title));
  expect(axes).toHaveLength(1);
  return texts(axes[0], 'role-axis-label');
}

function parseSvg(xml: string): El {
  expect(xml.startsWith('<?xml version="1.0" encoding="UTF-8"?>\n<svg ')).toBe(true);
  const svg = parseXml(xml);
  expect(svg.name).toBe('svg');
  expect(svg.attrs.xmlns).toBe('http://www.w3.org/2000/svg');
  expect(Number(svg.attrs.width)).toBeGreaterThan(0);
  expect(Number(svg.attrs.height)).toBeGreaterThan(0);
  return svg;
}

/** Relative luminance of '#rrggbb' (viridis, the default scheme, rises monotonically in it). */
function luminance(hex: string): number {
  const [r, g, b] = [1, 3, 5].map((i) => {
    const c = parseInt(hex.slice(i, i + 2), 16) / 255;
    return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

/** Area of the polygon of an absolute 'M x,y L x,y … Z' path (shoelace formula). */
function polygonArea(d: string): number {
  expect(d).toMatch(/^M[-\d.,L]+Z$/);
  const pts = d
    .slice(1, -1)
    .split('L')
    .map((p) => p.split(',').map(Number));
  let a = 0;
  for (let i = 0; i < pts.length; i++) {
    const [x1, y1] = pts[i];
    const [x2, y2] = pts[(i + 1) % pts.length];
    a += x1 * y2 - x2 * y1;
  }
  return Math.abs(a) / 2;
}

let warn: MockInstance;
beforeEach(() => {
  warn = vi.spyOn(console, 'warn');
});
afterEach(() => {
  // Vega-Lite reports spec problems (conflicting or dropped properties) through console.warn.
  expect(warn).not.toHaveBeenCalled();
  warn.mockRestore();
});

const HOSTILE = `<script>alert('x')</script> & "q"`;

describe('strict XML parser (the checker itself)', () => {
  it('rejects broken XML and decodes entities', () => {
    for (const bad of [
      '<svg><g></svg>',
      '<svg><text>a < b</text></svg>',
      '<svg><text>R&D</text></svg>',
      '<svg a="1"/><svg/>',
      '<svg a="1" a="2"/>',
      "<svg a='1'/>",
      '<svg>',
    ])
      expect(() => parseXml(bad), bad).toThrow();
    const ok = parseXml('<svg><text x="&quot;">a &amp; &lt;b&gt;</text><line x="1"/></svg>');
    expect(ok.children.map((c) => c.name)).toEqual(['text', 'line']);
    expect(ok.children[0].text).toBe('a & <b>');
    expect(ok.children[0].attrs.x).toBe('"');
  });
});

describe('rocSvg', () => {
  const series = [
    {
      name: `log p ${HOSTILE}`,
      points: [
        { fpr: 0, tpr: 0 },
        { fpr: 0.1, tpr: 0.8 },
        { fpr: 0.1, tpr: 0.9 },
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
  ];

  it('one line per series in palette order plus the dashed chance diagonal, points where the data puts them', async () => {
    const xml = await rocSvg(series, `MNIST vs ${HOSTILE}`);
    const svg = parseSvg(xml);
    const lines = paths(groups(svg, 'mark-line', 'role-mark'));
    expect(lines).toHaveLength(3);
    const diagonal = lines.filter((p) => p.attrs['stroke-dasharray']);
    expect(diagonal).toHaveLength(1);
    expect(diagonal[0].attrs.d).toBe('M0,284L314,0');
    const curves = lines.filter((p) => !p.attrs['stroke-dasharray']);
    expect(curves.map((p) => p.attrs.stroke)).toEqual([PALETTE[0], PALETTE[1]]);
    // 314 × 284 px plot, y downwards: (0.1, 0.8) → (31.4, 56.8); points stay in the given order
    // (two at fpr 0.1: a vertical step up, not re-sorted)
    expect(curves[0].attrs.d).toBe('M0,284L31.4,56.8L31.4,28.4L314,0');
    expect(texts(svg, 'role-axis-title')).toEqual(['false-positive rate', 'true-positive rate']);
    expect(texts(svg, 'role-legend-label')).toEqual([`log p ${HOSTILE}`, 'Rate']);
    expect(texts(svg, 'role-title-text')).toEqual([`MNIST vs ${HOSTILE}`]);
    expect(xml).not.toContain('<script>');
    expect(xml).toContain('MNIST vs &lt;script&gt;');
  });

  it('repeated series names keep one colour each', async () => {
    const svg = parseSvg(
      await rocSvg(
        [
          { name: 'a', points: series[1].points },
          { name: 'a', points: series[0].points },
        ],
        't',
      ),
    );
    expect(texts(svg, 'role-legend-label')).toEqual(['a', 'a (2)']);
    const strokes = paths(groups(svg, 'mark-line', 'role-mark'))
      .filter((p) => !p.attrs['stroke-dasharray'])
      .map((p) => p.attrs.stroke);
    expect(strokes).toEqual([PALETTE[0], PALETTE[1]]);
  });
});

describe('histogramSvg', () => {
  const a = Array.from({ length: 1000 }, (_, i) => -100 - (i % 50));
  const b = [
    ...Array.from({ length: 990 }, (_, i) => -120 - (i % 30)),
    ...Array.from({ length: 10 }, () => -1e6),
  ];

  it('one filled step area per series, each of unit area, extreme values clipped into the end bins', async () => {
    const svg = parseSvg(
      await histogramSvg(
        [
          { name: 'test', values: a },
          { name: 'noise <&>', values: b },
        ],
        'log p',
        'nats',
        20,
      ),
    );
    const areas = paths(groups(svg, 'mark-area', 'role-mark'));
    expect(areas.map((p) => p.attrs.fill)).toEqual([PALETTE[0], PALETTE[1]]);
    expect(areas.map((p) => p.attrs.stroke)).toEqual([PALETTE[0], PALETTE[1]]);
    expect(areas.every((p) => p.attrs['fill-opacity'] === '0.15')).toBe(true);
    // both densities integrate to 1, so both polygons enclose the same number of px²
    const [s1, s2] = areas.map((p) => polygonArea(p.attrs.d));
    expect(s1).toBeGreaterThan(1000);
    expect(Math.abs(s1 - s2) / s1).toBeLessThan(0.005);
    expect(texts(svg, 'role-axis-title')).toEqual(['nats (end bins hold values beyond)', 'density']);
    expect(texts(svg, 'role-legend-label')).toEqual(['test', 'noise <&>']);
    // the x axis spans the pooled 0.5–99.5 % quantiles, not the -1e6 outliers
    const xLabels = axisLabels(svg, 'nats (end bins hold values beyond)').map((t) =>
      Number(t.replace(/\u2212/g, '-').replace(/,/g, '')),
    );
    expect(xLabels.length).toBeGreaterThan(2);
    for (const v of xLabels) expect(v >= -150 && v <= -99).toBe(true);
  });

  it('empty and non-finite series render without throwing', async () => {
    parseSvg(await histogramSvg([{ name: 'empty', values: [] }], 't', 'x'));
    const svg = parseSvg(await histogramSvg([{ name: 'nan', values: [NaN, Infinity] }], 't', 'x'));
    expect(texts(svg, 'role-legend-label')).toEqual(['nan']);
  });
});

describe('lineSvg', () => {
  it('one line per non-empty series on axes that include 0; every series in the legend', async () => {
    const svg = parseSvg(
      await lineSvg(
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
          {
            name: 'late',
            points: [
              { x: 4, y: 40 },
              { x: 6, y: 20 },
            ],
          },
        ],
        'lag & time',
        'seconds',
        'records',
      ),
    );
    const lines = paths(groups(svg, 'mark-line', 'role-mark'));
    expect(lines.map((p) => p.attrs.stroke)).toEqual([PALETTE[0], PALETTE[2]]);
    // x in [0, 10] over 314 px, y in [0, 100] over 284 px from the bottom
    expect(lines[0].attrs.d).toBe('M0,0L157,142L314,284');
    expect(lines[1].attrs.d).toBe('M125.6,170.4L188.4,227.2');
    expect(texts(svg, 'role-legend-label')).toEqual(['1 × <6>', 'empty', 'late']);
    expect(texts(svg, 'role-axis-title')).toEqual(['seconds', 'records']);
    expect(texts(svg, 'role-title-text')).toEqual(['lag & time']);
  });

  it('no data at all still renders', async () => {
    parseSvg(await lineSvg([{ name: 'none', points: [] }], 't', 'x', 'y'));
  });
});

describe('heatmapSvg', () => {
  // 3 × 2 grid: values[iy][ix], y upwards
  const grid: HeatmapGrid = {
    xs: [0, 1, 2],
    ys: [10, 20],
    values: [
      [1, 2, 3],
      [4, 5, 6],
    ],
  };

  it('6 cells at their places, colours ordered like the values', async () => {
    const svg = parseSvg(await heatmapSvg(grid, `grid ${HOSTILE}`, { colorLabel: 'density', xLabel: 'x₁' }));
    const cells = paths(groups(svg, 'mark-rect', 'role-mark'));
    expect(cells).toHaveLength(6);
    // default size: 80 px per column, 120 px per row; cell (ix, iy) has its top-left corner at
    // (80·ix, 120·(1 − iy))
    const at = (ix: number, iy: number): El => {
      const c = cells.find((p) => p.attrs.d.startsWith(`M${80 * ix},${120 * (1 - iy)}h80v120h-80`));
      expect(c, `cell ${ix},${iy}`).toBeDefined();
      return c as El;
    };
    const byValue = [0, 1].flatMap((iy) => [0, 1, 2].map((ix) => at(ix, iy).attrs.fill));
    for (const f of byValue) expect(f).toMatch(/^#[0-9a-f]{6}$/);
    const lum = byValue.map(luminance);
    for (let i = 1; i < lum.length; i++) expect(lum[i]).toBeGreaterThan(lum[i - 1]);
    expect(texts(svg, 'role-legend-title')).toEqual(['density']);
    expect(texts(svg, 'role-axis-title')).toEqual(['x₁']);
    expect(texts(svg, 'role-title-text')).toEqual([`grid ${HOSTILE}`]);
    // a colour gradient legend
    expect(all(svg, (e) => e.name === 'linearGradient')).toHaveLength(1);
  });

  it('overlaid points, log scale (cells ≤ 0 or non-finite left blank), a 60 × 60 grid', async () => {
    const n = 60;
    const xs = Array.from({ length: n }, (_, i) => -3 + (6 * (i + 0.5)) / n);
    const values = xs.map((y) => xs.map((x) => Math.exp(-(x * x + y * y) / 2)));
    values[0][0] = 0;
    values[0][1] = NaN;
    const svg = parseSvg(
      await heatmapSvg({ xs, ys: xs, values }, 'density', {
        log: true,
        scheme: 'magma',
        points: [
          { x: 0, y: 0 },
          { x: 1, y: -1 },
          { x: 9, y: 9 }, // outside: clipped, still one symbol
        ],
      }),
    );
    expect(paths(groups(svg, 'mark-rect', 'role-mark'))).toHaveLength(n * n - 2);
    expect(paths(groups(svg, 'mark-symbol', 'role-mark'))).toHaveLength(3);
  });

  it('rejects values that do not match xs × ys', async () => {
    await expect(heatmapSvg({ xs: [0, 1], ys: [0], values: [[1]] }, 't')).rejects.toThrow(/1 × 2/);
    await expect(heatmapSvg({ xs: [], ys: [], values: [] }, 't')).rejects.toThrow(/empty/);
  });

  it('heatmapGridSvg: panels side by side, each with its own colour legend', async () => {
    const svg = parseSvg(
      await heatmapGridSvg(
        [
          { grid, title: 'a', opts: { colorLabel: 'p' } },
          { grid: { ...grid, values: grid.values.map((r) => r.map((v) => -v)) }, title: 'b' },
        ],
        'toy 2-D',
      ),
    );
    const panels = groups(svg, 'mark-rect', 'role-mark');
    expect(panels).toHaveLength(2);
    expect(panels.map((g) => g.children.length)).toEqual([6, 6]);
    // panel b's values are negated: its colours run the other way
    const [fa, fb] = panels.map((g) => g.children.map((p) => p.attrs.fill));
    expect(fb).toEqual([...fa].reverse());
    expect(all(svg, (e) => e.name === 'linearGradient')).toHaveLength(2);
    expect(texts(svg, 'role-title-text').sort()).toEqual(['a', 'b', 'toy 2-D']);
  });
});

describe('determinism', () => {
  it('same input → byte-identical SVG, also when renders run concurrently', async () => {
    const grid: HeatmapGrid = {
      xs: [0, 1, 2],
      ys: [0, 1],
      values: [
        [1, 2, 3],
        [4, 5, 6],
      ],
    };
    const roc = [
      {
        name: 'x',
        points: [
          { fpr: 0, tpr: 0 },
          { fpr: 1 / 3, tpr: 2 / 3 },
          { fpr: 1, tpr: 1 },
        ],
      },
    ];
    const hist = [{ name: 'h', values: Array.from({ length: 500 }, (_, i) => Math.sin(i) * 7) }];
    const seq = [
      await heatmapSvg(grid, 'g'),
      await rocSvg(roc, 'r'),
      await histogramSvg(hist, 'h', 'v'),
      await heatmapGridSvg([
        { grid, title: 'a' },
        { grid, title: 'b' },
      ]),
    ];
    const par = await Promise.all([
      heatmapSvg(grid, 'g'),
      rocSvg(roc, 'r'),
      histogramSvg(hist, 'h', 'v'),
      heatmapGridSvg([
        { grid, title: 'a' },
        { grid, title: 'b' },
      ]),
    ]);
    expect(par).toEqual(seq);
    expect(await rocSvg(roc, 'r')).toBe(seq[1]);
    // long decimals are rounded in attributes: 1/3 of 314 px
    expect(seq[1]).toContain('L104.667,94.667');
  });
});
