/**
 * The `diffusers` template against the real diffusers `UNet2DModel` (test/reference/diffusers, made by
 * make_reference.py with diffusers' own source and Debian's PyTorch): the published DDPM configs give
 * diffusers' exact parameters and state_dict, the small cases match its output on cpu (legacy
 * attention names included), unsupported values are refused by name, and the PyTorch export of such
 * a graph loads the reference weights strictly and computes diffusers' output.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { analyze, countParameters, nodeWeights } from '../graph/analyze';
import { expectedWeights } from '../graph/weights';
import type { Graph } from '../graph/model';
import { DDPM_CELEBAHQ_256, DDPM_CIFAR10_32, diffusersUNet2D, templateById, TemplateError } from '../graph/templates';
import { planGraph, runGraph } from '../runtime/interpreter';
import { disposeWeights, loadWeights } from '../runtime/weights';
import { useBackend, type NodeBackend } from '../runtime/backend-node';
import { generatePytorchModel } from '../codegen/targets/pytorch/model';
import { generateModule } from '../codegen/targets/tfjs/generate';
import { readSources } from '../codegen/targets/tfjs/sources-node';
import { typecheckModule } from '../codegen/targets/tfjs/typecheck';
import { loadModule } from '../runtime/evaluate';
import { randomWeights } from '../runtime/weights';
import { legacyKeyRenames } from '../weights/legacy';
import { toFloat32 } from '../weights/safetensors';
import { readSafetensors } from './util';
import { againstReference, caseInputs, DIFFUSERS_CASES as CASES, DIFFUSERS_DIR as DIR, DIFFUSERS_UNSUPPORTED as UNSUPPORTED, expectMatches, runDiffusersCase, weightsOnly } from './diffusers-cases';

interface Published {
  readonly name: string;
  readonly hub_config: Record<string, unknown>;
  readonly num_parameters: number;
  readonly num_state_dict_tensors: number;
  readonly state_dict_sha256: string;
  readonly state_dict_sha256_legacy_attention_names: string;
}

const published = (JSON.parse(readFileSync(`${DIR}published-configs.json`, 'utf8')) as { configs: Published[] }).configs;

/** `key:shape` lines in the graph's node order, which the template makes PyTorch's registration order. */
function listing(graph: Graph): string[] {
  const a = analyze(graph);
  const lines: string[] = [];
  for (const n of graph.nodes) for (const w of nodeWeights(a.info.get(n.id)!)) lines.push(`${n.name}.${w.key}:${w.shape.join('x')}\n`);
  return lines;
}
const sha = (lines: readonly string[]) => createHash('sha256').update(lines.join('')).digest('hex');
const legacyName = (line: string) => line.replace(/\.to_q\./, '.query.').replace(/\.to_k\./, '.key.').replace(/\.to_v\./, '.value.').replace(/\.to_out\.0\./, '.proj_attn.');

describe('the reference data is there', () => {
  it('published configs and parity cases (a folder without them fails here)', () => {
    expect(published.map((c) => c.name)).toEqual(expect.arrayContaining(['google/ddpm-cifar10-32', 'google/ddpm-celebahq-256']));
    expect(CASES.length).toBeGreaterThanOrEqual(6);
    expect(CASES.map((c) => c.name)).toContain('df-ddpm-legacy-names');
  });
});

describe('published diffusers configs: exact parameters and state_dict', () => {
  it('the issue\'s numbers: google/ddpm-cifar10-32 has 35,746,307 parameters, ddpm-celebahq-256 113,673,219', () => {
    expect(countParameters(analyze(diffusersUNet2D(DDPM_CIFAR10_32)))).toBe(35_746_307);
    expect(countParameters(analyze(diffusersUNet2D(DDPM_CELEBAHQ_256)))).toBe(113_673_219);
  });

  for (const c of published) {
    it(`${c.name}: ${c.num_parameters.toLocaleString('en-US')} parameters, ${c.num_state_dict_tensors} tensors in state_dict order (modern and legacy names)`, () => {
      const graph = diffusersUNet2D(c.hub_config);
      const a = analyze(graph);
      expect(a.problems.filter((p) => p.severity === 'error')).toEqual([]);
      expect(countParameters(a)).toBe(c.num_parameters);
      const lines = listing(graph);
      expect(lines.length).toBe(c.num_state_dict_tensors);
      expect(sha(lines)).toBe(c.state_dict_sha256);
      expect(sha(lines.map(legacyName))).toBe(c.state_dict_sha256_legacy_attention_names);
    });
  }

  it('the presets are the Hub configs of the reference (less _diffusers_version)', () => {
    const hub = (name: string) => {
      const { _diffusers_version: _v, ...rest } = published.find((p) => p.name === name)!.hub_config;
      return rest;
    };
    expect(DDPM_CIFAR10_32).toEqual(hub('google/ddpm-cifar10-32'));
    expect(DDPM_CELEBAHQ_256).toEqual(hub('google/ddpm-celebahq-256'));
  });

  it('every parity case has the reference\'s structure too', () => {
    for (const c of CASES.filter((cc) => !(cc.name in UNSUPPORTED))) {
      const graph = diffusersUNet2D(c.config, c.image_size);
      expect(countParameters(analyze(graph)), c.name).toBe(c.num_parameters);
      const lines = listing(graph);
      expect(lines.length, c.name).toBe(c.num_state_dict_tensors);
      // The legacy case's listing is of its legacy names.
      expect(sha(c.name.endsWith('legacy-names') ? lines.map(legacyName) : lines), c.name).toBe(c.state_dict_sha256);
    }
  });
});

