/**
 * Heat-map panels for the toy-2d figure: each grid is drawn as a small PNG (pngjs, one pixel per grid
 * cell, scaled up without smoothing) embedded in one SVG 1.1 file as a data URI, with axes, a colour
 * bar, the 2σ circle of the data and a few data points drawn as vectors on top. Small files (a
 * few tens of kB) whatever the grid resolution.
 */
import { PNG } from 'pngjs';

function escapeXml(s: string): string {
  return s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

/** Evenly spaced "nice" ticks (steps 1, 2, 5 × 10^k) covering [lo, hi]. */
function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step)
    out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  return out;
}

export type ColourMap = 'viridis' | 'diverging';

export interface HeatPanel {
  title: string;
  /** Values [res·res], index iy·res + ix, y growing upwards. NaN = not drawn. */
  values: ArrayLike<number>;
  /** Colour range; values outside are clamped. */
  lo: number;
  hi: number;
  colours: ColourMap;
  /** Label of the colour bar. */
  unit: string;
}

export interface Grid {
  xmin: number;
  xmax: number;
  ymin: number;
  ymax: number;
  res: number;
}

const VIRIDIS: Array<[number, number, number]> = [
  [68, 1, 84],
  [72, 40, 120],
  [62, 74, 137],
  [49, 104, 142],
  [38, 130, 142],
  [31, 158, 137],
  [53, 183, 121],
  [110, 206, 88],
  [181, 222, 43],
  [253, 231, 37],
];
const DIVERGING: Array<[number, number, number]> = [
  [5, 48, 97],
  [67, 147, 195],
  [209, 229, 240],
  [247, 247, 247],
  [253, 219, 199],
  [214, 96, 77],
  [103, 0, 31],
];

/** RGB of t ∈ [0, 1] on a piecewise-linear map. */
export function colour(t: number, map: ColourMap): [number, number, number] {
  const stops = map === 'viridis' ? VIRIDIS : DIVERGING;
  const u = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0)) * (stops.length - 1);
  const i = Math.min(stops.length - 2, Math.floor(u));
  const f = u - i;
  return [0, 1, 2].map((c) => Math.round(stops[i][c] + f * (stops[i + 1][c] - stops[i][c]))) as [
    number,
    number,
    number,
  ];
}

function pngDataUri(p: HeatPanel, res: number): string {
  const png = new PNG({ width: res, height: res });
  for (let iy = 0; iy < res; iy++)
    for (let ix = 0; ix < res; ix++) {
      const v = p.values[iy * res + ix];
      const o = ((res - 1 - iy) * res + ix) * 4; // image rows run downwards
      const [r, g, b] = colour((v - p.lo) / (p.hi - p.lo || 1), p.colours);
      png.data[o] = r;
      png.data[o + 1] = g;
      png.data[o + 2] = b;
      png.data[o + 3] = Number.isFinite(v) ? 255 : 0;
    }
  return `data:image/png;base64,${PNG.sync.write(png).toString('base64')}`;
}

const fmt = (v: number): string => {
  const a = Math.abs(v);
  if (a === 0) return '0';
  if (a >= 1e4 || a < 1e-2) return v.toExponential(1);
  return Number(v.toPrecision(3)).toString();
};

/**
 * One SVG with the panels in `cols` columns. `points` (data space) are drawn as dots, `circle` as a
 * dashed circle (centre, radius).
 */
export function heatmapFigure(
  panels: HeatPanel[],
  grid: Grid,
  opts: { cols: number; title: string; points?: number[][]; circle?: { cx: number; cy: number; r: number } },
): string {
  const size = 200;
  const padL = 34;
  const padT = 26;
  const barW = 10;
  const cellW = padL + size + 62;
  const cellH = padT + size + 30;
  const rows = Math.ceil(panels.length / opts.cols);
  const width = opts.cols * cellW + 10;
  const height = rows * cellH + 34;
  const parts: string[] = [
    `<text x="${width / 2}" y="20" font-size="14" font-weight="bold" text-anchor="middle">${escapeXml(opts.title)}</text>`,
  ];
  panels.forEach((p, k) => {
    const ox = (k % opts.cols) * cellW + padL + 6;
    const oy = Math.floor(k / opts.cols) * cellH + padT + 30;
    const sx = (x: number): number => ox + ((x - grid.xmin) / (grid.xmax - grid.xmin)) * size;
    const sy = (y: number): number => oy + size - ((y - grid.ymin) / (grid.ymax - grid.ymin)) * size;
    parts.push(
      `<text x="${ox + size / 2}" y="${oy - 8}" font-size="12" text-anchor="middle">${escapeXml(p.title)}</text>`,
      `<image x="${ox}" y="${oy}" width="${size}" height="${size}" preserveAspectRatio="none" style="image-rendering:pixelated" xlink:href="${pngDataUri(p, grid.res)}"/>`,
      `<rect x="${ox}" y="${oy}" width="${size}" height="${size}" fill="none" stroke="#444"/>`,
    );
    for (const t of niceTicks(grid.xmin, grid.xmax, 4))
      parts.push(
        `<text x="${sx(t).toFixed(1)}" y="${oy + size + 12}" font-size="9" text-anchor="middle">${fmt(t)}</text>`,
      );
    for (const t of niceTicks(grid.ymin, grid.ymax, 4))
      parts.push(
        `<text x="${ox - 4}" y="${sy(t).toFixed(1)}" font-size="9" text-anchor="end" dominant-baseline="middle">${fmt(t)}</text>`,
      );
    if (opts.circle) {
      const c = opts.circle;
      const rx = (c.r / (grid.xmax - grid.xmin)) * size;
      const ry = (c.r / (grid.ymax - grid.ymin)) * size;
      parts.push(
        `<ellipse cx="${sx(c.cx).toFixed(1)}" cy="${sy(c.cy).toFixed(1)}" rx="${rx.toFixed(1)}" ry="${ry.toFixed(1)}" fill="none" stroke="black" stroke-dasharray="3 2" stroke-width="1"/>`,
      );
    }
    for (const [x, y] of opts.points ?? [])
      parts.push(
        `<circle cx="${sx(x).toFixed(1)}" cy="${sy(y).toFixed(1)}" r="0.9" fill="black" fill-opacity="0.5"/>`,
      );
    // colour bar
    const bx = ox + size + 8;
    const steps = 40;
    for (let i = 0; i < steps; i++) {
      const [r, g, b] = colour((i + 0.5) / steps, p.colours);
      const y = oy + size - ((i + 1) / steps) * size;
      parts.push(
        `<rect x="${bx}" y="${y.toFixed(1)}" width="${barW}" height="${(size / steps + 0.5).toFixed(1)}" fill="rgb(${r},${g},${b})"/>`,
      );
    }
    parts.push(
      `<rect x="${bx}" y="${oy}" width="${barW}" height="${size}" fill="none" stroke="#444"/>`,
      `<text x="${bx + barW + 3}" y="${oy + 4}" font-size="9" dominant-baseline="middle">${escapeXml(fmt(p.hi))}</text>`,
      `<text x="${bx + barW + 3}" y="${oy + size - 2}" font-size="9" dominant-baseline="middle">${escapeXml(fmt(p.lo))}</text>`,
      `<text x="${bx + barW + 3}" y="${oy + size / 2}" font-size="9" dominant-baseline="middle">${escapeXml(p.unit)}</text>`,
    );
  });
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n` +
    `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">\n` +
    `<rect width="${width}" height="${height}" fill="white"/>\n` +
    parts.join('\n') +
    '\n</svg>\n'
  );
}
