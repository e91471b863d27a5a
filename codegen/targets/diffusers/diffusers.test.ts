/**
 * The diffusers target: import a config → graph → export gives diffusers' own config.json text and
 * the same tensors, byte for byte; graphs diffusers cannot express are refused naming the node.
 * References: the parity cases' `config_json` (diffusers' `to_json_string`) and state_dict tensors
 * (test/reference/diffusers, made by the real UNet2DModel), and Python's own json / float repr /
 * numpy float16 for the published configs and the number formatting.
 */
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { targetById, type ExportFiles } from '..';
import { NODE_ENV } from '../env-node';
import { checkExportPaths } from '../types';
import { CodegenError } from '../../errors';
import { diffusersUNet2D } from '../../../graph/templates';
import { DiffusersConfigError, diffusersConfigFromGraph } from '../../../graph/templates/diffusers-config';
import type { Graph, GraphNode } from '../../../graph/model';
import { parseDocument, serializeDocument } from '../../../graph/document';
import { GOLDEN } from '../../../test/golden/graphs';
import { PYTHON } from '../../../test/python';
import { parseSafetensors, parseSafetensorsHeader, writeSafetensors, type SafetensorsFile } from '../../../weights/safetensors';
import { configJson, pythonFloat } from './config-json';

const DIR = fileURLToPath(new URL('../../../test/reference/diffusers/', import.meta.url));
const target = targetById('diffusers')!;

interface Case {
  readonly name: string;
  readonly config_json: string;
}
const CASES: readonly Case[] = readdirSync(DIR)
  .filter((f) => /^df-.*\.json$/.test(f))
  .sort()
  .map((f) => JSON.parse(readFileSync(`${DIR}${f}`, 'utf8')) as Case);
/** Cases the diffusers template cannot import (test/diffusers.test.ts checks its error): nothing to export. */
const EXPORTABLE = CASES;

const LEGACY: Readonly<Record<string, string>> = { query: 'to_q', key: 'to_k', value: 'to_v', proj_attn: 'to_out.0' };
const modernName = (k: string) => k.replace(/\.(query|key|value|proj_attn)\.(weight|bias)$/, (_, n: string, kind: string) => `.${LEGACY[n]}.${kind}`);

interface Raw {
  readonly dtype: string;
  readonly shape: readonly number[];
  readonly bytes: Uint8Array;
}
/** Every tensor's raw bytes as the file holds them, from the header's offsets (no decoding). */
function rawTensors(file: Uint8Array): Map<string, Raw> {
  const h = parseSafetensorsHeader(file.length, (o, l) => file.subarray(o, o + l));
  return new Map(h.entries.map((e) => [e.name, { dtype: e.dtype, shape: e.shape, bytes: file.subarray(h.dataStart + e.begin, h.dataStart + e.end) }]));
}

/** A case's state_dict (its file without the io.* tensors). */
function stateDict(name: string): { file: SafetensorsFile; raw: Map<string, Raw> } {
  const bytes = new Uint8Array(readFileSync(`${DIR}${name}.safetensors`));
  const all = parseSafetensors(bytes, { source: name });
  const keep = (k: string) => !k.startsWith('io.');
  return {
    file: { tensors: new Map([...all.tensors].filter(([k]) => keep(k))), metadata: {} },
    raw: new Map([...rawTensors(bytes)].filter(([k]) => keep(k))),
  };
}

const fileOf = (out: ExportFiles, path: string) => out.files.find((f) => f.path === path);

/**
 * df-learned spells two keys that leave no trace in the graph differently from the canonical form
 * the export writes (`downsample_type`, whose only attention level has no downsampler, and the last
 * up block's type, which has no upsampler): the config it exports builds the same UNet2DModel.
 * Every other case comes back byte for byte.
 */
const NOT_CANONICAL = new Set(['df-learned']);
function expectSameConfig(name: string, got: string, want: string): void {
  if (!NOT_CANONICAL.has(name)) {
    expect(got, name).toBe(want);
    return;
  }
  const structure = (text: string) => {
    const g = diffusersUNet2D(JSON.parse(text));
    return JSON.stringify({ nodes: g.nodes, edges: g.edges });
  };
  expect(structure(got), name).toBe(structure(want));
  const a = JSON.parse(got) as Record<string, unknown>;
  const b = JSON.parse(want) as Record<string, unknown>;
  expect(Object.keys(a)).toEqual(Object.keys(b));
  expect(Object.keys(b).filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]))).toEqual(['downsample_type', 'up_block_types']);
}

