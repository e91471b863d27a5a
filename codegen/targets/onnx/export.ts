/**
 * The ONNX export: the graph as a `model.onnx` (ModelProto, opset 17, written with protobufjs from
 * onnx.proto's schema, `./onnx-proto.ts`). Inputs are named by role in the forward's order
 * (`graphInputs`, INPUT_ROLES: `x` [batch, C, H, W] float32, `timesteps` [batch] float32, `context`
 * [batch, tokens, dim] float32, `y` [batch] int64), the output `out` (NCHW), the batch dimension
 * symbolic (`batch`), H and W the graph's. Initializers are the state_dict's tensors under their
 * PyTorch names and layouts: the given checkpoint's (checked strictly, legacy names accepted), or
 * PyTorch-default random ones (seed 0, as the app's own random weights) when none is given. Buffers
 * no forward reads (`num_batches_tracked`) are not written. Deterministic: same graph and weights,
 * same bytes. Names from the graph are only ever ONNX strings (value and node names, doc string).
 * Over protobuf's 2 GiB (or when asked) the initializers go to a data file beside the model, as ONNX
 * external data (`exportOnnxModel`; the CLI writes it, streamed tensor by tensor); the code panel's
 * export (`exportOnnx`) stays one self-contained file.
 */
import { analyze, graphInputs, type NodeInfo } from '../../../graph/analyze';
import type { Graph } from '../../../graph/model';
import { expectedWeights, type ExpectedWeight } from '../../../graph/weights';
import type { BlockType } from '../../../blocks/registry';
import { withLegacyNames } from '../../../weights/legacy';
import { checkStateDict, initialValues } from '../../../weights/pytorch';
import { Rng } from '../../../weights/rng';
import { toFloat32, type SafetensorsFile, type SafetensorsTensor } from '../../../weights/safetensors';
import { CodegenError } from '../../errors';
import type { ExportDiagnostic, ExportFiles } from '../types';
import { pyClassName } from '../pytorch/python';
import { float32Bytes, OnnxBuilder } from './builder';
import { loweringOf } from './lower';
import { DataLocation, DataType, decodeModel, encodeModel, IR_VERSION, OPSET, type DataTypeId, type DimMsg, type TensorMsg, type ValueInfoMsg } from './onnx-proto';

export const MODEL_FILE = 'model.onnx';
export const OUTPUT_NAME = 'out';
/** Protobuf messages are limited to 2 GiB; keep a margin for the graph itself. */
export const MAX_INLINE_BYTES = 2 ** 31 - 2 ** 24;

/**
 * The graph has a block type without an ONNX lowering: `types` names them. Every registered block
 * type has one today (lower.ts' table is checked against BlockType by the compiler), so this guards
 * only against a type the table does not know.
 */
export class OnnxUnsupportedError extends CodegenError {
  override name = 'OnnxUnsupportedError';
  constructor(readonly types: readonly string[], readonly nodes: readonly string[]) {
    super(
      `the ONNX export cannot lower ${types.length === 1 ? 'the block type' : 'the block types'} ${types.map((t) => JSON.stringify(t)).join(', ')} yet ` +
        `(used by ${nodes.slice(0, 5).map((n) => JSON.stringify(n)).join(', ')}${nodes.length > 5 ? `, and ${nodes.length - 5} more` : ''}); nothing was exported. ` +
        'Export this graph to PyTorch (export pytorch) and use torch.onnx.export there, or remove those blocks.',
    );
  }
}

function valueInfo(name: string, elemType: DataTypeId, dims: readonly (number | string)[]): ValueInfoMsg {
  const dim: DimMsg[] = dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d }));
  return { name, type: { tensorType: { elemType, shape: { dim } } } };
}

