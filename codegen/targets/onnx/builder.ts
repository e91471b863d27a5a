/**
 * Builds an ONNX graph node by node: fresh value names (never clashing with the model's inputs,
 * outputs or weights, whatever the user named their blocks), Constant nodes for shapes and numbers,
 * and weights under their state_dict names, recorded the first time a lowering uses them (the exporter
 * turns them into initializers afterwards, inline or as external data; the builder never reads values).
 */
import { AttributeType, DataType, type AttributeMsg, type DataTypeId, type NodeMsg, type TensorMsg } from './onnx-proto';

export const attr = {
  int: (name: string, i: number): AttributeMsg => ({ name, type: AttributeType.INT, i }),
  ints: (name: string, ints: readonly number[]): AttributeMsg => ({ name, type: AttributeType.INTS, ints }),
  float: (name: string, f: number): AttributeMsg => ({ name, type: AttributeType.FLOAT, f }),
  str: (name: string, s: string): AttributeMsg => ({ name, type: AttributeType.STRING, s: new TextEncoder().encode(s) }),
  tensor: (name: string, t: TensorMsg): AttributeMsg => ({ name, type: AttributeType.TENSOR, t }),
};

/** Little-endian bytes of float32 or int64 values (ONNX's raw_data is little-endian on every platform). */
export function rawBytes(values: ArrayLike<number>, type: DataTypeId): Uint8Array {
  const size = type === DataType.FLOAT ? 4 : 8;
  const out = new Uint8Array(values.length * size);
  const view = new DataView(out.buffer);
  for (let i = 0; i < values.length; i++) {
    if (type === DataType.FLOAT) view.setFloat32(i * 4, values[i], true);
    else view.setBigInt64(i * 8, BigInt(values[i]), true);
  }
  return out;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** Little-endian bytes of float32 values: a view of the same memory on a little-endian host (no copy). */
export function float32Bytes(values: Float32Array): Uint8Array {
  return LITTLE_ENDIAN ? new Uint8Array(values.buffer, values.byteOffset, values.byteLength) : rawBytes(values, DataType.FLOAT);
}

/** A weight a lowering used: its state_dict name and PyTorch shape. */
export interface UsedWeight {
  readonly name: string;
  readonly dims: readonly number[];
}

export class OnnxBuilder {
  readonly nodes: NodeMsg[] = [];
  /** The weights the lowerings used, each once, in first-use order (the initializers' order). */
  readonly weightsUsed: UsedWeight[] = [];
  private readonly taken = new Set<string>();
  private readonly added = new Set<string>();
  private readonly counts = new Map<string, number>();

  /** `reserved`: the model's input and output names and every weight's full key; `shapeOf` throws for a key the graph does not declare. */
  constructor(
    reserved: Iterable<string>,
    private readonly shapeOf: (fullKey: string) => readonly number[],
  ) {
    for (const r of reserved) this.taken.add(r);
  }

  /** A value name not used before: `hint`, or `hint_2`, `hint_3`, … */
  fresh(hint: string): string {
    let name = hint;
    let k = this.counts.get(hint) ?? 1;
    while (this.taken.has(name)) name = `${hint}_${++k}`;
    this.counts.set(hint, k);
    this.taken.add(name);
    return name;
  }

  /** One node with `outputs` fresh outputs named after `hint`; returns their names. */
  opN(opType: string, inputs: readonly string[], hint: string, outputs: number, attribute: readonly AttributeMsg[] = []): string[] {
    const names = Array.from({ length: outputs }, (_, i) => this.fresh(outputs === 1 ? `${hint}/${opType}_output` : `${hint}/${opType}_output_${i}`));
    this.nodes.push({ input: [...inputs], output: names, name: this.fresh(`${hint}/${opType}`), opType, attribute: [...attribute] });
    return names;
  }

  op(opType: string, inputs: readonly string[], hint: string, attribute: readonly AttributeMsg[] = []): string {
    return this.opN(opType, inputs, hint, 1, attribute)[0];
  }

  /** A node whose single output has a given (reserved) name, such as the model's `out`. */
  opTo(opType: string, inputs: readonly string[], output: string, hint: string): void {
    this.nodes.push({ input: [...inputs], output: [output], name: this.fresh(`${hint}/${opType}`), opType, attribute: [] });
  }

  private constant(values: ArrayLike<number>, dims: readonly number[], type: DataTypeId, hint: string): string {
    return this.op('Constant', [], `${hint}/Constant`, [attr.tensor('value', { dims, dataType: type, rawData: rawBytes(values, type) })]);
  }

  /** An int64 vector (shapes, axes, pads, split sizes). */
  ints(values: readonly number[], hint: string): string {
    return this.constant(values, [values.length], DataType.INT64, hint);
  }

  /** A float32 tensor (a scalar when `dims` is []). */
  floats(values: ArrayLike<number>, dims: readonly number[], hint: string): string {
    return this.constant(values, dims, DataType.FLOAT, hint);
  }

  /** The weight `fullKey` as an initializer (PyTorch layout, float32), recorded once; returns its name. */
  weight(fullKey: string): string {
    if (!this.added.has(fullKey)) {
      this.weightsUsed.push({ name: fullKey, dims: [...this.shapeOf(fullKey)] });
      this.added.add(fullKey);
    }
    return fullKey;
  }
}