/** What Python itself writes for the published configs, the floats and float16 (one process). */
const PY = (() => {
  const floats = [0, 0.1, 1e-5, 1e-6, 1e-4, 0.0001234, 1.5, 2, 100, 1e15, 1e16, 1.2345e16, 1e-7, 123456.789, -0.5, 1 / 3, 5e-324, 1.7976931348623157e308, 0.3];
  const f16 = [0, 1, -2.5, 65504, 65520, 6.103515625e-5, 5.960464477539063e-8, 2.9802322387695312e-8, 8.940696716308594e-8, 1e-3, 0.1, 3.140625, 1 + 2 ** -10, 1 + 2 ** -11, Infinity, -Infinity].map(Math.fround);
  const script = `
import json, sys
import numpy as np
d = json.load(sys.stdin)
pub = json.load(open(d["published"]))
out = {
  "published": [[c["name"], c["hub_config"], json.dumps(c["config_as_saved_now"], indent=2, sort_keys=True) + "\\n"] for c in pub["configs"]],
  "floats": [repr(float(v)) for v in d["floats"]],
  "f16": [],
}
for v in d["f16"]:
    v = float(v) if not isinstance(v, str) else float(v)
    h = np.array([v], dtype=np.float32).astype(np.float16)
    exact = float(h[0]) == v
    out["f16"].append([int(h.view(np.uint16)[0]), bool(exact)])
print(json.dumps(out))
`;
  const input = JSON.stringify({ published: `${DIR}published-configs.json`, floats, f16: f16.map((v) => (Number.isFinite(v) ? v : v > 0 ? 'inf' : '-inf')) });
  const res = JSON.parse(execFileSync(PYTHON, ['-c', script], { input, encoding: 'utf8' })) as {
    published: [string, unknown, string][];
    floats: string[];
    f16: [number, boolean][];
  };
  return { ...res, floatValues: floats, f16Values: f16 };
})();

describe('config.json as diffusers writes it', () => {
  it("numbers as Python's repr prints them", () => {
    expect(PY.floatValues.map(pythonFloat)).toEqual(PY.floats);
  });

  it('every parity case: import its config_json, export: the same text, byte for byte (diffusers 0.40 writes it; _diffusers_version included), or for df-learned the same model', () => {
    expect(EXPORTABLE.map((c) => c.name)).toEqual(['df-ddpm-legacy-names', 'df-ddpm', 'df-iddpm', 'df-learned', 'df-noattn', 'df-nomid', 'df-openai']);
    for (const c of EXPORTABLE) {
      const g = diffusersUNet2D(JSON.parse(c.config_json));
      expectSameConfig(c.name, configJson(diffusersConfigFromGraph(g)), c.config_json);
    }
  });

  it('the published DDPM configs (old Hub files, fewer keys): export = what save_config writes for them today', () => {
    expect(PY.published.map(([n]) => n)).toContain('google/ddpm-cifar10-32');
    expect(PY.published.map(([n]) => n)).toContain('google/ddpm-celebahq-256');
    for (const [name, hub, text] of PY.published) {
      expect(configJson(diffusersConfigFromGraph(diffusersUNet2D(hub))), name).toBe(text);
    }
  });

});