/** The model input for an input block: its name (the role) and its type. */
function inputInfo(inf: NodeInfo): ValueInfoMsg | null {
  const role = inf.def.io;
  const s = inf.out;
  if (!role || role === 'output' || !s) return null;
  if (role === 'x') return valueInfo('x', DataType.FLOAT, ['batch', ...s.dims]);
  if (role === 'timesteps') return valueInfo('timesteps', DataType.FLOAT, ['batch']);
  if (role === 'y') return valueInfo('y', DataType.INT64, ['batch']);
  if (role === 'context') return valueInfo('context', DataType.FLOAT, ['batch', ...s.dims]);
  return null;
}

/**
 * The float32 values of the weights in `wanted`, in the graph's declaration order (`expected`), made
 * one at a time when iterated: the given checkpoint's tensors (decoded on read when it is a lazy
 * reader), or PyTorch-default random ones drawn from one seeded stream over every declared weight
 * (runtime's randomWeights(a, 0)), so skipping an unused one never shifts the others.
 */
function* weightValues(expected: readonly ExpectedWeight[], given: ReadonlyMap<string, SafetensorsTensor> | undefined, wanted: ReadonlySet<string>): Generator<[string, Float32Array]> {
  const rng = given ? undefined : new Rng(0);
  for (const w of expected) {
    if (rng) {
      const data = initialValues(w.shape, w.init, rng);
      if (wanted.has(w.fullKey)) yield [w.fullKey, data];
    } else if (wanted.has(w.fullKey)) {
      yield [w.fullKey, toFloat32(given!.get(w.fullKey)!)];
    }
  }
}

/** Where the weights go: `auto` (the default) writes them externally only when they exceed `externalAbove`. */
export type ExternalDataMode = 'auto' | 'always' | 'never';

export interface OnnxExportOptions {
  /** `never`: one self-contained model.onnx (refused over `externalAbove`); `always`: every initializer external. */
  readonly externalData?: ExternalDataMode;
  /** The initializers' byte total above which `auto` goes external and `never` refuses; default MAX_INLINE_BYTES. */
  readonly externalAbove?: number;
  /** The data file's name, beside the model (a plain file name); default `model.onnx.data`. */
  readonly location?: string;
}

/** One initializer in the data file. */
export interface ExternalTensor {
  readonly name: string;
  readonly dims: readonly number[];
  /** Byte offset in the data file, a multiple of DATA_ALIGNMENT. */
  readonly offset: number;
  /** Byte length (4 × the element count). */
  readonly length: number;
}

/** The data file of an export with external data: its layout, and its bytes made tensor by tensor. */
export interface ExternalData {
  /** The file name the model's `location` entries give (relative to the model's folder). */
  readonly location: string;
  /** The file's size in bytes. */
  readonly byteLength: number;
  /** In file order (increasing offsets): the graph's declaration order. */
  readonly tensors: readonly ExternalTensor[];
  /**
   * Calls `write` with the file's bytes in order: zero padding up to each tensor's offset, then its
   * little-endian float32 bytes. Holds one tensor at a time; for a lazy checkpoint reader, call it
   * before the reader is closed. Each call produces the same bytes.
   */
  stream(write: (bytes: Uint8Array) => void): void;
}

export interface OnnxExport extends ExportFiles {
  /** Null when the initializers are inline in model.onnx. */
  readonly external: ExternalData | null;
}

/** Data file offsets are multiples of this (onnx.proto: 4096, the page size, lets readers mmap them). */
export const DATA_ALIGNMENT = 4096;
export const DATA_SUFFIX = '.data';

const alignUp = (n: number) => Math.ceil(n / DATA_ALIGNMENT) * DATA_ALIGNMENT;
const gib = (bytes: number) => (bytes / 2 ** 30).toFixed(2);

/** A data file name: one plain path component (it is written beside the model and named in it). */
function checkLocation(location: string): void {
  if (location === '' || location === '.' || location === '..' || /[/\\\0]/.test(location)) {
    throw new CodegenError(`the external data file's name ${JSON.stringify(location)} must be a plain file name (no folder, not "." or ".."), written beside the model`);
  }
}

/**
 * The graph as an ONNX model, inline (one model.onnx; what the code panel downloads) and refused over
 * protobuf's 2 GiB with a message that names the CLI's `--external-data`.
 */