/**
 * The same cases and the same runner on each backend, one after the other in this file (tfjs's backend
 * is global to the process), as test/parity.test.ts does for the shared fixtures; webgpu is in
 * test/webgpu.test.ts, the file that brings up Dawn and SwiftShader.
 */
for (const backend of ['cpu', 'wasm'] as const satisfies readonly NodeBackend[]) {
  describe(`diffusers UNet2DModel matches the real code on ${backend} (1e-4 + 1e-4·|ref|)`, () => {
    beforeAll(async () => {
      await useBackend(backend);
    });
    afterAll(() => {
      expect(tf.getBackend()).toBe(backend);
    });

    for (const c of CASES) {
      if (c.name in UNSUPPORTED) {
        // A refusal does not depend on the backend: checked once.
        if (backend !== 'cpu') continue;
        it(`${c.name}: refused with one error naming ${UNSUPPORTED[c.name].join(', ')}`, () => {
          expect(() => diffusersUNet2D(c.config, c.image_size)).toThrow(TemplateError);
          let message = '';
          try {
            diffusersUNet2D(c.config, c.image_size);
          } catch (e) {
            message = (e as Error).message;
          }
          for (const key of UNSUPPORTED[c.name]) expect(message).toMatch(new RegExp(`\\n  ${key}: .*is not supported`));
        });
        continue;
      }
      it(c.name, async () => {
        expectMatches(await runDiffusersCase(c), 1e-4, 1e-4);
      });
    }
  });
}

describe('legacy attention names', () => {
  it('legacyKeyRenames maps query/key/value/proj_attn to to_q/to_k/to_v/to_out.0 only where the graph wants them', () => {
    const expected = ['a.attentions.0.to_q.weight', 'a.attentions.0.to_q.bias', 'a.attentions.0.to_out.0.weight', 'b.key.weight', 'c.to_k.weight'];
    const file = ['a.attentions.0.query.weight', 'a.attentions.0.query.bias', 'a.attentions.0.proj_attn.weight', 'b.key.weight', 'c.to_k.weight', 'c.key.weight', 'd.value.weight'];
    expect([...legacyKeyRenames(expected, file)]).toEqual([
      ['a.attentions.0.query.weight', 'a.attentions.0.to_q.weight'],
      ['a.attentions.0.query.bias', 'a.attentions.0.to_q.bias'],
      ['a.attentions.0.proj_attn.weight', 'a.attentions.0.to_out.0.weight'],
    ]);
    // b.key.weight is itself expected; c has both names (the old one stays unexpected); d is not wanted.
    expect(legacyKeyRenames(['x.weight'], ['x.weight']).size).toBe(0);
  });

  it('a legacy checkpoint loads strictly (its old names consumed), a mixed one still fails by name', () => {
    const c = CASES.find((cc) => cc.name === 'df-ddpm-legacy-names')!;
    const file = weightsOnly(readSafetensors(`${DIR}${c.name}.safetensors`));
    expect([...file.tensors.keys()].some((k) => k.endsWith('.proj_attn.weight'))).toBe(true);
    const plan = planGraph(diffusersUNet2D(c.config, c.image_size));
    const w = loadWeights(plan, file, 'legacy.safetensors');
    expect([...w.keys()].sort()).toEqual(expectedWeights(plan).map((e) => e.fullKey).sort());
    disposeWeights(w);
    const extra = { metadata: file.metadata, tensors: new Map([...file.tensors, ['mid_block.attentions.0.query.extra', file.tensors.get('conv_in.bias')!]]) };
    expect(() => loadWeights(plan, extra, 'extra.safetensors')).toThrow(/unexpected keys \(1\):\n {4}mid_block\.attentions\.0\.query\.extra/);
  });
});

