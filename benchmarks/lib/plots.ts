/**
 * The benchmark reports' charts, declared in Vega-Lite, compiled to Vega and drawn by Vega's headless
 * SVG renderer (`new View(…, { renderer: 'none' }).toSVG()`): no canvas, no native modules, no DOM.
 *
 * - ROC curves, overlaid density histograms and line charts, one colour per series from PALETTE;
 * - heat maps of a 2-D grid (rect marks, quantitative colour scale, optional overlaid points), and a
 *   row/grid of such panels in one SVG.
 *
 * Output is a standalone SVG document (XML declaration, `xmlns`), with every text escaped by Vega's
 * serialiser, and deterministic: renders are serialised through one queue that resets Vega's clip and
 * gradient id counters, text widths come from a fixed table of Helvetica advance widths (never from a
 * canvas, even if one is installed), and coordinates are rounded to 3 decimals.
 */
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

export const PALETTE = [
  '#1f77b4',
  '#d62728',
  '#2ca02c',
  '#ff7f0e',
  '#9467bd',
  '#8c564b',
  '#e377c2',
  '#7f7f7f',
  '#bcbd22',
  '#17becf',
];

export interface RocSeries {
  name: string;
  points: ReadonlyArray<{ fpr: number; tpr: number }>;
}

export interface HistSeries {
  name: string;
  values: ArrayLike<number>;
}

export interface LineSeries {
  name: string;
  points: ReadonlyArray<{ x: number; y: number }>;
}

/** A 2-D grid of cell values: `values[iy][ix]` is the cell centred at (xs[ix], ys[iy]). */
export interface HeatmapGrid {
  xs: number[];
  ys: number[];
  values: number[][];
}

export interface HeatmapOptions {
  /** Title of the colour legend (none by default). */
  colorLabel?: string;
  /** Points drawn over the cells (white dots with a dark outline), e.g. training data. */
  points?: { x: number; y: number }[];
  /** A Vega colour scheme name (https://vega.github.io/vega/docs/schemes/); default 'viridis'. */
  scheme?: string;
  /** Logarithmic colour scale; cells ≤ 0 are then left blank like non-finite ones. */
  log?: boolean;
  /** Colour scale domain [min, max] (e.g. shared by several panels); default: the finite values' range. */
  domain?: [number, number];
  xLabel?: string;
  yLabel?: string;
  /** Plot size in px; default ≈ 240, rounded to whole pixels per cell. */
  width?: number;
  height?: number;
}

// ------------------------------------------------------------------ rendering

/** Helvetica/Arial advance widths (1/1000 em) of ASCII 32–126. */
const HELVETICA = [
  278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, 556, 556, 556, 556, 556,
  556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556, 1015, 667, 667, 722, 722, 667, 611, 778, 722, 278,
  500, 667, 556, 833, 722, 778, 667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469,
  556, 333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556, 556, 556, 333, 500,
  278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584,
];

interface TextItem {
  fontSize?: number;
  fontWeight?: string | number;
}

function textWidth(item: TextItem, text: unknown): number {
  const s = text == null ? '' : String(text).trim();
  const size = item.fontSize != null ? +item.fontSize || 0 : 11;
  let em = 0;
  for (const ch of s) {
    const c = ch.codePointAt(0) ?? 0;
    em += c >= 32 && c <= 126 ? HELVETICA[c - 32] : 600;
  }
  const bold = item.fontWeight === 'bold' || Number(item.fontWeight) >= 600;
  // 10% to spare for viewers without Helvetica/Arial (DejaVu Sans is wider).
  return (em / 1000) * size * (bold ? 1.07 : 1) * 1.1;
}

// Vega measures text with a canvas when `canvas` is installed and guesses 0.8 em per character
// otherwise; a fixed table keeps layouts identical everywhere and closer to what a browser draws.
(vega as unknown as { textMetrics: { width: (item: TextItem, text: unknown) => number } }).textMetrics.width =
  textWidth;

