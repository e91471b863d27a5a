/**
 * The ONNX target: the graph as one `model.onnx` (opset 17, NCHW, inputs named by role, output
 * `out`, initializers under the state_dict's names). Light: the code panel imports the registry; the
 * exporter (and protobufjs) load on use. The main file's `text` is a short readable summary for the
 * code panel; the model itself is its `bytes`.
 */
import type { ExportDiagnostic, ExportFiles, ExportTarget } from '../types';

export const onnxTarget: ExportTarget = {
  id: 'onnx',
  label: 'ONNX',
  description: 'one model.onnx (opset 17, NCHW, inputs x/timesteps/context/y, output out) with the given weights (CLI --weights) or random PyTorch-default ones; the CLI puts them in model.onnx.data beside it with --external-data or over 2 GiB',
  language: 'text',
  checkWords: { checking: 'checking…', passed: 'checked', passedDetail: 'checked (reads back as an opset 17 ModelProto)', problem: 'problem' },
  weights: { without: 'model.onnx holds random PyTorch-default weights (seed 0): give --weights W.safetensors for trained ones' },
  async generate(graph, _env, opts): Promise<ExportFiles> {
    return (await import('./export')).exportOnnx(graph, opts?.weights);
  },
  async check(files): Promise<ExportDiagnostic[]> {
    return (await import('./export')).checkOnnx(files);
  },
};
