/**
 * Export a WGAN critic ensemble ({@link WganEnsembleSpec}, engine/wgan.ts) to one ONNX graph (opset 17)
 * that scores a batch of RAW records.
 *
 * Graph input:   x            float32 [N, inputDim]  (raw; the feature transform is in the graph,
 *                                                    exactly as in the VAE graph of export.ts)
 * Graph outputs: critic       [N, M]  each member's (normalised) critic value c_m(x)
 *                critic_mean [N]     mean over members
 *                critic_var  [N]     population variance over members (/M, as logp_var)
 *
 * Layout: the transformed x is shared by all members. MLP critics are Gemm+Relu chains; conv critics
 * take x as NCHW once (Reshape + Transpose) and run Conv+LeakyRelu with TF 'same' padding written
 * as explicit pads. The two final linear maps (enc.head, critic.out) and the member's normalisation
 * (c = (D − offset)/scale) are folded in float64 at export into ONE Gemm [H, 1]:
 *   w = W_head·w_out / scale,  b = (b_head·w_out + b_out − offset) / scale.
 */
import { ModelSpecError } from '../errors.js';
import { convEncoderLayers } from '../params.js';
import { dataDim, LEAKY_ALPHA, SPEC_VERSION, type MemberParams } from '../spec.js';
import {
  checkParams,
  criticAffine,
  criticParamShapes,
  validateWganSpec,
  type WganEnsembleSpec,
} from '../wgan.js';
import { emitTransform, kernelToOnnx, tfPads, validateTransform } from './export.js';
import { GraphBuilder } from './graph.js';

export const CRITIC_ONNX_INPUT = 'x';
export const CRITIC_ONNX_OUTPUTS = ['critic', 'critic_mean', 'critic_var'] as const;
export type CriticOnnxOutputName = (typeof CRITIC_ONNX_OUTPUTS)[number];
/** Model metadata 'kind' of a critic graph (the VAE graph has none). */
export const CRITIC_GRAPH_KIND = 'wgan-critic';

/**
 * Floats per record of the widest activation of one critic (the scorer bounds its chunk size by it;
 * stored as model metadata 'activation_width').
 */
export function criticActivationWidth(arch: WganEnsembleSpec['wgan']['arch']): number {
  if (arch.kind === 'mlp') return Math.max(arch.inputDim, ...arch.encoderHidden, 2 * arch.latentDim);
  return arch.height * arch.width * Math.max(arch.channels, arch.base);
}

/** Throws {@link ModelSpecError} when the spec cannot be exported. */
export function validateWganEnsembleSpec(spec: WganEnsembleSpec): void {
  if (spec.specVersion !== SPEC_VERSION)
    throw new ModelSpecError(`specVersion ${spec.specVersion} is not supported (expected ${SPEC_VERSION})`);
  if (spec.members.length < 1) throw new ModelSpecError('an ensemble needs at least one member');
  try {
    validateWganSpec(spec.wgan);
  } catch (e) {
    throw new ModelSpecError((e as Error).message);
  }
  const d = dataDim(spec.wgan.arch);
  if (spec.inputDim !== d)
    throw new ModelSpecError(`inputDim ${spec.inputDim} does not match the architecture's data size ${d}`);
  validateTransform(spec.transform, d);
  const norm = spec.normalization ?? 'none';
  if (norm !== 'none' && norm !== 'center' && norm !== 'standardize')
    throw new ModelSpecError(`normalization must be none, center or standardize, got ${String(norm)}`);
  const shapes = criticParamShapes(spec.wgan.arch);
  spec.members.forEach((m, mi) => {
    try {
      checkParams(`member ${mi}`, shapes, m.critic);
    } catch (e) {
      throw new ModelSpecError((e as Error).message);
    }
    const { offset, scale } = criticAffine(m.stats, norm);
    if (!Number.isFinite(offset) || !(scale > 0) || !Number.isFinite(scale))
      throw new ModelSpecError(`member ${mi}: critic statistics give offset ${offset}, scale ${scale}`);
  });
}

/** The folded final projection (see the module comment), computed in float64. */
export function foldCriticHead(
  params: MemberParams,
  offset: number,
  scale: number,
): { w: Float32Array; b: number; h: number } {
  const wh = params['enc.head.w'];
  const [h, e] = wh.shape;
  const bh = params['enc.head.b'].data;
  const wo = params['critic.out.w'].data;
  const w = new Float32Array(h);
  for (let r = 0; r < h; r++) {
    let s = 0;
    for (let c = 0; c < e; c++) s += wh.data[r * e + c] * wo[c];
    w[r] = s / scale;
  }
  let b = params['critic.out.b'].data[0];
  for (let c = 0; c < e; c++) b += bh[c] * wo[c];
  return { w, b: (b - offset) / scale, h };
}