/** An attribute value with long decimals rounded to 3 places and `rgb(r, g, b)` colours written as hex. */
const compact = (s: string): string =>
  s
    .replace(/-?\d*\.\d{4,}/g, (n) => {
      const v = Math.round(Number(n) * 1000) / 1000;
      return Object.is(v, -0) ? '0' : String(v);
    })
    .replace(/^rgb\((\d+), ?(\d+), ?(\d+)\)$/, (_, r: string, g: string, b: string) =>
      [r, g, b].reduce((h, c) => h + Number(c).toString(16).padStart(2, '0'), '#'),
    );

let queue: Promise<unknown> = Promise.resolve();

/** Compiles a Vega-Lite spec and renders it to a standalone SVG document (one render at a time). */
export function renderSvg(spec: TopLevelSpec): Promise<string> {
  const job = queue.then(async () => {
    const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
    try {
      vega.resetSVGDefIds();
      const svg = await view.toSVG();
      // Compact attribute values only: text content stays as Vega wrote it (with < > & escaped, so
      // every '<…>' is a tag).
      const body = svg.replace(/<[^>]*>/g, (tag) =>
        tag.replace(/="([^"]*)"/g, (_, v: string) => `="${compact(v)}"`),
      );
      return `<?xml version="1.0" encoding="UTF-8"?>\n${body}\n`;
    } finally {
      view.finalize();
    }
  });
  queue = job.catch(() => undefined);
  return job;
}

const WIDTH = 314;
const HEIGHT = 284;

const CONFIG = {
  font: 'Helvetica, Arial, sans-serif',
  aria: false,
  background: 'white',
  padding: 8,
  title: { fontSize: 13, anchor: 'middle', offset: 8 },
  axis: {
    labelFontSize: 10,
    titleFontSize: 12,
    titleFontWeight: 'normal',
    labelLimit: 400,
    gridColor: '#eee',
  },
  legend: { labelFontSize: 10, labelLimit: 400, titleFontSize: 11, titleLimit: 400 },
  view: { stroke: '#444' },
} as const;

/** Series names made unique (a repeated name gets " (2)", " (3)", …) so each keeps its own colour. */
function uniqueNames(names: string[]): string[] {
  const seen = new Map<string, number>();
  return names.map((n) => {
    const k = (seen.get(n) ?? 0) + 1;
    seen.set(n, k);
    return k === 1 ? n : `${n} (${k})`;
  });
}

function seriesColor(names: string[]): Record<string, unknown> {
  return {
    field: 's',
    type: 'nominal',
    scale: { domain: names, range: names.map((_, i) => PALETTE[i % PALETTE.length]) },
    legend: { title: null, symbolType: 'stroke', symbolStrokeWidth: 2, orient: 'right' },
  };
}

/** One line per series (x, y from the parent's encoding), points joined in their given order `k`. */
function lineLayer(rows: Record<string, unknown>[], names: string[], strokeWidth: number): unknown {
  return {
    data: { values: rows },
    mark: { type: 'line', strokeWidth, clip: true },
    encoding: { order: { field: 'k', type: 'quantitative' }, color: seriesColor(names) },
  };
}

// ------------------------------------------------------------------ charts

/** ROC curves in one chart (FPR on x, TPR on y, chance diagonal dashed). */
export async function rocSvg(series: RocSeries[], title: string): Promise<string> {
  const names = uniqueNames(series.map((s) => s.name));
  const rows = series.flatMap((s, i) => s.points.map((p, k) => ({ s: names[i], k, x: p.fpr, y: p.tpr })));
  const unit = { type: 'quantitative', scale: { domain: [0, 1], nice: false, zero: false } };
  return renderSvg({
    title,
    width: WIDTH,
    height: HEIGHT,
    config: CONFIG,
    encoding: {
      x: { ...unit, field: 'x', title: 'false-positive rate' },
      y: { ...unit, field: 'y', title: 'true-positive rate' },
    },
    layer: [
      {
        data: {
          values: [
            { x: 0, y: 0 },
            { x: 1, y: 1 },
          ],
        },
        mark: { type: 'line', color: '#999', strokeDash: [4, 3], strokeWidth: 1 },
      },
      lineLayer(rows, names, 1.5),
    ],
  } as TopLevelSpec);
}

function quantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.round(q * (sorted.length - 1))));
  return sorted[i];
}

