/**
 * Tiny dependency-free SVG charts for the benchmark reports: ROC curves (one line per series) and
 * overlaid histograms (one step outline per series, like the paper's Figure 1). Output is plain,
 * well-formed SVG 1.1 with every text escaped; numbers are rounded to keep files small.
 */

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

export function escapeXml(s: string): string {
  return s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

const r2 = (v: number): string => (Math.round(v * 100) / 100).toString();

export interface Frame {
  width: number;
  height: number;
  left: number;
  right: number;
  top: number;
  bottom: number;
}

const FRAME: Frame = { width: 520, height: 360, left: 56, right: 150, top: 30, bottom: 46 };

function fmtTick(v: number): string {
  const a = Math.abs(v);
  if (a === 0) return '0';
  if (a >= 1e4 || a < 1e-2) return v.toExponential(1);
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

/** Evenly spaced "nice" ticks covering [lo, hi]. */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step)
    out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  return out;
}

function axes(
  f: Frame,
  xr: [number, number],
  yr: [number, number],
  title: string,
  xLabel: string,
  yLabel: string,
): { sx: (v: number) => number; sy: (v: number) => number; parts: string[] } {
  const pw = f.width - f.left - f.right;
  const ph = f.height - f.top - f.bottom;
  const sx = (v: number): number => f.left + ((v - xr[0]) / (xr[1] - xr[0] || 1)) * pw;
  const sy = (v: number): number => f.top + ph - ((v - yr[0]) / (yr[1] - yr[0] || 1)) * ph;
  const parts: string[] = [];
  parts.push(`<rect x="${f.left}" y="${f.top}" width="${pw}" height="${ph}" fill="white" stroke="#444"/>`);
  for (const t of niceTicks(xr[0], xr[1])) {
    const x = r2(sx(t));
    parts.push(`<line x1="${x}" y1="${f.top + ph}" x2="${x}" y2="${f.top + ph + 4}" stroke="#444"/>`);
    parts.push(
      `<text x="${x}" y="${f.top + ph + 16}" font-size="10" text-anchor="middle">${escapeXml(fmtTick(t))}</text>`,
    );
  }
  for (const t of niceTicks(yr[0], yr[1])) {
    const y = r2(sy(t));
    parts.push(`<line x1="${f.left - 4}" y1="${y}" x2="${f.left}" y2="${y}" stroke="#444"/>`);
    parts.push(
      `<text x="${f.left - 6}" y="${y}" font-size="10" text-anchor="end" dominant-baseline="middle">${escapeXml(fmtTick(t))}</text>`,
    );
  }
  parts.push(
    `<text x="${f.left + pw / 2}" y="${f.height - 8}" font-size="12" text-anchor="middle">${escapeXml(xLabel)}</text>`,
  );
  parts.push(
    `<text x="14" y="${f.top + ph / 2}" font-size="12" text-anchor="middle" transform="rotate(-90 14 ${f.top + ph / 2})">${escapeXml(yLabel)}</text>`,
  );
  parts.push(
    `<text x="${f.left + pw / 2}" y="18" font-size="13" font-weight="bold" text-anchor="middle">${escapeXml(title)}</text>`,
  );
  return { sx, sy, parts };
}

function legend(f: Frame, names: string[]): string[] {
  const x = f.width - f.right + 10;
  return names.flatMap((name, i) => {
    const y = f.top + 10 + i * 16;
    const c = PALETTE[i % PALETTE.length];
    return [
      `<line x1="${x}" y1="${y}" x2="${x + 16}" y2="${y}" stroke="${c}" stroke-width="2"/>`,
      `<text x="${x + 20}" y="${y}" font-size="10" dominant-baseline="middle">${escapeXml(name)}</text>`,
    ];
  });
}