/** Builds the critic-ensemble graph; returns the serialized ModelProto. Throws {@link ModelSpecError}. */
export function exportCriticEnsembleOnnx(spec: WganEnsembleSpec): Uint8Array {
  validateWganEnsembleSpec(spec);
  const g = new GraphBuilder();
  const arch = spec.wgan.arch;
  const D = dataDim(arch);
  const norm = spec.normalization ?? 'none';
  const x = emitTransform(g, spec.transform, CRITIC_ONNX_INPUT, D);
  const xImg =
    arch.kind === 'conv'
      ? g.op('Transpose', [g.op('Reshape', [x, g.ints([-1, arch.height, arch.width, arch.channels])])], {
          perm: { ints: [0, 3, 1, 2] },
        })
      : null;
  const outs = spec.members.map((member, mi) => {
    const pre = `m${mi}.`;
    const p = member.critic;
    let h: string;
    if (arch.kind === 'mlp') {
      h = x;
      arch.encoderHidden.forEach((_, i) => {
        h = g.op('Relu', [
          g.op('Gemm', [
            h,
            g.f32(`${pre}enc.h${i}.w`, p[`enc.h${i}.w`].shape, p[`enc.h${i}.w`].data),
            g.f32(`${pre}enc.h${i}.b`, p[`enc.h${i}.b`].shape, p[`enc.h${i}.b`].data),
          ]),
        ]);
      });
    } else {
      let cur = xImg as string;
      let n = arch.height;
      for (const [i, l] of convEncoderLayers(arch).entries()) {
        const w = g.f32(
          `${pre}enc.conv${i}.w`,
          [l.cout, l.cin, l.k, l.k],
          kernelToOnnx(p[`enc.conv${i}.w`].data, l.k, l.k, l.cin, l.cout),
        );
        cur = g.op('Conv', [cur, w, g.f32(`${pre}enc.conv${i}.b`, [l.cout], p[`enc.conv${i}.b`].data)], {
          kernel_shape: { ints: [l.k, l.k] },
          strides: { ints: [l.stride, l.stride] },
          pads: { ints: tfPads(n, l, false) },
        });
        cur = g.op('LeakyRelu', [cur], { alpha: { float: LEAKY_ALPHA } });
        n = l.padding === 'same' ? Math.ceil(n / l.stride) : Math.floor((n - l.k) / l.stride) + 1;
      }
      h = g.op('Reshape', [cur, g.ints([-1, 4 * arch.latentDim])]);
    }
    const { offset, scale } = criticAffine(member.stats, norm);
    const f = foldCriticHead(p, offset, scale);
    return g.op('Gemm', [h, g.f32(`${pre}critic.w`, [f.h, 1], f.w), g.f32(`${pre}critic.b`, [1], [f.b])]); // [N,1]
  });
  const M = spec.members.length;
  const critic =
    M === 1 ? g.op('Identity', outs, {}, 'critic') : g.op('Concat', outs, { axis: { int: 1 } }, 'critic');
  const mean1 = g.op('ReduceMean', [critic], { axes: { ints: [1] }, keepdims: { int: 1 } });
  g.op('Reshape', [mean1, g.ints([-1])], {}, 'critic_mean');
  const dev = g.op('Sub', [critic, mean1]);
  g.op('ReduceMean', [g.op('Mul', [dev, dev])], { axes: { ints: [1] }, keepdims: { int: 0 } }, 'critic_var');
  return g.toModel({
    graphName: 'gensemble_critics',
    docString: `gensemble WGAN critic ensemble: M=${M}, ${arch.kind}, normalization ${norm}`,
    metadata: {
      specVersion: String(spec.specVersion),
      members: String(M),
      kind: CRITIC_GRAPH_KIND,
      normalization: norm,
      activation_width: String(criticActivationWidth(arch)),
    },
    inputs: [{ name: CRITIC_ONNX_INPUT, dims: ['N', spec.inputDim] }],
    outputs: [
      { name: 'critic', dims: ['N', M] },
      { name: 'critic_mean', dims: ['N'] },
      { name: 'critic_var', dims: ['N'] },
    ],
  });
}
