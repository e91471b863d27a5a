/**
 * The lowerings the reference fixtures do not reach, against PyTorch: one graph with a standalone
 * GroupNorm (8 groups, eps 1e-6), an odd timestep embedding (dim 31, max_period 5000), ResBlocks
 * without scale-shift (3×3 skip conv) and resampling down, Downsample by average pooling,
 * Upsample without its conv, ConvTranspose2d, BatchNorm2d, ReLU, a skip-first Concat, Add and
 * MaxPool2d. The reference is the PyTorch export's model.py (the blocks' own torch source) run by
 * Debian's torch on the same weights, every weight drawn at random (no zero-initialised layer, no
 * trivial BatchNorm statistics), in one Python process.
 */
import { afterAll, describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GraphBuilder } from '../../../graph/builder';
import { analyze } from '../../../graph/analyze';
import { expectedWeights } from '../../../graph/weights';
import { Rng } from '../../../weights/rng';
import { parseSafetensors, writeSafetensors, type TensorToWrite } from '../../../weights/safetensors';
import { closeness } from '../../../test/util';
import { PYTHON } from '../../../test/python';
import { pytorchTarget } from '../pytorch';
import { NODE_ENV } from '../env-node';
import { exportOnnx } from './export';

const dir = mkdtempSync(join(tmpdir(), 'unet-onnx-torch-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const SCRIPT = `
import importlib.util, json, struct, sys, torch
torch.set_num_threads(1)
model_path, weights_path, out_path = sys.argv[1:4]
spec = importlib.util.spec_from_file_location("m", model_path)
m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
data = open(weights_path, "rb").read()
(n,) = struct.unpack("<Q", data[:8]); header = json.loads(data[8:8 + n]); base = 8 + n
t = {}
for k, e in header.items():
    if k == "__metadata__": continue
    b, end = e["data_offsets"]
    dt = torch.float32 if e["dtype"] == "F32" else torch.int64
    t[k] = torch.frombuffer(bytearray(data[base + b:base + end]), dtype=dt).reshape(e["shape"])
model = m.build_model().eval()
model.load_state_dict({k: v for k, v in t.items() if not k.startswith("io.")}, strict=True)
with torch.no_grad():
    out = model(*[t["io." + name] for name in m.INPUT_NAMES])
open(out_path, "wb").write(out.contiguous().numpy().astype("<f4").tobytes())
print(json.dumps(list(out.shape)))
`;

function graph() {
  const b = new GraphBuilder();
  const x = b.add('ImageInput', 'x', { channels: 3, height: 8, width: 8 });
  const t = b.add('TimestepsInput', 't');
  const emb = b.add('TimeEmbedMLP', 'time_embed', { dim: 64 }, { x: b.add('TimestepEmbedding', 'temb', { dim: 31, max_period: 5000 }, { x: t }) });
  const c0 = b.add('Conv2d', 'conv_in', { out_channels: 32, kernel_size: 3, stride: 1, padding: 1 }, { x });
  const act = b.add('SiLU', 'act', {}, { x: b.add('GroupNorm', 'norm', { groups: 8, eps: 1e-6 }, { x: c0 }) });
  const r1 = b.add('ResBlock', 'res1', { out_channels: 64, use_scale_shift_norm: false, skip_conv: '3x3' }, { x: act, emb });
  const down = b.add('Downsample', 'down', { use_conv: false }, { x: r1 });
  const r2 = b.add('ResBlock', 'res2', { out_channels: 64, use_scale_shift_norm: true, resample: 'down' }, { x: down, emb });
  const up = b.add('Upsample', 'up', { use_conv: false }, { x: r2 });
  const ct = b.add('ConvTranspose2d', 'convT', { out_channels: 32, kernel_size: 2, stride: 2 }, { x: up });
  const bn = b.add('ReLU', 'relu', {}, { x: b.add('BatchNorm2d', 'bn', { eps: 1e-5 }, { x: ct }) });
  const cat = b.add('Concat', 'cat', { order: 'skip_first' }, { x: bn, skip: act });
  const sum = b.add('Add', 'sum', {}, { a: cat, b: r1 });
  const pool = b.add('MaxPool2d', 'pool', { kernel_size: 2 }, { x: sum });
  b.add('Output', 'output', {}, { x: b.add('Conv2d', 'conv_out', { out_channels: 3, kernel_size: 1, stride: 1, padding: 0 }, { x: pool }) });
  return b.build('onnx-vs-torch');
}

describe('ONNX lowerings vs PyTorch (the PyTorch export run by torch)', () => {
  it('every lowered path the fixtures miss matches within 1e-4 + 1e-4·|ref|', async () => {
    const g = graph();
    const a = analyze(g);
    expect(a.problems.filter((p) => p.severity === 'error').map((p) => p.message)).toEqual([]);
    const rng = new Rng(7);
    const tensors: Record<string, TensorToWrite> = {};
    for (const w of expectedWeights(a)) {
      const n = w.shape.reduce((p, q) => p * q, 1);
      if (w.key.endsWith('num_batches_tracked')) {
        tensors[w.fullKey] = { dtype: 'I64', shape: w.shape, data: new BigInt64Array(n).fill(3n) };
        continue;
      }
      const fan = w.shape.length > 1 ? w.shape.slice(1).reduce((p, q) => p * q, 1) : 1;
      const v = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        const z = rng.normal();
        v[i] = w.key.endsWith('running_var') ? 0.5 + rng.next() : w.shape.length > 1 ? z / Math.sqrt(fan) : w.key.endsWith('weight') ? 1 + 0.2 * z : 0.2 * z;
      }
      tensors[w.fullKey] = { dtype: 'F32', shape: w.shape, data: v };
    }
    const xs = Float32Array.from({ length: 2 * 3 * 8 * 8 }, () => rng.normal());
    const ts = new Float32Array([7, 812]);
    const file = writeSafetensors({ ...tensors, 'io.x': { dtype: 'F32', shape: [2, 3, 8, 8], data: xs }, 'io.timesteps': { dtype: 'F32', shape: [2], data: ts } });
    const wPath = join(dir, 'w.safetensors');
    writeFileSync(wPath, file);
    const py = await pytorchTarget.generate(g, NODE_ENV);
    const modelPath = join(dir, 'model.py');
    writeFileSync(modelPath, py.files.find((f) => f.path === 'model.py')!.text);
    const outPath = join(dir, 'out.bin');
    const shape = JSON.parse(execFileSync(PYTHON, ['-c', SCRIPT, modelPath, wPath, outPath], { encoding: 'utf8' })) as number[];
    expect(shape).toEqual([2, 3, 4, 4]);
    const raw = readFileSync(outPath);
    const ref = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));

    const weights = parseSafetensors(file);
    const files = exportOnnx(g, { metadata: {}, tensors: new Map([...weights.tensors].filter(([k]) => !k.startsWith('io.'))) });
    const s = await ort.InferenceSession.create(files.files[0].bytes!, { intraOpNumThreads: 1 });
    const out = (await s.run({ x: new ort.Tensor('float32', xs, [2, 3, 8, 8]), timesteps: new ort.Tensor('float32', ts, [2]) })).out;
    await s.release();
    expect(out.dims).toEqual(shape);
    const c = closeness(out.data as Float32Array, ref, 1e-4, 1e-4);
    console.log(`onnx-vs-torch: max |got-ref| ${c.maxAbs.toExponential(2)}, max |ref| ${Math.max(...Array.from(ref, Math.abs)).toFixed(2)}`);
    expect(c.ok, JSON.stringify(c)).toBe(true);
    expect(Math.max(...Array.from(ref, Math.abs))).toBeGreaterThan(0.5);
  });
});