describe('config.json as the Hub has it', () => {
  const base = DDPM_CIFAR10_32;
  const refusal = (over: Record<string, unknown>): string => {
    try {
      diffusersUNet2D({ ...base, ...over });
    } catch (e) {
      expect(e).toBeInstanceOf(TemplateError);
      return (e as Error).message;
    }
    throw new Error(`accepted ${JSON.stringify(over)}`);
  };

  it.each([
    [{ _class_name: 'UNet2DConditionModel' }, /\n {2}_class_name: "UNet2DConditionModel" is not supported; only UNet2DModel configs are$/],
    [{ down_block_types: ['DownBlock2D', 'SkipDownBlock2D', 'DownBlock2D', 'DownBlock2D'] }, /\n {2}down_block_types\.1: "SkipDownBlock2D" is not supported; supported: DownBlock2D, AttnDownBlock2D, ResnetDownsampleBlock2D$/],
    [{ up_block_types: ['UpBlock2D', 'UpBlock2D', 'AttnSkipUpBlock2D', 'UpBlock2D'] }, /\n {2}up_block_types\.2: "AttnSkipUpBlock2D" is not supported; supported: UpBlock2D, AttnUpBlock2D, ResnetUpsampleBlock2D$/],
    [{ mid_block_type: 'UNetMidBlock2DCrossAttn' }, /\n {2}mid_block_type: "UNetMidBlock2DCrossAttn" is not supported; supported: UNetMidBlock2D$/],
    [{ time_embedding_type: 'fourier' }, /\n {2}time_embedding_type: "fourier" is not supported \(the Fourier time embedding has no block yet\); supported: positional, learned$/],
    [{ time_embedding_type: 'learned' }, /\n {2}num_train_timesteps: is required with time_embedding_type "learned" \(the embedding has one row per training timestep, e\.g\. 1000\)$/],
    [{ time_embedding_type: 'learned', num_train_timesteps: 0 }, /\n {2}num_train_timesteps: must be at least 1$/],
    [{ center_input_sample: 'yes' }, /\n {2}center_input_sample: "yes" is not supported; supported: true, false$/],
    [{ act_fn: 'gelu' }, /\n {2}act_fn: "gelu" is not supported; supported: silu, swish, mish$/],
    [{ resnet_time_scale_shift: 'spatial' }, /\n {2}resnet_time_scale_shift: "spatial" is not supported; supported: default, scale_shift$/],
    [{ class_embed_type: 'timestep' }, /\n {2}class_embed_type: "timestep" is not supported \("timestep" and "identity" .*\); supported: null/],
    [{ class_embed_type: 'identity', num_class_embeds: 4 }, /\n {2}class_embed_type: "identity" is not supported/],
    [{ downsample_type: 'avg' }, /\n {2}downsample_type: "avg" is not supported; supported: conv, resnet$/],
    [{ upsample_type: 'fir' }, /\n {2}upsample_type: "fir" is not supported; supported: conv, resnet$/],
    [{ block_out_channels: [128, 256] }, /\n {2}down_block_types: has 4 entries but block_out_channels has 2; give one per level$/],
    [{ up_block_types: ['UpBlock2D'] }, /\n {2}up_block_types: has 1 entries but down_block_types has 4; give one per level$/],
    [{ norm_eps: 0 }, /\n {2}norm_eps: must be greater than 0$/],
  ])('refuses %j with one message naming the key and the value', (over, message) => {
    expect(refusal(over)).toMatch(message);
    expect(refusal(over).startsWith('UNet2DModel kwargs are invalid:\n')).toBe(true);
  });

  it('ignores _diffusers_version, _name_or_path and unknown keys, with a note in the description', () => {
    const g = diffusersUNet2D({ ...base, _diffusers_version: '0.0.4', _name_or_path: 'google/ddpm-cifar10-32', some_future_key: 1 });
    expect(g.description).toMatch(/; ignored _diffusers_version, _name_or_path \(no effect on the model\); ignored unknown key some_future_key$/);
    expect(g.nodes).toEqual(diffusersUNet2D(base).nodes);
  });

  it('sample_size gives the image size ([h, w] too), --image-size overrides it, and none at all is an error', () => {
    const img = (g: Graph) => g.nodes.find((n) => n.type === 'ImageInput')!.params;
    expect(img(diffusersUNet2D(base))).toEqual({ channels: 3, height: 32, width: 32 });
    expect(img(diffusersUNet2D({ ...base, sample_size: [16, 24] }))).toEqual({ channels: 3, height: 16, width: 24 });
    expect(img(diffusersUNet2D(base, 64))).toEqual({ channels: 3, height: 64, width: 64 });
    expect(() => diffusersUNet2D({ ...base, sample_size: null })).toThrow('UNet2DModel: image size missing: put sample_size in the config or pass it (--image-size)');
  });

  it('is registered as "diffusers" with the two UNet2DModel presets and sd15 (a UNet2DConditionModel), and builds through the registry', () => {
    const t = templateById('diffusers')!;
    expect(t.label).toBe('diffusers UNet2DModel');
    expect(t.presets.map((p) => p.name)).toEqual(['google/ddpm-cifar10-32', 'google/ddpm-celebahq-256', 'sd15']);
    expect(t.build(DDPM_CIFAR10_32)).toEqual(diffusersUNet2D(DDPM_CIFAR10_32));
  });

  it('center_input_sample, the learned time embedding and mish: a Rescale (2·x − 1) before conv_in, time_proj an nn.Embedding, mish in every resnet only', () => {
    const g = diffusersUNet2D({ ...base, center_input_sample: true, time_embedding_type: 'learned', num_train_timesteps: 1000, act_fn: 'mish' });
    const byName = new Map(g.nodes.map((n) => [n.name, n]));
    expect(byName.get('center_input_sample')).toMatchObject({ type: 'Rescale', params: { scale: 2, shift: -1 } });
    const conv = byName.get('conv_in')!;
    expect(g.edges.find((e) => e.to.node === conv.id)!.from.node).toBe(byName.get('center_input_sample')!.id);
    expect(byName.get('time_proj')).toMatchObject({ type: 'LearnedTimesteps', params: { num_embeddings: 1000, num_channels: 128 } });
    const resnets = g.nodes.filter((n) => n.type === 'ResnetBlock2D');
    expect(resnets.length).toBeGreaterThan(0);
    expect(resnets.every((n) => n.params.act_fn === 'mish')).toBe(true);
    expect(byName.get('conv_act')!.type).toBe('SiLU');
    expect(byName.get('time_embedding')!.type).toBe('DiffusersTimestepEmbedding'); // its SiLU stays
    // num_train_timesteps is read now, so it is no longer noted as ignored; with "positional" it is.
    expect(g.description).not.toMatch(/num_train_timesteps/);
    expect(diffusersUNet2D({ ...base, num_train_timesteps: 1000 }).description).toMatch(/ignored num_train_timesteps \(no effect on the model\)$/);
    expect(diffusersUNet2D({ ...base, act_fn: 'swish' }).nodes).toEqual(diffusersUNet2D(base).nodes);
  });

  it('names nodes by diffusers\' module paths', () => {
    const names = diffusersUNet2D(base).nodes.map((n) => n.name);
    expect(names.slice(0, 6)).toEqual(['x', 'timesteps', 'conv_in', 'time_proj', 'time_embedding', 'down_blocks.0.resnets.0']);
    expect(names).toEqual(expect.arrayContaining(['down_blocks.1.attentions.1', 'down_blocks.0.downsamplers.0', 'mid_block.attentions.0', 'mid_block.resnets.1', 'up_blocks.2.attentions.2', 'up_blocks.2.upsamplers.0', 'conv_norm_out', 'conv_act', 'conv_out']));
    expect(names.indexOf('mid_block.attentions.0')).toBeGreaterThan(names.indexOf('up_blocks.3.resnets.2'));
  });
});

