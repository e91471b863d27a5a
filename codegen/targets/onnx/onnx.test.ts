/**
 * The ONNX export against PyTorch: the fixtures' graphs exported with their PyTorch weights and run
 * by onnxruntime-node must give the fixtures' reference `out` (|got − ref| ≤ 1e-4 + 1e-4·|ref|,
 * fixtures/README.md); hostile names give a valid model with the same numbers (on the iDDPM blocks
 * and on the diffusers / transformer ones); every block type is lowered; every template exports.
 */
import { describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { iddpm, vanilla, diffusersUNet, diffusersUNet2D, TEMPLATES, type TemplateId } from '../../../graph/templates';
import { BLOCK_TYPES } from '../../../blocks/registry';
import { DIFFUSERS_DIR } from '../../../test/diffusers-cases';
import { LDM_DIR, withTokens } from '../../../test/cond-cases';
import { withImageSize } from '../../../graph/edit';
import { analyze } from '../../../graph/analyze';
import { expectedWeights } from '../../../graph/weights';
import type { Graph } from '../../../graph/model';
import { toFloat32, type SafetensorsFile, type SafetensorsTensor } from '../../../weights/safetensors';
import { closeness, fixtureConfig, FIXTURES, readSafetensors, REFERENCE } from '../../../test/util';
import { readFileSync } from 'node:fs';
import { checkOnnx, exportOnnx, exportOnnxModel } from './export';
import { decodeModel } from './onnx-proto';
import { LOWERINGS, loweringOf } from './lower';

type Fixture = 'iddpm-small' | 'vanilla-small';

function fixtureGraph(name: Fixture, h?: number, w?: number): Graph {
  const c = fixtureConfig(name);
  const g = name === 'iddpm-small' ? iddpm(c.kwargs, c.imageSize) : vanilla(c.kwargs, c.imageSize);
  return h === undefined || w === undefined ? g : withImageSize(g, h, w);
}

async function run(bytes: Uint8Array, feeds: Record<string, ort.Tensor>): Promise<ort.Tensor> {
  const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  try {
    const r = await session.run(feeds);
    return r.out;
  } finally {
    await session.release();
  }
}

const f32 = (t: SafetensorsTensor) => new ort.Tensor('float32', toFloat32(t), [...t.shape]);

/** Exports a fixture's graph with its PyTorch weights, runs it on the io file's inputs, compares `out`. */
async function compare(name: Fixture, ioFile: string, graphOf: (g: Graph) => { graph: Graph; weights: SafetensorsFile } = (graph) => ({ graph, weights: readSafetensors(`${FIXTURES}${name}/weights.safetensors`) })) {
  const io = readSafetensors(`${FIXTURES}${name}/${ioFile}`);
  const x = io.tensors.get('x')!;
  const { graph, weights } = graphOf(fixtureGraph(name, x.shape[2], x.shape[3]));
  const files = exportOnnx(graph, weights);
  expect(checkOnnx(files)).toEqual([]);
  const feeds: Record<string, ort.Tensor> = { x: f32(x) };
  const ts = io.tensors.get('timesteps_f32');
  if (ts) feeds.timesteps = f32(ts);
  const out = await run(files.files[0].bytes!, feeds);
  const ref = io.tensors.get('out')!;
  expect(out.dims).toEqual(ref.shape);
  return { files, c: closeness(out.data as Float32Array, toFloat32(ref), 1e-4, 1e-4) };
}

describe('ONNX export vs PyTorch (onnxruntime-node)', () => {
  it('iddpm-small: out matches the reference within 1e-4 + 1e-4·|ref|', async () => {
    const { files, c } = await compare('iddpm-small', 'io.safetensors');
    console.log(`iddpm-small: max |got-ref| ${c.maxAbs.toExponential(2)}`);
    expect(c.ok, JSON.stringify(c)).toBe(true);
    expect(files.inputs).toEqual(['x', 'timesteps']);
    // Initializers are exactly the state_dict, under its names and PyTorch layouts.
    const m = decodeModel(files.files[0].bytes!) as { graph: { initializer: { name: string; dims: number[] }[]; input: { name: string }[]; output: { name: string }[] } };
    const weights = readSafetensors(`${FIXTURES}iddpm-small/weights.safetensors`);
    expect(m.graph.initializer.map((i) => i.name).sort()).toEqual([...weights.tensors.keys()].sort());
    for (const i of m.graph.initializer) expect(i.dims, i.name).toEqual(weights.tensors.get(i.name)!.shape);
    expect(m.graph.input.map((i) => i.name)).toEqual(['x', 'timesteps']);
    expect(m.graph.output.map((o) => o.name)).toEqual(['out']);
  });

  it('vanilla-small: out matches for N=2 3×32×32 and for odd 3×30×26 (the pad before the skip concat)', async () => {
    for (const io of ['io.safetensors', 'io_odd.safetensors']) {
      const { c } = await compare('vanilla-small', io);
      console.log(`vanilla-small ${io}: max |got-ref| ${c.maxAbs.toExponential(2)}`);
      expect(c.ok, `${io}: ${JSON.stringify(c)}`).toBe(true);
    }
    // Buffers that no forward reads (BatchNorm's I64 num_batches_tracked) are not written.
    const files = exportOnnx(fixtureGraph('vanilla-small'), readSafetensors(`${FIXTURES}vanilla-small/weights.safetensors`));
    const m = decodeModel(files.files[0].bytes!) as { graph: { initializer: { name: string }[] } };
    expect(m.graph.initializer.some((i) => i.name.endsWith('num_batches_tracked'))).toBe(false);
    const given = [...readSafetensors(`${FIXTURES}vanilla-small/weights.safetensors`).tensors.keys()];
    expect(given.length).toBe(92);
    expect(m.graph.initializer.map((i) => i.name).sort()).toEqual(given.filter((k) => !k.endsWith('.num_batches_tracked')).sort());
  });

  // Real guided-diffusion UNetModel outputs (test/reference): num_head_channels, the new q|k|v
  // order, resblock_updown (ResBlocks that resample), class labels (ClassLabelInput + LabelEmbedding),
  // fractional channel_mult.
  for (const name of ['guided-headch', 'guided-neworder', 'guided-updown', 'guided-classcond', 'guided-halfmult']) {
    it(`${name}: out matches guided-diffusion's`, async () => {
      const meta = JSON.parse(readFileSync(`${REFERENCE}${name}.json`, 'utf8')) as { kwargs: Record<string, unknown>; image_size: number };
      const file = readSafetensors(`${REFERENCE}${name}.safetensors`);
      const weights: SafetensorsFile = { metadata: {}, tensors: new Map([...file.tensors].filter(([k]) => !k.startsWith('io.'))) };
      const files = exportOnnx(iddpm(meta.kwargs, meta.image_size), weights);
      const feeds: Record<string, ort.Tensor> = { x: f32(file.tensors.get('io.x')!), timesteps: f32(file.tensors.get('io.timesteps')!) };
      const y = file.tensors.get('io.y');
      if (y) feeds.y = new ort.Tensor('int64', BigInt64Array.from(toFloat32(y), (v) => BigInt(v)), [...y.shape]);
      expect(files.inputs).toEqual(y ? ['x', 'timesteps', 'y'] : ['x', 'timesteps']);
      const out = await run(files.files[0].bytes!, feeds);
      const ref = toFloat32(file.tensors.get('io.out')!);
      const c = closeness(out.data as Float32Array, ref, 1e-4, 1e-4);
      console.log(`${name}: max |got-ref| ${c.maxAbs.toExponential(2)}`);
      expect(c.ok, JSON.stringify(c)).toBe(true);
      expect(Math.max(...Array.from(ref, Math.abs))).toBeGreaterThan(1); // a real signal, not zeros
    });
  }

  it('hostile block names give a valid model with the same numbers, names kept as plain strings', async () => {
    const HOSTILE = ['q"uote', "it's", '*/ x /*', '//slash', 'line\nbreak', 'x', 'out', 'timesteps', '/inc/Conv_output', '"); print(1) #', '😀', '.', '\\u0022', 'tab\there', '<!-- -->'];
    let renamed: string[] = [];
    let hostileGraph: Graph | undefined;
    const { c, files } = await compare('vanilla-small', 'io.safetensors', (graph) => {
      const nodes = graph.nodes.map((n, i) => (i < HOSTILE.length ? { ...n, name: HOSTILE[i] } : n));
      const hostile: Graph = { ...graph, name: 'graph "name" */ --', nodes, groups: [] };
      hostileGraph = hostile;
      renamed = nodes.slice(0, HOSTILE.length).map((n) => n.name);
      // The same weights under the new names (both lists are in graph order and differ only in names).
      const before = expectedWeights(analyze(graph));
      const after = expectedWeights(analyze(hostile));
      expect(after.length).toBe(before.length);
      const given = readSafetensors(`${FIXTURES}vanilla-small/weights.safetensors`);
      const tensors = new Map(after.map((w, i) => [w.fullKey, given.tensors.get(before[i].fullKey)!]));
      return { graph: hostile, weights: { metadata: {}, tensors } };
    });
    expect(c.ok, JSON.stringify(c)).toBe(true);
    expect(renamed).toContain('line\nbreak');
    const m = decodeModel(files.files[0].bytes!) as { docString: string; graph: { name: string; initializer: { name: string }[] } };
    expect(m.graph.name).toBe('graph "name" */ --');
    expect(m.docString).toBe('Generated by UNet Studio from "graph \\"name\\" */ --". Do not edit.');
    const keys = m.graph.initializer.map((i) => i.name);
    expect(keys.sort()).toEqual(expectedWeights(analyze(hostileGraph!)).map((w) => w.fullKey).filter((k) => !k.endsWith('.num_batches_tracked')).sort());
    const owners = HOSTILE.filter((h) => keys.some((k) => k.startsWith(`${h}.`)));
    expect(owners.length, JSON.stringify(owners)).toBeGreaterThanOrEqual(3);
    expect(owners.some((h) => /["'\n*]/.test(h)), JSON.stringify(owners)).toBe(true);
  });

  it('without weights: random PyTorch-default weights, deterministic, and the model runs', async () => {
    const g = fixtureGraph('iddpm-small');
    const a = exportOnnx(g);
    expect(Buffer.compare(exportOnnx(g).files[0].bytes!, a.files[0].bytes!)).toBe(0);
    const x = new ort.Tensor('float32', new Float32Array(1 * 3 * 16 * 16).fill(0.5), [1, 3, 16, 16]);
    const out = await run(a.files[0].bytes!, { x, timesteps: new ort.Tensor('float32', new Float32Array([10]), [1]) });
    expect(out.dims).toEqual([1, 3, 16, 16]);
    expect((out.data as Float32Array).every(Number.isFinite)).toBe(true);
    // out_layers.3 and out.2 start at zero (zero_module), so the output is exactly the zero conv's bias: 0.
    expect(Math.max(...(out.data as Float32Array)), 'zero-initialised last conv').toBe(0);
  });

  it('refuses a model over protobuf\'s 2 GiB (guided-diffusion 512×512, 559M parameters) before drawing any weight', () => {
    const published = (JSON.parse(readFileSync(`${REFERENCE}published-configs.json`, 'utf8')) as { configs: { name: string; kwargs: Record<string, unknown>; image_size: number; num_parameters: number }[] }).configs;
    const big = published.find((c) => c.name === 'guided-diffusion/512x512_diffusion')!;
    expect(big.num_parameters).toBeGreaterThan(2 ** 31 / 4);
    // PyTorch's own parameter count (published-configs.json), 2.08 GiB as float32.
    expect(() => exportOnnx(iddpm(big.kwargs, big.image_size))).toThrow(`has ${big.num_parameters.toLocaleString('en-US')} weights (2.08 GiB as float32): an ONNX file holds at most 2 GiB inline`);
    // The code panel's single file names the way out: the CLI's external data.
    expect(() => exportOnnx(iddpm(big.kwargs, big.image_size))).toThrow(/Export it with the CLI.*npx unet-studio export onnx graph\.json \[--weights W\.safetensors\] -o model\.onnx --external-data/);
  });

  it('external data: the layout (declaration order, 4096-aligned, 4 bytes per value) and its stream; a single file refused over the threshold; plain data file names only', () => {
    const c = fixtureConfig('iddpm-small');
    const g = iddpm(c.kwargs, c.imageSize);
    const ext = exportOnnxModel(g, undefined, { externalData: 'always', location: 'm.onnx.data' });
    const e = ext.external!;
    expect(e.location).toBe('m.onnx.data');
    // Declaration order of the graph's float weights (num_batches_tracked-like buffers aside), each aligned.
    const declared = expectedWeights(analyze(g)).filter((w) => w.dtype === 'float32');
    expect(e.tensors.map((t) => t.name)).toEqual(declared.map((w) => w.fullKey));
    let pos = 0;
    for (const [i, t] of e.tensors.entries()) {
      expect(t.offset).toBe(Math.ceil(pos / 4096) * 4096);
      expect(t.length).toBe(4 * declared[i].shape.reduce((p, q) => p * q, 1));
      pos = t.offset + t.length;
    }
    expect(e.byteLength).toBe(pos);
    // The stream gives exactly byteLength bytes, the same twice, tensor bytes equal to the single file's.
    const collect = () => {
      const parts: Uint8Array[] = [];
      e.stream((b) => parts.push(Uint8Array.from(b)));
      return Buffer.concat(parts);
    };
    const bytes = collect();
    expect(bytes.length).toBe(e.byteLength);
    expect(Buffer.compare(bytes, collect())).toBe(0);
    const inline = decodeModel(exportOnnx(g).files[0].bytes!) as { graph: { initializer: { name: string; rawData: number[] }[] } };
    for (const init of inline.graph.initializer) {
      const t = e.tensors.find((x) => x.name === init.name)!;
      expect(Buffer.compare(bytes.subarray(t.offset, t.offset + t.length), Uint8Array.from(init.rawData)), init.name).toBe(0);
    }
    expect(checkOnnx(ext)).toEqual([]);
    // The check notices a model whose offsets do not match the data file.
    const moved = { ...ext, external: { ...e, tensors: e.tensors.map((t, i) => (i === 1 ? { ...t, offset: t.offset + 4096 } : t)) } };
    expect(checkOnnx(moved).map((d) => d.message)).toEqual([expect.stringMatching(/^initializer ".*" points at .*"offset":"\d+".*, but the data file has it at offset \d+, length \d+ of m\.onnx\.data$/)]);

    // `never` over the threshold: refused, naming --external-data; `auto` under it: inline.
    expect(() => exportOnnxModel(g, undefined, { externalData: 'never', externalAbove: 1000 })).toThrow(/an ONNX file holds at most 2 GiB inline.*--external-data/);
    expect(exportOnnxModel(g, undefined, { externalData: 'auto', externalAbove: 2 ** 30 }).external).toBeNull();
    for (const bad of ['', '.', '..', 'a/b.data', 'a\\b.data', '../x.data']) {
      expect(() => exportOnnxModel(g, undefined, { externalData: 'always', location: bad }), JSON.stringify(bad)).toThrow(/must be a plain file name/);
    }
  });

  it('lowers every block type: none is refused (the diffusers graph the export used to refuse now exports and runs)', async () => {
    expect(Object.keys(LOWERINGS).sort()).toEqual([...BLOCK_TYPES].sort());
    for (const t of BLOCK_TYPES) expect(loweringOf(t), t).toBeDefined();
    const g = diffusersUNet2D({ block_out_channels: [32, 64], down_block_types: ['DownBlock2D', 'AttnDownBlock2D'], up_block_types: ['AttnUpBlock2D', 'UpBlock2D'], layers_per_block: 1, sample_size: 8 });
    const files = exportOnnx(g);
    expect(checkOnnx(files)).toEqual([]);
    const out = await run(files.files[0].bytes!, { x: new ort.Tensor('float32', new Float32Array(2 * 3 * 8 * 8).fill(0.5), [2, 3, 8, 8]), timesteps: new ort.Tensor('float32', new Float32Array([3, 700]), [2]) });
    expect(out.dims).toEqual([2, 3, 8, 8]);
    expect((out.data as Float32Array).every(Number.isFinite)).toBe(true);
  });
});

/**
 * Small configs of every registered template (a missing template id is a compile error): the
 * fixtures' iDDPM and vanilla UNets, UNet2DModel with the learned time embedding, center_input_sample,
 * Mish and resnet resampling, and UNet2DConditionModel with Linear projections (the `diffusers`
 * template builds both), latent-diffusion's text-conditioned UNetModel (SD 2.x code), the empty graph. Each exports with random weights, passes the target's check, and runs.
 */
const readConfig = (path: string): { config?: unknown; kwargs?: unknown; image_size: number } => JSON.parse(readFileSync(path, 'utf8')) as { config?: unknown; kwargs?: unknown; image_size: number };
const SMALL_CONFIGS: Record<TemplateId, readonly (readonly [string, unknown, number | undefined])[]> = {
  iddpm: [['iddpm-small', fixtureConfig('iddpm-small').kwargs, fixtureConfig('iddpm-small').imageSize]],
  vanilla: [['vanilla-small', fixtureConfig('vanilla-small').kwargs, fixtureConfig('vanilla-small').imageSize]],
  diffusers: (['df-learned', 'cond-linear'] as const).map((n) => {
    const c = readConfig(`${DIFFUSERS_DIR}${n}.json`);
    return [n, c.config, c.image_size] as const;
  }),
  ldm: (['ldm-sd2-linear'] as const).map((n) => {
    const c = readConfig(`${LDM_DIR}${n}.json`);
    return [n, c.kwargs, c.image_size] as const;
  }),
  empty: [['empty', {}, 8]],
};

describe('every template exports to ONNX (small configs, random weights)', () => {
  it.each(TEMPLATES.flatMap((t) => SMALL_CONFIGS[t.id].map(([name, kwargs, size]) => [t.id, name, t, kwargs, size] as const)))('%s %s', async (_id, _name, t, kwargs, size) => {
    const g = t.build(kwargs, size);
    const files = exportOnnx(g);
    expect(checkOnnx(files)).toEqual([]);
    const a = analyze(g);
    const feeds: Record<string, ort.Tensor> = {};
    for (const role of files.inputs) {
      const inf = a.order.map((id) => a.info.get(id)!).find((i) => i.def.io === role)!;
      const dims = [2, ...inf.out!.dims];
      const n = dims.reduce((p, q) => p * q, 1);
      if (role === 'timesteps') feeds[role] = new ort.Tensor('float32', new Float32Array([5, 900]), [2]);
      else if (role === 'y') feeds[role] = new ort.Tensor('int64', new BigInt64Array([0n, 1n]), [2]);
      else feeds[role] = new ort.Tensor('float32', Float32Array.from({ length: n }, (_, i) => Math.sin(i)), dims);
    }
    const out = await run(files.files[0].bytes!, feeds);
    const want = a.info.get(a.order.find((id) => a.info.get(id)!.def.io === 'output')!)!.out!.dims;
    expect(out.dims).toEqual([2, ...want]);
    expect((out.data as Float32Array).every(Number.isFinite)).toBe(true);
  });
});

describe('hostile names on the new blocks', () => {
  // One node of every type in the graph gets a hostile name; the weights follow by position.
  const HOSTILE = ['q"uote', "it's", '*/ x /*', '//slash', 'line\nbreak', 'x', 'out', 'context', 'timesteps', '/conv_in/Conv_output', '"); print(1) #', '😀', '.', '\\u0022', 'tab\there', '<!-- -->', '${x}', '`rm -rf`', 'a.b', '\u0000nul'];
  it.each([
    ['cond-conv', `${DIFFUSERS_DIR}cond-conv`],
    ['df-learned', `${DIFFUSERS_DIR}df-learned`],
  ])('%s: a valid model with the reference numbers', async (name, base) => {
    const c = readConfig(`${base}.json`);
    const graph = withTokens(diffusersUNet(c.config, c.image_size), name === 'cond-conv' ? 8 : null);
    const firstOfType = new Map<string, string>();
    for (const n of graph.nodes) if (!firstOfType.has(n.type)) firstOfType.set(n.type, n.id);
    const renamedIds = [...firstOfType.values()];
    expect(renamedIds.length).toBeLessThanOrEqual(HOSTILE.length);
    const nodes = graph.nodes.map((n) => {
      const i = renamedIds.indexOf(n.id);
      return i < 0 ? n : { ...n, name: HOSTILE[i] };
    });
    const hostile: Graph = { ...graph, name: `${name} "graph" */ --`, nodes, groups: [] };
    const before = expectedWeights(analyze(graph));
    const after = expectedWeights(analyze(hostile));
    expect(after.length).toBe(before.length);
    const file = readSafetensors(`${base}.safetensors`);
    const tensors = new Map(after.map((w, i) => [w.fullKey, file.tensors.get(before[i].fullKey)!]));
    const files = exportOnnx(hostile, { metadata: {}, tensors });
    expect(checkOnnx(files)).toEqual([]);
    const feeds: Record<string, ort.Tensor> = {};
    for (const role of files.inputs) feeds[role] = f32(file.tensors.get(`io.${role}`)!);
    const out = await run(files.files[0].bytes!, feeds);
    const ref = toFloat32(file.tensors.get('io.out')!);
    const cl = closeness(out.data as Float32Array, ref, 1e-4, 1e-4);
    expect(cl.ok, JSON.stringify(cl)).toBe(true);
    const m = decodeModel(files.files[0].bytes!) as { graph: { name: string; initializer: { name: string }[] } };
    expect(m.graph.name).toBe(`${name} "graph" */ --`);
    const keys = m.graph.initializer.map((i) => i.name);
    // Hostile names own weights of the new blocks (the transformer, the resnets, the time embedding, ...).
    const owners = nodes.filter((n) => renamedIds.includes(n.id) && keys.some((k) => k.startsWith(`${n.name}.`))).map((n) => n.type);
    console.log(`${name}: hostile-named weight owners ${owners.join(', ')}`);
    expect(owners).toEqual(expect.arrayContaining(name === 'cond-conv' ? ['Transformer2DModel', 'ResnetBlock2D', 'DiffusersTimestepEmbedding', 'Downsample2D'] : ['LearnedTimesteps', 'Attention', 'ResnetBlock2D']));
  });
});