function wrap(f: Frame, parts: string[]): string {
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n` +
    `<svg xmlns="http://www.w3.org/2000/svg" width="${f.width}" height="${f.height}" viewBox="0 0 ${f.width} ${f.height}" font-family="sans-serif">\n` +
    parts.join('\n') +
    '\n</svg>\n'
  );
}

export interface RocSeries {
  name: string;
  points: ReadonlyArray<{ fpr: number; tpr: number }>;
}

/** ROC curves in one chart (FPR on x, TPR on y, chance diagonal dashed). */
export function rocSvg(series: RocSeries[], title: string): string {
  const f = FRAME;
  const { sx, sy, parts } = axes(f, [0, 1], [0, 1], title, 'false-positive rate', 'true-positive rate');
  parts.push(
    `<line x1="${sx(0)}" y1="${sy(0)}" x2="${sx(1)}" y2="${sy(1)}" stroke="#999" stroke-dasharray="4 3"/>`,
  );
  series.forEach((s, i) => {
    const d = s.points.map((p, k) => `${k === 0 ? 'M' : 'L'}${r2(sx(p.fpr))} ${r2(sy(p.tpr))}`).join(' ');
    parts.push(`<path d="${d}" fill="none" stroke="${PALETTE[i % PALETTE.length]}" stroke-width="1.5"/>`);
  });
  parts.push(
    ...legend(
      f,
      series.map((s) => s.name),
    ),
  );
  return wrap(f, parts);
}

export interface HistSeries {
  name: string;
  values: ArrayLike<number>;
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
 */
export function histogramSvg(series: HistSeries[], title: string, xLabel: string, bins = 40): string {
  const f = FRAME;
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
  const dens = series.map((s) => {
    const c = new Float64Array(bins);
    let n = 0;
    for (let i = 0; i < s.values.length; i++) {
      const v = s.values[i];
      if (!Number.isFinite(v)) continue;
      c[Math.min(bins - 1, Math.max(0, Math.floor((v - lo) / w)))]++;
      n++;
    }
    return c.map((v) => (n > 0 ? v / (n * w) : 0));
  });
  let ymax = 0;
  for (const c of dens) for (const v of c) ymax = Math.max(ymax, v);
  if (!(ymax > 0)) ymax = 1;
  const { sx, sy, parts } = axes(
    f,
    [lo, hi],
    [0, ymax * 1.05],
    title,
    clipped ? `${xLabel} (end bins hold values beyond)` : xLabel,
    'density',
  );
  dens.forEach((c, i) => {
    let d = `M${r2(sx(lo))} ${r2(sy(0))}`;
    for (let b = 0; b < bins; b++)
      d += ` L${r2(sx(lo + b * w))} ${r2(sy(c[b]))} L${r2(sx(lo + (b + 1) * w))} ${r2(sy(c[b]))}`;
    d += ` L${r2(sx(hi))} ${r2(sy(0))}`;
    const col = PALETTE[i % PALETTE.length];
    parts.push(`<path d="${d}" fill="${col}" fill-opacity="0.15" stroke="${col}" stroke-width="1.2"/>`);
  });
  parts.push(
    ...legend(
      f,
      series.map((s) => s.name),
    ),
  );
  return wrap(f, parts);
}

export interface LineSeries {
  name: string;
  points: ReadonlyArray<{ x: number; y: number }>;
}

/** Line chart of several series over a shared x axis (e.g. consumer lag over time). */
export function lineSvg(series: LineSeries[], title: string, xLabel: string, yLabel: string): string {
  const f = FRAME;
  const xs = series.flatMap((s) => s.points.map((p) => p.x));
  const ys = series.flatMap((s) => s.points.map((p) => p.y));
  const xr: [number, number] = [Math.min(0, ...xs), Math.max(1e-9, ...xs)];
  const yr: [number, number] = [Math.min(0, ...ys), Math.max(1e-9, ...ys)];
  const { sx, sy, parts } = axes(f, xr, yr, title, xLabel, yLabel);
  series.forEach((s, i) => {
    if (s.points.length === 0) return;
    const d = s.points.map((p, k) => `${k === 0 ? 'M' : 'L'}${r2(sx(p.x))} ${r2(sy(p.y))}`).join(' ');
    parts.push(`<path d="${d}" fill="none" stroke="${PALETTE[i % PALETTE.length]}" stroke-width="1.5"/>`);
  });
  parts.push(
    ...legend(
      f,
      series.map((s) => s.name),
    ),
  );
  return wrap(f, parts);
}