export function exportOnnx(graph: Graph, weights?: SafetensorsFile): ExportFiles {
  const { external: _none, ...files } = exportOnnxModel(graph, weights, { externalData: 'never' });
  return files;
}

/**
 * The graph as an ONNX model, its initializers inline or in a data file beside it (ONNX external data:
 * `data_location` EXTERNAL with `location`, `offset`, `length`; offsets aligned to 4096). The model's
 * bytes are made here; the data file's only when `external.stream` is called, one tensor at a time.
 */
export function exportOnnxModel(graph: Graph, weights?: SafetensorsFile, opts: OnnxExportOptions = {}): OnnxExport {
  const mode = opts.externalData ?? 'auto';
  const above = opts.externalAbove ?? MAX_INLINE_BYTES;
  const location = opts.location ?? `${MODEL_FILE}${DATA_SUFFIX}`;
  if (!(Number.isFinite(above) && above >= 0)) throw new CodegenError(`externalAbove must be a byte count (0 or more), got ${above}`);
  checkLocation(location);
  const a = analyze(graph);
  if (!a.ok) {
    const errs = a.problems.filter((p) => p.severity === 'error').map((p) => `  ${p.message}`);
    throw new CodegenError(`graph ${JSON.stringify(graph.name)} is not valid, so nothing was exported:\n${errs.join('\n')}`);
  }
  const infos = a.order.map((id) => a.info.get(id)!);
  const missing = infos.filter((inf) => !loweringOf(inf.node.type));
  if (missing.length > 0) throw new OnnxUnsupportedError([...new Set(missing.map((inf) => inf.node.type))], missing.map((inf) => inf.node.name));
  const outputs = infos.filter((inf) => inf.def.io === 'output');
  if (outputs.length !== 1) throw new CodegenError(`the ONNX export needs exactly one Output block; graph ${JSON.stringify(graph.name)} has ${outputs.length}`);

  const expected = expectedWeights(a);
  const floats = expected.filter((w) => w.dtype === 'float32').reduce((n, w) => n + w.shape.reduce((p, q) => p * q, 1), 0);
  if (mode === 'never' && floats * 4 > above) {
    throw new CodegenError(
      `graph ${JSON.stringify(graph.name)} has ${floats.toLocaleString('en-US')} weights (${gib(floats * 4)} GiB as float32): ` +
        'an ONNX file holds at most 2 GiB inline (protobuf), so nothing was exported here. Export it with the CLI, which writes the weights ' +
        `beside the model as ONNX external data: npx unet-studio export onnx graph.json [--weights W.safetensors] -o model.onnx --external-data ` +
        `(model.onnx + model.onnx${DATA_SUFFIX}; over 2 GiB it does so by itself)`,
    );
  }
  let given: ReadonlyMap<string, SafetensorsTensor> | undefined;
  if (weights) {
    given = withLegacyNames(expected.map((w) => w.fullKey), weights.tensors);
    checkStateDict(expected, new Map([...given].map(([k, t]) => [k, t.shape])), 'the weights');
  }
  const roles = graphInputs(a);
  const inputs = roles.map((r) => inputInfo(r.info)).filter((v): v is ValueInfoMsg => v !== null);
  const reserved = [...inputs.map((i) => i.name), OUTPUT_NAME];
  for (const w of expected) {
    if (reserved.includes(w.fullKey)) throw new CodegenError(`the weight ${JSON.stringify(w.fullKey)} has the name of a model input or output; rename block ${JSON.stringify(w.node)}`);
  }
  const shapes = new Map(expected.map((w) => [w.fullKey, w.shape]));
  const b = new OnnxBuilder([...reserved, ...expected.map((w) => w.fullKey)], (key) => {
    const s = shapes.get(key);
    if (!s) throw new Error(`onnx export: a lowering asked for the weight ${JSON.stringify(key)}, which the graph does not declare`);
    return s;
  });

  const valueOf = new Map<string, string>();
  for (const inf of infos) {
    const ins: Record<string, string> = {};
    for (const [port, src] of Object.entries(inf.inputs)) ins[port] = valueOf.get(src.from)!;
    const roleInput = inf.def.io === 'output' ? OUTPUT_NAME : (inf.def.io ?? '');
    valueOf.set(inf.node.id, loweringOf(inf.node.type as BlockType)!({ b, inf, ins, roleInput }));
  }
  const used = new Set(b.weightsUsed.map((w) => w.name));
  const sizeOf = (dims: readonly number[]) => 4 * dims.reduce((p, q) => p * q, 1);
  const weightBytes = b.weightsUsed.reduce((n, w) => n + sizeOf(w.dims), 0);
  const goExternal = mode === 'always' || (mode === 'auto' && weightBytes > above);

  let initializer: TensorMsg[];
  let external: ExternalData | null = null;
  if (goExternal) {
    // The data file in declaration order (the order values are made in), each tensor at an aligned offset.
    const tensors: ExternalTensor[] = [];
    let end = 0;
    for (const w of expected) {
      if (!used.has(w.fullKey)) continue;
      const offset = alignUp(end);
      const length = sizeOf(w.shape);
      tensors.push({ name: w.fullKey, dims: [...w.shape], offset, length });
      end = offset + length;
    }
    const at = new Map(tensors.map((t) => [t.name, t]));
    initializer = b.weightsUsed.map((w) => {
      const t = at.get(w.name)!;
      return {
        name: w.name,
        dims: [...w.dims],
        dataType: DataType.FLOAT,
        dataLocation: DataLocation.EXTERNAL,
        externalData: [
          { key: 'location', value: location },
          { key: 'offset', value: String(t.offset) },
          { key: 'length', value: String(t.length) },
        ],
      };
    });
    external = {
      location,
      byteLength: end,
      tensors,
      stream(write) {
        let pos = 0;
        let i = 0;
        for (const [name, data] of weightValues(expected, given, used)) {
          const t = tensors[i++];
          if (t.name !== name || data.length * 4 !== t.length) throw new Error(`onnx export: the data file's tensor ${i} is ${JSON.stringify(t.name)} (${t.length} bytes), but ${JSON.stringify(name)} came (${data.length * 4} bytes)`);
          if (t.offset > pos) write(new Uint8Array(t.offset - pos));
          write(float32Bytes(data));
          pos = t.offset + t.length;
        }
        if (i !== tensors.length || pos !== end) throw new Error(`onnx export: the data file got ${i} of ${tensors.length} tensors`);
      },
    };
  } else {
    const values = new Map(weightValues(expected, given, used));
    initializer = b.weightsUsed.map((w) => ({ name: w.name, dims: [...w.dims], dataType: DataType.FLOAT, rawData: float32Bytes(values.get(w.name)!) }));
  }

  const out = outputs[0].out!;
  const bytes = encodeModel({
    irVersion: IR_VERSION,
    opsetImport: [{ domain: '', version: OPSET }],
    producerName: 'UNet Studio',
    producerVersion: '1',
    docString: `Generated by UNet Studio from ${JSON.stringify(graph.name)}. Do not edit.`,
    graph: {
      name: graph.name,
      node: b.nodes,
      initializer,
      input: inputs,
      output: [valueInfo(OUTPUT_NAME, DataType.FLOAT, ['batch', ...out.dims])],
    },
  });
  const summary = [
    `# Generated by UNet Studio from ${JSON.stringify(graph.name)}. Do not edit.`,
    `# ${MODEL_FILE}: ONNX opset ${OPSET} (IR ${IR_VERSION}), ${bytes.length} bytes, ${b.nodes.length} nodes, ${initializer.length} initializers (${weights ? 'the given weights' : 'random PyTorch-default weights, seed 0'}).`,
    ...(external ? [`# ${external.location}: the initializers as ONNX external data, ${external.byteLength} bytes (offsets aligned to ${DATA_ALIGNMENT}); keep it beside ${MODEL_FILE}.`] : []),
    ...inputs.map((i) => `# input ${i.name}: ${i.type.tensorType.elemType === DataType.INT64 ? 'int64' : 'float32'} [${i.type.tensorType.shape.dim.map((d) => d.dimParam ?? d.dimValue).join(', ')}]`),
    `# output ${OUTPUT_NAME}: float32 [batch, ${out.dims.join(', ')}]`,
    '',
  ].join('\n');
  return { files: [{ path: MODEL_FILE, text: summary, bytes }], main: MODEL_FILE, className: pyClassName(graph.name, new Set()), inputs: roles.map((r) => r.role.role), external };
}

