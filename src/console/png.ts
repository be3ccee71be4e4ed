/**
 * A flagged frame's stored pixels (uint8, row-major HWC, base64 in the flag's payload) as a PNG,
 * encoded server-side with pngjs and scaled up by pixel replication so that a 28×28 digit is visible.
 */
import { PNG } from 'pngjs';

export interface FramePixels {
  width: number;
  height: number;
  channels: number;
  pixels: Buffer;
}

/** The frame of a flag payload, or null when the payload holds no (consistent) pixels. */
export function framePixelsOf(payload: Record<string, unknown>): FramePixels | null {
  const { width, height, pixels } = payload;
  const channels = payload.channels ?? 1;
  if (
    typeof pixels !== 'string' ||
    !Number.isInteger(width) ||
    !Number.isInteger(height) ||
    !Number.isInteger(channels)
  )
    return null;
  const w = width as number;
  const h = height as number;
  const c = channels as number;
  if (w < 1 || h < 1 || w > 512 || h > 512 || ![1, 3, 4].includes(c)) return null;
  const buf = Buffer.from(pixels, 'base64');
  if (buf.length !== w * h * c) return null;
  return { width: w, height: h, channels: c, pixels: buf };
}

/** PNG bytes of the frame, each pixel drawn as a `scale`×`scale` block (RGBA, opaque). */
export function framePng(f: FramePixels, scale = 8): Buffer {
  const s = Math.max(1, Math.min(16, Math.floor(scale)));
  const png = new PNG({ width: f.width * s, height: f.height * s, colorType: 6 });
  for (let y = 0; y < f.height; y++) {
    for (let x = 0; x < f.width; x++) {
      const i = (y * f.width + x) * f.channels;
      const r = f.pixels[i];
      const g = f.channels >= 3 ? f.pixels[i + 1] : r;
      const b = f.channels >= 3 ? f.pixels[i + 2] : r;
      for (let dy = 0; dy < s; dy++) {
        let o = ((y * s + dy) * f.width * s + x * s) * 4;
        for (let dx = 0; dx < s; dx++, o += 4) {
          png.data[o] = r;
          png.data[o + 1] = g;
          png.data[o + 2] = b;
          png.data[o + 3] = 255;
        }
      }
    }
  }
  return PNG.sync.write(png);
}
