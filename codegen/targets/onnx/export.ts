/**
 * The ONNX export: the graph as one `model.onnx` (ModelProto, opset 17, written with protobufjs from
 * onnx.proto's schema, `./onnx-proto.ts`). Inputs are named by role in the forward's order
 * (`graphInputs`, INPUT_ROLES: `x` [batch, C, H, W] float32, `timesteps` [batch] float32, `context`
 * [batch, tokens, dim] float32, `y` [batch] int64), the output `out` (NCHW), the batch dimension
 * symbolic (`batch`), H and W the graph's. Initializers are the state_dict's tensors under their
 * PyTorch names and layouts: the given checkpoint's (checked strictly, legacy names accepted), or
 * PyTorch-default random ones (seed 0, as the app's own random weights) when none is given. Buffers
 * no forward reads (`num_batches_tracked`) are not written. Deterministic: same graph and weights,
 * same bytes. Names from the graph are only ever ONNX strings (value and node names, doc string).
 */
import { analyze, graphInputs, type NodeInfo } from '../../../graph/analyze';
import type { Graph } from '../../../graph/model';
import { expectedWeights, type ExpectedWeight } from '../../../graph/weights';
import type { BlockType } from '../../../blocks/registry';
import { withLegacyNames } from '../../../weights/legacy';
import { checkStateDict, initialValues } from '../../../weights/pytorch';
import { Rng } from '../../../weights/rng';
import { toFloat32, type SafetensorsFile } from '../../../weights/safetensors';
import { CodegenError } from '../../errors';
import type { ExportDiagnostic, ExportFiles } from '../types';
import { pyClassName } from '../pytorch/python';
import { OnnxBuilder, type WeightValues } from './builder';
import { loweringOf } from './lower';
import { DataType, decodeModel, encodeModel, IR_VERSION, OPSET, type DataTypeId, type DimMsg, type ValueInfoMsg } from './onnx-proto';

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

function weightSource(expected: readonly ExpectedWeight[], given: SafetensorsFile | undefined): (key: string) => WeightValues {
  const byKey = new Map(expected.map((w) => [w.fullKey, w]));
  if (given) {
    const tensors = withLegacyNames(expected.map((w) => w.fullKey), given.tensors);
    checkStateDict(expected, new Map([...tensors].map(([k, t]) => [k, t.shape])), 'the weights');
    return (key) => {
      const t = tensors.get(key)!;
      return { shape: t.shape, data: toFloat32(t) };
    };
  }
  // PyTorch-default initialisation, drawn in graph order from one seeded stream (runtime's randomWeights(a, 0)).
  const rng = new Rng(0);
  const values = new Map<string, WeightValues>();
  for (const w of expected) values.set(w.fullKey, { shape: w.shape, data: initialValues(w.shape, w.init, rng) });
  return (key) => {
    const v = values.get(key);
    if (!v || !byKey.has(key)) throw new Error(`onnx export: a lowering asked for the weight ${JSON.stringify(key)}, which the graph does not declare`);
    return v;
  };
}

export function exportOnnx(graph: Graph, weights?: SafetensorsFile): ExportFiles {
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
  if (floats * 4 > MAX_INLINE_BYTES) {
    throw new CodegenError(
      `graph ${JSON.stringify(graph.name)} has ${floats.toLocaleString('en-US')} weights (${(floats * 4 / 2 ** 30).toFixed(2)} GiB as float32): ` +
        'an ONNX file holds at most 2 GiB inline (protobuf), and the export does not write external data yet; nothing was exported',
    );
  }
  const roles = graphInputs(a);
  const inputs = roles.map((r) => inputInfo(r.info)).filter((v): v is ValueInfoMsg => v !== null);
  const reserved = [...inputs.map((i) => i.name), OUTPUT_NAME];
  for (const w of expected) {
    if (reserved.includes(w.fullKey)) throw new CodegenError(`the weight ${JSON.stringify(w.fullKey)} has the name of a model input or output; rename block ${JSON.stringify(w.node)}`);
  }
  const b = new OnnxBuilder([...reserved, ...expected.map((w) => w.fullKey)], weightSource(expected, weights));

  const valueOf = new Map<string, string>();
  for (const inf of infos) {
    const ins: Record<string, string> = {};
    for (const [port, src] of Object.entries(inf.inputs)) ins[port] = valueOf.get(src.from)!;
    const roleInput = inf.def.io === 'output' ? OUTPUT_NAME : (inf.def.io ?? '');
    valueOf.set(inf.node.id, loweringOf(inf.node.type as BlockType)!({ b, inf, ins, roleInput }));
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
      initializer: b.initializers,
      input: inputs,
      output: [valueInfo(OUTPUT_NAME, DataType.FLOAT, ['batch', ...out.dims])],
    },
  });
  const summary = [
    `# Generated by UNet Studio from ${JSON.stringify(graph.name)}. Do not edit.`,
    `# ${MODEL_FILE}: ONNX opset ${OPSET} (IR ${IR_VERSION}), ${bytes.length} bytes, ${b.nodes.length} nodes, ${b.initializers.length} initializers (${weights ? 'the given weights' : 'random PyTorch-default weights, seed 0'}).`,
    ...inputs.map((i) => `# input ${i.name}: ${i.type.tensorType.elemType === DataType.INT64 ? 'int64' : 'float32'} [${i.type.tensorType.shape.dim.map((d) => d.dimParam ?? d.dimValue).join(', ')}]`),
    `# output ${OUTPUT_NAME}: float32 [batch, ${out.dims.join(', ')}]`,
    '',
  ].join('\n');
  return { files: [{ path: MODEL_FILE, text: summary, bytes }], main: MODEL_FILE, className: pyClassName(graph.name, new Set()), inputs: roles.map((r) => r.role.role) };
}

/** The model reads back as a ModelProto with opset 17, the graph's inputs and one output `out`. */
export function checkOnnx(files: ExportFiles): ExportDiagnostic[] {
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
    const opsets = (m.opsetImport ?? []) as { domain?: string; version?: number }[];
    if (!opsets.some((o) => (o.domain ?? '') === '' && o.version === OPSET)) out.push({ file: f.path, line: 0, message: `no opset ${OPSET} import`, severity: 'error' });
    const g = (m.graph ?? {}) as { input?: { name: string }[]; output?: { name: string }[] };
    const ins = (g.input ?? []).map((i) => i.name);
    if (JSON.stringify(ins) !== JSON.stringify(files.inputs)) out.push({ file: f.path, line: 0, message: `inputs ${JSON.stringify(ins)}, expected ${JSON.stringify(files.inputs)}`, severity: 'error' });
    const outs = (g.output ?? []).map((o) => o.name);
    if (outs.length !== 1 || outs[0] !== OUTPUT_NAME) out.push({ file: f.path, line: 0, message: `outputs ${JSON.stringify(outs)}, expected ["${OUTPUT_NAME}"]`, severity: 'error' });
  }
  return out;
}