/**
 * The model reads back as a ModelProto with opset 17, the graph's inputs and one output `out`; each
 * initializer is inline, or external with `location`, `offset` (aligned) and `length`, matching the
 * export's data file layout when it has one.
 */
export function checkOnnx(files: ExportFiles & { readonly external?: ExternalData | null }): ExportDiagnostic[] {
  const out: ExportDiagnostic[] = [];
  for (const f of files.files) {
    if (f.path !== MODEL_FILE || !f.bytes) {
      out.push({ file: f.path, line: 0, message: 'not an ONNX model file', severity: 'error' });
      continue;
    }
    let m: Record<string, unknown>;
    try {
      m = decodeModel(f.bytes);
    } catch (e) {
      out.push({ file: f.path, line: 0, message: `does not decode as a ModelProto: ${e instanceof Error ? e.message : String(e)}`, severity: 'error' });
      continue;
    }
    const problem = (message: string) => out.push({ file: f.path, line: 0, message, severity: 'error' });
    const opsets = (m.opsetImport ?? []) as { domain?: string; version?: number }[];
    if (!opsets.some((o) => (o.domain ?? '') === '' && o.version === OPSET)) problem(`no opset ${OPSET} import`);
    const g = (m.graph ?? {}) as { input?: { name: string }[]; output?: { name: string }[]; initializer?: DecodedTensor[] };
    const ins = (g.input ?? []).map((i) => i.name);
    if (JSON.stringify(ins) !== JSON.stringify(files.inputs)) problem(`inputs ${JSON.stringify(ins)}, expected ${JSON.stringify(files.inputs)}`);
    const outs = (g.output ?? []).map((o) => o.name);
    if (outs.length !== 1 || outs[0] !== OUTPUT_NAME) problem(`outputs ${JSON.stringify(outs)}, expected ["${OUTPUT_NAME}"]`);
    const layout = new Map((files.external?.tensors ?? []).map((t) => [t.name, t]));
    for (const t of g.initializer ?? []) {
      const name = JSON.stringify(t.name);
      if (t.dataLocation !== DataLocation.EXTERNAL) {
        if (files.external) problem(`initializer ${name} is inline, but the export writes its weights to ${files.external.location}`);
        continue;
      }
      const kv = new Map((t.externalData ?? []).map((e) => [e.key, e.value]));
      const offset = Number(kv.get('offset'));
      const length = Number(kv.get('length'));
      const want = layout.get(t.name ?? '');
      if (!want || !files.external) problem(`initializer ${name} is external data, but the export has no data file for it`);
      else if (kv.get('location') !== files.external.location || offset !== want.offset || length !== want.length) {
        problem(`initializer ${name} points at ${JSON.stringify(Object.fromEntries(kv))}, but the data file has it at offset ${want.offset}, length ${want.length} of ${files.external.location}`);
      }
      if (!(offset % DATA_ALIGNMENT === 0)) problem(`initializer ${name}'s external data offset ${kv.get('offset')} is not a multiple of ${DATA_ALIGNMENT}`);
    }
  }
  return out;
}

/** An initializer as `decodeModel` reads it back. */
interface DecodedTensor {
  readonly name?: string;
  readonly dataLocation?: number;
  readonly externalData?: readonly { readonly key: string; readonly value: string }[];
}
