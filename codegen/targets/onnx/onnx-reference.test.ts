/**
 * The diffusers and text-conditioned lowerings against the real reference outputs in the repo
 * (test/reference: made by the real diffusers, latent-diffusion and stablediffusion code): each
 * case's graph exported with the case's own state_dict and run by onnxruntime-node gives the case's
 * `io.out` within 1e-4 + 1e-4·|ref|. Together the cases reach every lowering path the iDDPM fixtures
 * do not: Timesteps (flip and not, shift 0 and 1), LearnedTimesteps, Rescale, the diffusers
 * TimestepEmbedding, ResnetBlock2D (default and scale-shift, Mish, its own down/up resampling,
 * conv_shortcut, output_scale_factor), Attention (one head, several, group norm or none,
 * rescale_output_factor), Downsample2D (padding 0 and 1), the Context input, SpatialTransformer and
 * Transformer2DModel (1×1 conv and Linear projections, depth 2, several heads, inner ≠ channels).
 * GELU is checked on its own against PyTorch's exact (erf) form, which the tanh form misses.
 */
import { describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { diffusersUNet2D } from '../../../graph/templates';
import type { Graph } from '../../../graph/model';
import { toFloat32, type SafetensorsFile, type SafetensorsTensor } from '../../../weights/safetensors';
import { DIFFUSERS_CASES, DIFFUSERS_DIR, weightsOnly } from '../../../test/diffusers-cases';
import { blockCaseFile, blockCaseGraph, blockCaseWeights, MODEL_CASES, TRANSFORMER_BLOCK_CASES } from '../../../test/cond-cases';
import { closeness, readSafetensors } from '../../../test/util';
import { OnnxBuilder } from './builder';
import { checkOnnx, exportOnnx } from './export';
import { geluErf } from './lower';
import { DataType, encodeModel, IR_VERSION, OPSET, decodeModel } from './onnx-proto';

/** The model's inputs from a reference file's `io.*`, by the export's input names (timesteps as float32, y as int64). */
function feedsOf(inputs: readonly string[], file: SafetensorsFile): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = {};
  for (const role of inputs) {
    const t: SafetensorsTensor | undefined = file.tensors.get(`io.${role}`);
    if (!t) throw new Error(`the reference file has no io.${role}`);
    feeds[role] = role === 'y' ? new ort.Tensor('int64', BigInt64Array.from(toFloat32(t), (v) => BigInt(v)), [...t.shape]) : new ort.Tensor('float32', toFloat32(t), [...t.shape]);
  }
  return feeds;
}

async function runOnnx(bytes: Uint8Array, feeds: Record<string, ort.Tensor>): Promise<ort.Tensor> {
  const s = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  try {
    return (await s.run(feeds)).out;
  } finally {
    await s.release();
  }
}

/** Exports `graph` with `weights`, runs it on the file's inputs, and checks `out` against `io.out`. */
async function expectReference(name: string, graph: Graph, weights: SafetensorsFile, file: SafetensorsFile): Promise<string[]> {
  const files = exportOnnx(graph, weights);
  expect(checkOnnx(files)).toEqual([]);
  const out = await runOnnx(files.files[0].bytes!, feedsOf(files.inputs, file));
  const refT = file.tensors.get('io.out')!;
  expect(out.dims).toEqual(refT.shape);
  const ref = toFloat32(refT);
  const c = closeness(out.data as Float32Array, ref, 1e-4, 1e-4);
  console.log(`${name}: max |onnx - ref| ${c.maxAbs.toExponential(2)}`);
  expect(c.ok, `${name}: ${JSON.stringify(c)}`).toBe(true);
  expect(Math.max(...Array.from(ref, Math.abs))).toBeGreaterThan(1); // a real signal
  const m = decodeModel(files.files[0].bytes!) as { graph: { node: { opType: string }[] } };
  return [...new Set(m.graph.node.map((n) => n.opType))];
}