/**
 * Overlaid density histograms (each series normalised to unit area) over a shared bin range: the
 * pooled [0.5%, 99.5%] quantiles of all finite values, values outside are counted in the end bins
 * (the axis label says so), so one extreme data set (noise) cannot squash the others to a line.
 * Each series is a translucent step area with a step outline.
 */
export async function histogramSvg(
  series: HistSeries[],
  title: string,
  xLabel: string,
  bins = 40,
): Promise<string> {
  const all: number[] = [];
  for (const s of series)
    for (let i = 0; i < s.values.length; i++) if (Number.isFinite(s.values[i])) all.push(s.values[i]);
  const sorted = Float64Array.from(all).sort();
  let lo = quantile(sorted, 0.005);
  let hi = quantile(sorted, 0.995);
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) {
    lo = 0;
    hi = 1;
  }
  if (!(hi > lo)) {
    lo -= 0.5;
    hi += 0.5;
  }
  const clipped = sorted.length > 0 && (sorted[0] < lo || sorted[sorted.length - 1] > hi);
  const w = (hi - lo) / bins;
  const names = uniqueNames(series.map((s) => s.name));
  const rows: Record<string, unknown>[] = [];
  let ymax = 0;
  series.forEach((s, si) => {
    const c = new Float64Array(bins);
    let n = 0;
    for (let i = 0; i < s.values.length; i++) {
      const v = s.values[i];
      if (!Number.isFinite(v)) continue;
      c[Math.min(bins - 1, Math.max(0, Math.floor((v - lo) / w)))]++;
      n++;
    }
    const d = c.map((v) => (n > 0 ? v / (n * w) : 0));
    for (const v of d) ymax = Math.max(ymax, v);
    // step-after: each bin's left edge carries its density; the right end repeats the last one
    for (let b = 0; b <= bins; b++)
      rows.push({ s: names[si], x: b === bins ? hi : lo + b * w, y: d[Math.min(b, bins - 1)] });
  });
  const color = seriesColor(names);
  return renderSvg({
    title,
    width: WIDTH,
    height: HEIGHT,
    config: CONFIG,
    data: { values: rows },
    // one closed step area per series: translucent fill, outline (incl. the ends down to 0) in full colour
    mark: { type: 'area', interpolate: 'step-after', fillOpacity: 0.15, strokeWidth: 1.2, clip: true },
    encoding: {
      x: {
        field: 'x',
        type: 'quantitative',
        title: clipped ? `${xLabel} (end bins hold values beyond)` : xLabel,
        scale: { domain: [lo, hi], nice: false, zero: false },
      },
      y: {
        field: 'y',
        type: 'quantitative',
        title: 'density',
        stack: null,
        scale: { domain: [0, ymax > 0 ? ymax * 1.05 : 1], nice: true },
      },
      color,
      stroke: color,
    },
  } as TopLevelSpec);
}

/** Line chart of several series over a shared x axis (e.g. consumer lag over time); both axes include 0. */
export async function lineSvg(
  series: LineSeries[],
  title: string,
  xLabel: string,
  yLabel: string,
): Promise<string> {
  const names = uniqueNames(series.map((s) => s.name));
  const rows = series.flatMap((s, i) => s.points.map((p, k) => ({ s: names[i], k, x: p.x, y: p.y })));
  const axis = { type: 'quantitative', scale: { zero: true, nice: true } };
  return renderSvg({
    title,
    width: WIDTH,
    height: HEIGHT,
    config: CONFIG,
    encoding: { x: { ...axis, field: 'x', title: xLabel }, y: { ...axis, field: 'y', title: yLabel } },
    layer: [lineLayer(rows, names, 1.5)],
  } as TopLevelSpec);
}

/** Cell edges around centres (midpoints between neighbours, half a step beyond the ends). */
function edges(cs: number[]): number[] {
  if (cs.length === 1) return [cs[0] - 0.5, cs[0] + 0.5];
  const e = [cs[0] - (cs[1] - cs[0]) / 2];
  for (let i = 1; i < cs.length; i++) e.push((cs[i - 1] + cs[i]) / 2);
  e.push(cs[cs.length - 1] + (cs[cs.length - 1] - cs[cs.length - 2]) / 2);
  return e;
}