describe('the PyTorch export of diffusers graphs', () => {
  const PY = '/usr/bin/python3';
  const HARNESS = fileURLToPath(new URL('./pytorch/harness.py', import.meta.url));
  const dir = mkdtempSync(join(tmpdir(), 'diffusers-export-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('model.py compiles, has exactly the reference state_dict (keys, order, shapes), loads it strictly and computes diffusers\' output', () => {
    const cases = CASES.filter((c) => !(c.name in UNSUPPORTED) && !c.name.endsWith('legacy-names'));
    expect(cases.length).toBeGreaterThanOrEqual(4);
    const jobs = cases.map((c) => {
      const graph = diffusersUNet2D(c.config, c.image_size);
      const model = generatePytorchModel(graph);
      const path = join(dir, `${c.name}.py`);
      writeFileSync(path, model.text);
      return {
        id: c.name,
        model: path,
        // In the nodes' order, which is diffusers' registration order (state_dict order).
        expected_keys: listing(graph).map((line) => line.slice(0, line.lastIndexOf(':'))),
        ordered: true,
        state_dict_sha256: c.state_dict_sha256,
        weights: `${DIR}${c.name}.safetensors`,
        io: `${DIR}${c.name}.safetensors`,
        inputs: { x: 'io.x', timesteps: 'io.timesteps', y: 'io.y' },
        out: 'io.out',
        atol: 1e-4,
        rtol: 1e-4,
      };
    });
    writeFileSync(join(dir, 'jobs.json'), JSON.stringify(jobs));
    const all = (JSON.parse(execFileSync(PY, [HARNESS, join(dir, 'jobs.json')], { encoding: 'utf8', maxBuffer: 64 << 20 })) as { results: Record<string, unknown>[] }).results;
    expect(all[all.length - 1]).toEqual({ id: '__pwned', pwned: false }); // the harness's own check: nothing executed
    const results = all.slice(0, -1);
    expect(results.map((r) => r.id)).toEqual(cases.map((c) => c.name));
    for (const r of results) {
      expect(r.error, String(r.id)).toBeUndefined();
      expect(r.keys_equal, `${String(r.id)}: ${JSON.stringify(r.keys_diff)}`).toBe(true);
      expect(r.sha_equal, String(r.id)).toBe(true);
      expect(r.parameter_count_ok, String(r.id)).toBe(true);
      expect(r.shape_equal, String(r.id)).toBe(true);
      expect(r.worst as number, `${String(r.id)}: max |d| ${String(r.max_abs)}`).toBeLessThanOrEqual(1);
    }
  }, 120_000);
});

describe('the tfjs export of a diffusers graph', () => {
  it.each([
    ['df-openai', 'attention without group norm, resnet up/down, scale-shift, classes', ['x', 'timesteps', 'y']],
    ['df-learned', 'center_input_sample, learned time embedding, mish', ['x', 'timesteps']],
  ])('%s (%s): type-checks strictly and equals the interpreter bit for bit', async (name, _covers, inputs) => {
    await useBackend('cpu');
    const c = CASES.find((cc) => cc.name === name)!;
    const graph = diffusersUNet2D(c.config, c.image_size);
    const mod = generateModule(graph, readSources());
    expect(typecheckModule(mod.text)).toEqual([]);
    expect(mod.inputs).toEqual(inputs);
    if (name === 'df-learned') expect(mod.text).toMatch(/function mish</);
    const model = loadModule(mod.text, mod.className).random(3);
    const byRole: Record<string, tf.Tensor> = {
      x: tf.randomNormal([2, c.image_size, c.image_size, 3], 0, 1, 'float32', 1),
      timesteps: tf.tensor1d([3, 700]),
      y: tf.tensor1d([1, 7]),
    };
    const got = model.forward(...mod.inputs.map((r) => byRole[r]));
    const plan = planGraph(graph);
    const w = randomWeights(plan, 3);
    const want = runGraph(plan, w, byRole).out;
    expect(Array.from(await got.data())).toEqual(Array.from(await want.data()));
    tf.dispose([got, want, ...Object.values(byRole)]);
    disposeWeights(w);
    model.dispose();
  }, 60_000);

  it.each(['df-openai', 'df-learned'])(
    '%s on wasm: the module with the reference weights matches diffusers (1e-4 + 1e-4·|ref|) and the interpreter bit for bit',
    async (name) => {
      await useBackend('wasm');
      const c = CASES.find((cc) => cc.name === name)!;
      const mod = generateModule(diffusersUNet2D(c.config, c.image_size), readSources());
      const file = readSafetensors(`${DIR}${c.name}.safetensors`);
      const given: Record<string, tf.Tensor> = {};
      for (const [key, t] of weightsOnly(file).tensors) given[key] = tf.tensor(toFloat32(t), [...t.shape], 'float32');
      const model = loadModule(mod.text, mod.className).fromTensors(given, `${c.name}.safetensors`);
      tf.dispose(Object.values(given));
      const byRole = caseInputs(file);
      const out = model.forward(...mod.inputs.map((r) => byRole[r]));
      const got = await againstReference(out, file);
      tf.dispose([out, ...Object.values(byRole)]);
      model.dispose();
      expect(tf.getBackend()).toBe('wasm');
      expectMatches(got, 1e-4, 1e-4);
      expect(Array.from(got.got)).toEqual(Array.from((await runDiffusersCase(c)).got));
    },
    60_000,
  );
});