describe('ONNX export vs the real diffusers / latent-diffusion outputs (onnxruntime-node)', () => {
  // A subset of the UNet2DModel cases that reaches every diffusers lowering path (the others add
  // nothing new to the lowering: legacy attention names are a weights matter, noattn / nomid repeat
  // these paths): ddpm (sin|cos, shift 1, Downsample2D padding 0, one head, eps 1e-6), iddpm
  // (cos|sin, scale-shift, class labels, two heads of 32, padding 1), learned (LearnedTimesteps,
  // Rescale, Mish, ResnetBlock2D down/up, output_scale_factor and rescale_output_factor 2, 8 groups),
  // openai (resnet resampling, a middle Attention without group norm, 6 output channels).
  const DF = ['df-ddpm', 'df-iddpm', 'df-learned', 'df-openai'];
  it.each(DF)('UNet2DModel %s', async (name) => {
    const c = DIFFUSERS_CASES.find((d) => d.name === name)!;
    const file = readSafetensors(`${DIFFUSERS_DIR}${name}.safetensors`);
    const ops = await expectReference(name, diffusersUNet2D(c.config, c.image_size), weightsOnly(file), file);
    expect(ops).toContain('Gemm');
    if (name === 'df-learned') expect(ops).toEqual(expect.arrayContaining(['Gather', 'Softplus', 'Tanh', 'AveragePool', 'Resize']));
    if (name === 'df-ddpm') expect(ops).toContain('Pad');
  });

  // Whole text-conditioned models: latent-diffusion's UNetModel with the SD 1.x code (depth 2,
  // SpatialTransformer with 1×1 conv projections) and UNet2DConditionModel (Transformer2DModel);
  // the Linear projections are covered by the block cases below.
  const WHOLE = ['ldm-sd1-depth2', 'cond-conv'];
  it.each(WHOLE)('whole model %s', async (name) => {
    const c = MODEL_CASES.find((m) => m.name === name)!;
    const file = readSafetensors(c.path);
    const ops = await expectReference(name, c.graph(), weightsOnly(file), file);
    expect(ops).toEqual(expect.arrayContaining(['LayerNormalization', 'Erf', 'Softmax']));
  });

  // The transformer blocks alone (each module's own state_dict): SD 2.x's Linear projections with
  // depth 2, diffusers' Linear and conv ones, inner ≠ channels (ldm-inner, df-transformer2d), odd H×W.
  it.each(TRANSFORMER_BLOCK_CASES.map((c) => [c.name, c] as const))('block %s', async (name, c) => {
    const file = blockCaseFile(c);
    await expectReference(name, blockCaseGraph(c), blockCaseWeights(file), file);
  });
});

describe('GELU is the exact erf form', () => {
  it("matches torch.nn.functional.gelu (x·Φ(x)) within 1e-6, where the tanh approximation is 1e-4 off", async () => {
    const xs = [-3, -1, -0.5, 0, 0.5, 1, 2, 3];
    // torch.nn.functional.gelu(torch.tensor(xs, dtype=torch.float64)) with torch 1.13 (= x·Φ(x), Φ the normal CDF).
    const want = [-0.0040496940948903, -0.15865525393146, -0.15426876936299, 0, 0.34573123063701, 0.84134474606854, 1.9544997361036, 2.9959503059051];
    const tanhForm = xs.map((x) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3))));
    expect(Math.max(...tanhForm.map((v, i) => Math.abs(v - want[i])))).toBeGreaterThan(1e-4);

    const b = new OnnxBuilder(['x', 'out'], () => {
      throw new Error('no weights');
    });
    b.opTo('Identity', [geluErf(b, 'x', '/gelu')], 'out', '/out');
    const info = (name: string) => ({ name, type: { tensorType: { elemType: DataType.FLOAT, shape: { dim: [{ dimValue: xs.length }] } } } });
    const bytes = encodeModel({
      irVersion: IR_VERSION,
      opsetImport: [{ domain: '', version: OPSET }],
      producerName: 'test',
      producerVersion: '1',
      docString: '',
      graph: { name: 'gelu', node: b.nodes, initializer: [], input: [info('x')], output: [info('out')] },
    });
    const got = Array.from((await runOnnx(bytes, { x: new ort.Tensor('float32', Float32Array.from(xs), [xs.length]) })).data as Float32Array);
    for (let i = 0; i < xs.length; i++) expect(Math.abs(got[i] - want[i]), `gelu(${xs[i]})`).toBeLessThan(1e-6);
  });
});
