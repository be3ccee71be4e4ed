/**
 * Parameter names and shapes of one ensemble member, derived from {@link MemberSpec} exactly as
 * documented on `MemberParams` in spec.ts. Used by initialisation, export, checkpoint validation
 * and the float64 test reference.
 */
import { dataDim, hasScale, type ConvArch, type MemberSpec } from './spec.js';

/** Ordered map parameter name → shape (row-major). Order is stable (used for weights.bin layout). */
export function paramShapes(spec: MemberSpec): Array<[string, number[]]> {
  const out: Array<[string, number[]]> = [];
  const arch = spec.arch;
  const dz = arch.latentDim;
  const d = dataDim(arch);
  if (arch.kind === 'mlp') {
    let prev = arch.inputDim;
    arch.encoderHidden.forEach((h, i) => {
      out.push([`enc.h${i}.w`, [prev, h]], [`enc.h${i}.b`, [h]]);
      prev = h;
    });
    out.push(
      [`enc.mu.w`, [prev, dz]],
      [`enc.mu.b`, [dz]],
      [`enc.sigma.w`, [prev, dz]],
      [`enc.sigma.b`, [dz]],
    );
    prev = dz;
    arch.decoderHidden.forEach((h, i) => {
      out.push([`dec.h${i}.w`, [prev, h]], [`dec.h${i}.b`, [h]]);
      prev = h;
    });
    out.push([`dec.out.w`, [prev, d]], [`dec.out.b`, [d]]);
  } else {
    for (const [i, l] of convEncoderLayers(arch).entries()) {
      out.push([`enc.conv${i}.w`, [l.k, l.k, l.cin, l.cout]], [`enc.conv${i}.b`, [l.cout]]);
    }
    out.push(
      [`enc.mu.w`, [4 * dz, dz]],
      [`enc.mu.b`, [dz]],
      [`enc.sigma.w`, [4 * dz, dz]],
      [`enc.sigma.b`, [dz]],
    );
    for (const [i, l] of convDecoderLayers(arch).entries()) {
      out.push([`dec.deconv${i}.w`, [l.k, l.k, l.cout, l.cin]], [`dec.deconv${i}.b`, [l.cout]]);
    }
    out.push([`dec.out.w`, [5, 5, arch.base, arch.channels]], [`dec.out.b`, [arch.channels]]);
  }
  if (hasScale(spec.likelihood)) out.push([`dec.scale_raw`, [d]]);
  if (spec.prior.kind === 'maf') {
    for (let l = 0; l < spec.prior.layers; l++) {
      let prev = dz;
      spec.prior.hidden.forEach((h, i) => {
        out.push([`prior.maf${l}.h${i}.w`, [prev, h]], [`prior.maf${l}.h${i}.b`, [h]]);
        prev = h;
      });
      out.push([`prior.maf${l}.out.w`, [prev, 2 * dz]], [`prior.maf${l}.out.b`, [2 * dz]]);
    }
  }
  return out;
}

export interface ConvLayerSpec {
  k: number;
  stride: 1 | 2;
  padding: 'same' | 'valid';
  cin: number;
  cout: number;
}

/** The shape fields of {@link ConvArch} that fix its layers. */
export type ConvShape = Pick<ConvArch, 'height' | 'width' | 'channels' | 'base' | 'latentDim'>;

/**
 * Why a conv architecture's frame shape cannot be used, or null. Two stride-2 'same' convolutions
 * halve the side twice, and the VALID convolution that follows spans the whole remaining map: a
 * square frame whose side is a multiple of 4 (28 → a 7×7 kernel, the paper's MNIST model; 32 → 8×8,
 * the paper's CIFAR-10 change "first filter size from 7 to 8").
 */
export function convShapeProblem(a: Pick<ConvArch, 'height' | 'width' | 'channels'>): string | null {
  if (!Number.isInteger(a.channels) || a.channels < 1) return `channels must be ≥ 1, got ${a.channels}`;
  if (a.height !== a.width) return `the conv architecture takes square frames, got ${a.height}×${a.width}`;
  if (!Number.isInteger(a.height) || a.height < 4 || a.height % 4 !== 0)
    return `the conv architecture takes frames whose side is a multiple of 4 (e.g. 28, 32, 64), got ${a.height}×${a.width}`;
  return null;
}

/** Side of the innermost feature map (and of the VALID kernel that spans it): side / 4. */
export function convInnerSide(a: Pick<ConvArch, 'height'>): number {
  return a.height / 4;
}

/** The five encoder convolutions of {@link ConvArch} (each followed by leaky_relu). */
export function convEncoderLayers(a: ConvShape): ConvLayerSpec[] {
  const { channels, base, latentDim: dz } = a;
  return [
    { k: 5, stride: 1, padding: 'same', cin: channels, cout: base },
    { k: 5, stride: 2, padding: 'same', cin: base, cout: base },
    { k: 5, stride: 1, padding: 'same', cin: base, cout: 2 * base },
    { k: 5, stride: 2, padding: 'same', cin: 2 * base, cout: 2 * base },
    { k: convInnerSide(a), stride: 1, padding: 'valid', cin: 2 * base, cout: 4 * dz },
  ];
}

/** The six decoder transposed convolutions of {@link ConvArch} (each followed by leaky_relu). */
export function convDecoderLayers(a: ConvShape): ConvLayerSpec[] {
  const { base, latentDim: dz } = a;
  return [
    { k: convInnerSide(a), stride: 1, padding: 'valid', cin: dz, cout: 2 * base },
    { k: 5, stride: 1, padding: 'same', cin: 2 * base, cout: 2 * base },
    { k: 5, stride: 2, padding: 'same', cin: 2 * base, cout: 2 * base },
    { k: 5, stride: 1, padding: 'same', cin: 2 * base, cout: base },
    { k: 5, stride: 2, padding: 'same', cin: base, cout: base },
    { k: 5, stride: 1, padding: 'same', cin: base, cout: base },
  ];
}

export function shapeSize(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}
