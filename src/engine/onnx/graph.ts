/**
 * A thin helper over the maintained ONNX protobuf definitions (`onnx-proto`, protobufjs-generated
 * classes of onnx.proto) to assemble a float32 inference graph: unique node names, initializers
 * stored as little-endian raw_data, typed attributes.
 */
import onnxProto from 'onnx-proto';

export const onnx = onnxProto.onnx;
export const ONNX_OPSET = 17;
export const ONNX_IR_VERSION = 8;

export type AttrValue =
  { int: number } | { ints: number[] } | { float: number } | { floats: number[] } | { string: string };

const AT = onnx.AttributeProto.AttributeType;

function toAttr(name: string, v: AttrValue): onnxProto.onnx.IAttributeProto {
  if ('int' in v) return { name, type: AT.INT, i: v.int };
  if ('ints' in v) return { name, type: AT.INTS, ints: v.ints };
  if ('float' in v) return { name, type: AT.FLOAT, f: v.float };
  if ('floats' in v) return { name, type: AT.FLOATS, floats: v.floats };
  return { name, type: AT.STRING, s: new TextEncoder().encode(v.string) };
}

export interface ValueInfo {
  name: string;
  /** Dimension sizes; a string is a symbolic dimension (e.g. 'N'). */
  dims: Array<number | string>;
  elemType?: number;
}

function valueInfo(v: ValueInfo): onnxProto.onnx.IValueInfoProto {
  return {
    name: v.name,
    type: {
      tensorType: {
        elemType: v.elemType ?? onnx.TensorProto.DataType.FLOAT,
        shape: { dim: v.dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

export class GraphBuilder {
  readonly nodes: onnxProto.onnx.INodeProto[] = [];
  readonly initializers: onnxProto.onnx.ITensorProto[] = [];
  private counter = 0;
  private readonly initNames = new Set<string>();
  private readonly scalarCache = new Map<string, string>();

  private fresh(prefix: string): string {
    return `${prefix}_${this.counter++}`;
  }

  /** Float32 initializer. */
  f32(name: string, dims: number[], data: Float32Array | number[]): string {
    const arr = data instanceof Float32Array ? data : Float32Array.from(data);
    const size = dims.reduce((a, b) => a * b, 1);
    if (arr.length !== size) throw new Error(`initializer ${name}: ${arr.length} values for dims [${dims}]`);
    return this.addInit({
      name,
      dims,
      dataType: onnx.TensorProto.DataType.FLOAT,
      rawData: new Uint8Array(arr.buffer.slice(arr.byteOffset, arr.byteOffset + arr.byteLength)),
    });
  }

  /** Int64 initializer. */
  i64(name: string, dims: number[], data: number[]): string {
    const arr = BigInt64Array.from(data.map((v) => BigInt(v)));
    return this.addInit({
      name,
      dims,
      dataType: onnx.TensorProto.DataType.INT64,
      rawData: new Uint8Array(arr.buffer),
    });
  }

  /** A shared float32 scalar constant (rank 0). */
  scalar(v: number): string {
    const key = `f:${Math.fround(v)}`;
    let name = this.scalarCache.get(key);
    if (!name) {
      name = this.f32(this.fresh('const_f'), [], [v]);
      this.scalarCache.set(key, name);
    }
    return name;
  }

  /** A shared int64 1-D constant. */
  ints(v: number[]): string {
    const key = `i:${v.join(',')}`;
    let name = this.scalarCache.get(key);
    if (!name) {
      name = this.i64(this.fresh('const_i'), [v.length], v);
      this.scalarCache.set(key, name);
    }
    return name;
  }

  private addInit(t: onnxProto.onnx.ITensorProto): string {
    const name = t.name as string;
    if (this.initNames.has(name)) throw new Error(`duplicate initializer ${name}`);
    this.initNames.add(name);
    this.initializers.push(t);
    return name;
  }

  /** Adds a node with one output; returns the output name. */
  op(opType: string, inputs: string[], attrs: Record<string, AttrValue> = {}, outName?: string): string {
    return this.opN(opType, inputs, 1, attrs, outName ? [outName] : undefined)[0];
  }

  opN(
    opType: string,
    inputs: string[],
    nOut: number,
    attrs: Record<string, AttrValue> = {},
    outNames?: string[],
  ): string[] {
    const base = this.fresh(opType.toLowerCase());
    const outputs = outNames ?? Array.from({ length: nOut }, (_, i) => (nOut === 1 ? base : `${base}_o${i}`));
    this.nodes.push({
      name: base,
      opType,
      input: inputs,
      output: outputs,
      attribute: Object.entries(attrs).map(([k, v]) => toAttr(k, v)),
    });
    return outputs;
  }

  toModel(opts: {
    inputs: ValueInfo[];
    outputs: ValueInfo[];
    graphName: string;
    docString?: string;
    metadata?: Record<string, string>;
  }): Uint8Array {
    const model = onnx.ModelProto.create({
      irVersion: ONNX_IR_VERSION,
      producerName: 'gensemble',
      producerVersion: '0.1.0',
      docString: opts.docString ?? '',
      opsetImport: [{ domain: '', version: ONNX_OPSET }],
      metadataProps: Object.entries(opts.metadata ?? {}).map(([key, value]) => ({ key, value })),
      graph: {
        name: opts.graphName,
        node: this.nodes,
        initializer: this.initializers,
        input: opts.inputs.map(valueInfo),
        output: opts.outputs.map(valueInfo),
      },
    });
    return onnx.ModelProto.encode(model).finish();
  }
}