/** The Vega-Lite layer spec of one heat-map panel (no top-level config), for heatmapSvg and heatmapGridSvg. */
export function heatmapSpec(
  grid: HeatmapGrid,
  title: string,
  opts: HeatmapOptions = {},
): Record<string, unknown> {
  const { xs, ys, values } = grid;
  if (xs.length === 0 || ys.length === 0) throw new Error('heatmap: empty grid');
  if (values.length !== ys.length || values.some((r) => r.length !== xs.length))
    throw new Error(`heatmap: values must be ys.length × xs.length = ${ys.length} × ${xs.length}`);
  const ex = edges(xs);
  const ey = edges(ys);
  const cells: Record<string, number>[] = [];
  for (let iy = 0; iy < ys.length; iy++)
    for (let ix = 0; ix < xs.length; ix++) {
      const v = values[iy][ix];
      if (Number.isFinite(v) && (!opts.log || v > 0))
        cells.push({ x: ex[ix], x2: ex[ix + 1], y: ey[iy], y2: ey[iy + 1], v });
    }
  const pixels = (n: number): number => n * Math.max(1, Math.round(240 / n));
  const range = (e: number[]): [number, number] => [
    Math.min(e[0], e[e.length - 1]),
    Math.max(e[0], e[e.length - 1]),
  ];
  const pos = (field: string, e: number[], label: string | undefined): Record<string, unknown> => ({
    field,
    type: 'quantitative',
    scale: { domain: range(e), nice: false, zero: false },
    axis: { grid: false },
    title: label ?? null,
  });
  const layer: unknown[] = [
    {
      data: { values: cells },
      mark: { type: 'rect' },
      encoding: {
        x: pos('x', ex, opts.xLabel),
        x2: { field: 'x2' },
        y: pos('y', ey, opts.yLabel),
        y2: { field: 'y2' },
        color: {
          field: 'v',
          type: 'quantitative',
          scale: {
            type: opts.log ? 'log' : 'linear',
            scheme: opts.scheme ?? 'viridis',
            ...(opts.log ? {} : { zero: false }),
            nice: false,
            ...(opts.domain ? { domain: opts.domain } : {}),
          },
          legend: {
            title: opts.colorLabel ?? null,
            gradientLength: Math.min(200, opts.height ?? pixels(ys.length)),
          },
        },
      },
    },
  ];
  if (opts.points?.length)
    layer.push({
      data: { values: opts.points.map((p) => ({ x: p.x, y: p.y })) },
      mark: {
        type: 'point',
        filled: true,
        fill: 'white',
        stroke: '#222',
        strokeWidth: 0.8,
        size: 24,
        clip: true,
      },
      encoding: { x: { field: 'x', type: 'quantitative' }, y: { field: 'y', type: 'quantitative' } },
    });
  return {
    title,
    width: opts.width ?? pixels(xs.length),
    height: opts.height ?? pixels(ys.length),
    layer,
  };
}

/** A heat map of a 2-D grid: one rect per finite cell coloured by its value, optional points on top. */
export async function heatmapSvg(
  grid: HeatmapGrid,
  title: string,
  opts: HeatmapOptions = {},
): Promise<string> {
  return renderSvg({ ...heatmapSpec(grid, title, opts), config: CONFIG } as TopLevelSpec);
}

/**
 * Several heat maps side by side in one SVG (Vega-Lite `concat`, `columns` panels per row, default all
 * in one row), each with its own colour scale and legend unless `sharedColor` (one scale over all panels;
 * then give each the same `domain` or let Vega pool them).
 */
export async function heatmapGridSvg(
  panels: { grid: HeatmapGrid; title: string; opts?: HeatmapOptions }[],
  title = '',
  options: { columns?: number; sharedColor?: boolean } = {},
): Promise<string> {
  const color = options.sharedColor ? 'shared' : 'independent';
  return renderSvg({
    ...(title ? { title } : {}),
    config: CONFIG,
    columns: options.columns ?? panels.length,
    concat: panels.map((p) => heatmapSpec(p.grid, p.title, p.opts)),
    resolve: {
      scale: { color, x: 'independent', y: 'independent' },
      legend: { color },
    },
  } as unknown as TopLevelSpec);
}