describe('export diffusers through the seam', () => {
  for (const c of EXPORTABLE) {
    it(`${c.name}: config.json and diffusion_pytorch_model.safetensors: every tensor byte-identical under today's names, deterministic`, async () => {
      const { file, raw } = stateDict(c.name);
      const g = diffusersUNet2D(JSON.parse(c.config_json));
      const out = await target.generate(g, NODE_ENV, { weights: file });
      checkExportPaths(out);
      expect(out.files.map((f) => f.path)).toEqual(['config.json', 'diffusion_pytorch_model.safetensors']);
      expect(out.main).toBe('config.json');
      expect(out.className).toBe('UNet2DModel');
      expectSameConfig(c.name, fileOf(out, 'config.json')!.text, c.config_json);
      const bytes = fileOf(out, 'diffusion_pytorch_model.safetensors')!.bytes!;
      const got = rawTensors(bytes);
      const want = new Map([...raw].map(([k, v]) => [modernName(k), v]));
      if (c.name.endsWith('legacy-names')) expect([...raw.keys()].filter((k) => /\.(query|key|value|proj_attn)\./.test(k)).length).toBe(32);
      expect([...got.keys()]).toEqual([...want.keys()].sort());
      for (const [k, w] of want) {
        const t = got.get(k)!;
        expect([t.dtype, t.shape], k).toEqual([w.dtype, w.shape]);
        expect(Buffer.compare(Buffer.from(t.bytes), Buffer.from(w.bytes)), k).toBe(0);
      }
      expect(parseSafetensors(bytes).metadata).toEqual({ format: 'pt' });
      const again = await target.generate(parseDocument(serializeDocument(g)).graph, NODE_ENV, { weights: file });
      expect(Buffer.compare(Buffer.from(fileOf(again, 'diffusion_pytorch_model.safetensors')!.bytes!), Buffer.from(bytes))).toBe(0);
      expect(await target.check(out, NODE_ENV)).toEqual([]);
    });
  }

  it('without weights: config.json only (what the code panel shows)', async () => {
    const c = EXPORTABLE[0];
    const out = await target.generate(diffusersUNet2D(JSON.parse(c.config_json)), NODE_ENV);
    expect(out.files).toEqual([{ path: 'config.json', text: c.config_json }]);
    expect(out.inputs).toEqual(['x', 'timesteps']);
    expect((await target.generate(diffusersUNet2D(JSON.parse(EXPORTABLE.find((cc) => cc.name === 'df-openai')!.config_json)), NODE_ENV)).inputs).toEqual(['x', 'timesteps', 'y']);
  });

  it('weights that do not fit the graph: WeightLoadError naming the keys; a half-legacy file stays strict', async () => {
    const ddpm = diffusersUNet2D(JSON.parse(EXPORTABLE.find((c) => c.name === 'df-ddpm')!.config_json));
    const { file } = stateDict('df-openai');
    await expect(Promise.resolve(target.generate(ddpm, NODE_ENV, { weights: file }))).rejects.toThrow(/the weights does not match the graph:[\s\S]*missing keys[\s\S]*unexpected keys[\s\S]*class_embedding\.weight/);
    const legacy = stateDict('df-ddpm-legacy-names').file;
    const tensors = new Map(legacy.tensors);
    const q = tensors.get('mid_block.attentions.0.query.weight')!;
    tensors.set('mid_block.attentions.0.to_q.weight', q); // both names: the old one is not renamed, so it is unexpected
    await expect(Promise.resolve(target.generate(ddpm, NODE_ENV, { weights: { tensors, metadata: {} } }))).rejects.toThrow(/unexpected keys \(1\):\n {4}mid_block\.attentions\.0\.query\.weight/);
  });

  it('F16 and BF16 weights are written back in their dtype, byte for byte (float16 bits as numpy makes them)', async () => {
    const g = diffusersUNet2D(JSON.parse(EXPORTABLE.find((c) => c.name === 'df-nomid')!.config_json));
    const { file } = stateDict('df-nomid');
    // Values both formats hold exactly: multiples of 1/64 in [-2, 2).
    const tensors: Record<string, { dtype: 'F16' | 'BF16'; shape: readonly number[]; data: Float32Array }> = {};
    let i = 0;
    for (const [k, t] of file.tensors) {
      tensors[k] = { dtype: i++ % 2 === 0 ? 'F16' : 'BF16', shape: t.shape, data: Float32Array.from(t.data as Float32Array, (_, j) => ((j * 37 + i) % 256) / 64 - 2) };
    }
    const input = writeSafetensors(tensors);
    const out = await target.generate(g, NODE_ENV, { weights: parseSafetensors(input) });
    const got = rawTensors(fileOf(out, 'diffusion_pytorch_model.safetensors')!.bytes!);
    const want = rawTensors(input);
    expect(got.size).toBe(want.size);
    for (const [k, w] of want) {
      expect(got.get(k)!.dtype, k).toBe(w.dtype);
      expect(Buffer.compare(Buffer.from(got.get(k)!.bytes), Buffer.from(w.bytes)), k).toBe(0);
    }
    // The F16 encoder against numpy: exact values give numpy's bits, inexact ones are refused by name.
    PY.f16Values.forEach((v, j) => {
      const [bits, exact] = PY.f16[j];
      const write = () => writeSafetensors({ t: { dtype: 'F16', shape: [1], data: new Float32Array([v]) } });
      if (exact) expect(new DataView(write().buffer).getUint16(write().length - 2, true), String(v)).toBe(bits);
      else expect(write, String(v)).toThrow(/tensor "t": value .* at index 0 cannot be stored as F16/);
    });
    expect(() => writeSafetensors({ t: { dtype: 'BF16', shape: [1], data: [0.1] } })).toThrow(/cannot be stored as BF16/);
  });
});

describe('graphs diffusers cannot express', () => {
  const base = () => diffusersUNet2D(JSON.parse(EXPORTABLE.find((c) => c.name === 'df-ddpm')!.config_json));
  const edit = (g: Graph, name: string, f: (n: GraphNode) => GraphNode): Graph => ({ ...g, nodes: g.nodes.map((n) => (n.name === name ? f(n) : n)) });
  const refusal = async (g: Graph): Promise<Error> => {
    const e = await Promise.resolve()
      .then(() => target.generate(g, NODE_ENV))
      .then(
        () => null,
        (err: unknown) => err,
      );
    expect(e).toBeInstanceOf(CodegenError);
    return e as Error;
  };

  it('a changed parameter of one block: the error names that block, the parameter and both values', async () => {
    const g = edit(base(), 'down_blocks.1.resnets.0', (n) => ({ ...n, params: { ...n.params, eps: 1e-3 } }));
    expect((await refusal(g)).message).toBe(
      'diffusers\' UNet2DModel cannot express this graph: ResnetBlock2D "down_blocks.1.resnets.0": eps is 0.001, but UNet2DModel(block_out_channels=[32,32], layers_per_block=1, down_block_types=["DownBlock2D","AttnDownBlock2D"]) has 0.000001 there',
    );
    const noNorm = edit(base(), 'up_blocks.0.attentions.1', (n) => ({ ...n, params: { ...n.params, group_norm: false } }));
    expect((await refusal(noNorm)).message).toMatch(/^diffusers' UNet2DModel cannot express this graph: Attention "up_blocks\.0\.attentions\.1": group_norm is false, but .* has true there$/);
  });

  it('an added block names the block; a rewired edge names the block whose input moved; a renamed one says what is missing', async () => {
    const g = base();
    const out = g.nodes.find((n) => n.name === 'output')!;
    const convOut = g.nodes.find((n) => n.name === 'conv_out')!;
    const added: Graph = {
      ...g,
      nodes: [...g.nodes, { id: 'extra', name: 'my_silu', type: 'SiLU', params: {} }],
      edges: [...g.edges.filter((e) => e.to.node !== out.id), { id: 'x1', from: { node: convOut.id, port: 'out' }, to: { node: 'extra', port: 'x' } }, { id: 'x2', from: { node: 'extra', port: 'out' }, to: { node: out.id, port: 'x' } }],
    };
    expect((await refusal(added)).message).toBe('diffusers\' UNet2DModel cannot express this graph: SiLU "my_silu": UNet2DModel has no such module (remove the block, or export to another target)');

    // One resnet's time embedding taken before the MLP (a valid graph: its time_emb_proj just gets narrower).
    const proj = g.nodes.find((n) => n.name === 'time_proj')!;
    const r1 = g.nodes.find((n) => n.name === 'down_blocks.1.resnets.0')!;
    const rewired: Graph = { ...g, edges: g.edges.map((e) => (e.to.node === r1.id && e.to.port === 'emb' ? { ...e, from: { node: proj.id, port: 'out' } } : e)) };
    expect((await refusal(rewired)).message).toBe(
      'diffusers\' UNet2DModel cannot express this graph: ResnetBlock2D "down_blocks.1.resnets.0": its input "emb" comes from "time_proj", but in UNet2DModel from "time_embedding"',
    );

    const renamed = edit(g, 'mid_block.resnets.1', (n) => ({ ...n, name: 'mid_block.resnets.9' }));
    const e = await refusal(renamed);
    expect(e.message).toMatch(/ResnetBlock2D "mid_block\.resnets\.9": UNet2DModel has no module of that name, and the graph lacks "mid_block\.resnets\.1" \(ResnetBlock2D\), .* was it renamed\?$/);
  });

  it('a graph of another family names the module it lacks; the config error carries the node', async () => {
    expect((await refusal(GOLDEN['vanilla-small']())).message).toMatch(/^the graph has no node "conv_in", which every UNet2DModel has/);
    const g = edit(base(), 'down_blocks.1.resnets.0', (n) => ({ ...n, params: { ...n.params, dropout: 0.5 } }));
    let caught: unknown;
    try {
      diffusersConfigFromGraph(g);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(DiffusersConfigError);
    expect((caught as DiffusersConfigError).node).toBe('down_blocks.1.resnets.0');
  });

  it('an invalid graph is refused with its problems before anything else', async () => {
    const g = edit(base(), 'conv_in', (n) => ({ ...n, params: { ...n.params, out_channels: 48 } }));
    expect((await refusal(g)).message).toMatch(/^graph "diffusers-unet2d-32ch-16x16" is not valid, so nothing was exported:\n {2}/);
  });
});
