/**
 * The grouped PyTorch export (issue 12): a group that is a module path becomes an nn.Module class
 * (one per structure, instantiated per group), called per instance, while `state_dict()` keeps the
 * flat export's keys, order and shapes. Every template, grouped and without groups, run by Debian's
 * PyTorch in one process (groups_harness.py): same keys, same fresh weights, bit-equal outputs and
 * gradients; the reference weights load strictly and reproduce PyTorch's outputs; both pass pyflakes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GraphBuilder } from '../../graph/builder';
import { analyze, nodeWeights } from '../../graph/analyze';
import { withoutGroups } from '../../graph/groups';
import type { Graph } from '../../graph/model';
import { withImageSize } from '../../graph/edit';
import { iddpm, IDDPM_DEFAULTS, IDDPM_PRESETS, vanilla } from '../../graph/templates';
import { DDPM_CIFAR10_32, diffusersUNet2D } from '../../graph/templates/diffusers';
import { generatePytorchModel } from '../../codegen/targets/pytorch/model';
import { FIXTURES, REFERENCE, readSafetensors } from '../util';
import { fixtureGraph } from '../fixture-run';
import { jobResult, pythonCheck, runHarness } from '../python';

const HARNESS = fileURLToPath(new URL('./groups_harness.py', import.meta.url));
const DIFFUSERS_REFERENCE = fileURLToPath(new URL('../reference/diffusers/', import.meta.url));

interface Job {
  readonly id: string;
  readonly grouped: string;
  readonly flat: string;
  readonly plain?: string;
  readonly expected_keys: readonly string[];
  readonly weights?: string;
  readonly io?: string;
  readonly inputs?: Readonly<Record<string, string>>;
  readonly out?: string;
  readonly atol?: number;
  readonly rtol?: number;
  /** Also compare one training step's gradients (the small graphs). */
  readonly train?: boolean;
}

interface Result {
  readonly id: string;
  readonly error?: string;
  readonly same_structure?: boolean;
  readonly keys?: string[];
  readonly keys_equal?: boolean;
  readonly shapes_equal?: boolean;
  readonly init_equal?: boolean;
  readonly groups?: Record<string, string>;
  readonly flat_has_groups?: boolean;
  readonly bit_equal?: boolean;
  readonly max_abs_diff?: number;
  readonly max_out?: number;
  readonly out_shape?: number[];
  readonly grads_equal?: boolean;
  /** Parameters without a gradient after the training step. */
  readonly no_grad?: string[];
  readonly ref_worst?: number;
  readonly ref_max_abs?: number;
  readonly pwned?: boolean;
  readonly seconds?: number;
}

const dir = mkdtempSync(join(tmpdir(), 'pytorch-groups-'));
const jobs: Job[] = [];
const texts = new Map<string, { grouped: string; flat: string }>();
let results = new Map<string, Result>();
let pyflakes = { status: -1, output: '' };

/** state_dict keys in document order (PyTorch's registration order for the templates). */
function documentKeys(graph: Graph): string[] {
  const a = analyze(graph);
  return graph.nodes.flatMap((n) => nodeWeights(a.info.get(n.id)!).map((w) => `${n.name}.${w.key}`));
}

function addJob(id: string, graph: Graph, extra: Partial<Job> = {}): void {
  expect((graph.groups ?? []).length, id).toBeGreaterThan(0);
  const grouped = generatePytorchModel(graph).text;
  const flat = generatePytorchModel(withoutGroups(graph)).text;
  texts.set(id, { grouped, flat });
  writeFileSync(join(dir, `${id}.py`), grouped);
  writeFileSync(join(dir, `${id}-flat.py`), flat);
  jobs.push({ id, grouped: join(dir, `${id}.py`), flat: join(dir, `${id}-flat.py`), expected_keys: documentKeys(graph), ...extra });
}

/**
 * guided-diffusion/64x64_diffusion (resblock_updown, new attention order, heads by channels, 1000
 * classes, 4 levels, attention at 3 of them) at 32 channels (32-channel heads) on 16×16 images.
 */
function updownPreset(): Graph {
  const p = IDDPM_PRESETS.find((q) => q.name === 'guided-diffusion/64x64_diffusion')!;
  expect(p.kwargs).toMatchObject({ resblock_updown: true, use_new_attention_order: true, num_classes: 1000, num_head_channels: 64 });
  return iddpm({ ...p.kwargs, model_channels: 32, num_head_channels: 32, image_size: 16 });
}

/** Module-path groups with hostile names: `${name}.a`, `${name}.b` inside each (`plain`: g0…g2, the token structure to keep). */
const HOSTILE_GROUPS: readonly (readonly string[])[] = [
  ['"""); __import__("builtins").__pwned = 1; ("""', 'p\n__import__("builtins").__pwned = 1\n#c', '\\'],
  ['class', 'GroupModule', 'forward'],
  ['😀', 'training', 'a"b.c\'d'],
];

function hostileGrouped(graphName: string, names: readonly string[]): Graph {
  const b = new GraphBuilder();
  const x = b.add('ImageInput', 'x', { channels: 32, height: 8, width: 8 });
  const t = b.add('TimestepsInput', 't');
  let emb = '';
  b.group(names[0], () => {
    const sin = b.add('TimestepEmbedding', `${names[0]}.a`, { dim: 16 }, { x: t });
    emb = b.add('TimeEmbedMLP', `${names[0]}.b`, { dim: 32 }, { x: sin });
  });
  let h = x;
  for (const n of names.slice(1)) {
    b.group(n, () => {
      const r = b.add('ResBlock', `${n}.a`, { out_channels: 32 }, { x: h, emb });
      h = b.add('AttentionBlock', `${n}.b`, { num_heads: 2 }, { x: r });
    });
  }
  b.add('Output', 'out', {}, { x: h });
  return b.build(graphName);
}

/**
 * The corners: a module group holding a block that does not lead to the output; one that cannot run
 * as one call (a path leaves it and comes back); one not named by a module path (`group_1`); one
 * whose prefix a block outside it shares; a module group nested in another.
 */
function corners(): Graph {
  const b = new GraphBuilder();
  const x = b.add('ImageInput', 'x', { channels: 32, height: 8, width: 8 });
  const t = b.add('TimestepsInput', 't');
  const sin = b.add('TimestepEmbedding', 'sin', { dim: 32 }, { x: t });
  const emb = b.add('TimeEmbedMLP', 'emb', { dim: 32 }, { x: sin });
  let h = x;
  b.group('blk', () => {
    h = b.add('ResBlock', 'blk.0', { out_channels: 32 }, { x: h, emb });
    b.add('Conv2d', 'blk.dead', { out_channels: 32, kernel_size: 3, padding: 1 }, { x: h });
    h = b.add('AttentionBlock', 'blk.1', { num_heads: 2 }, { x: h });
  });
  let mid = '';
  b.group('cyc', () => {
    const a = b.add('Conv2d', 'cyc.a', { out_channels: 32, kernel_size: 3, padding: 1 }, { x: h });
    mid = b.add('SiLU', 'mid', {}, { x: a }); // moved out of the group below
    h = b.add('Add', 'cyc.b', {}, { a, b: mid });
  });
  b.group('group_1', () => {
    h = b.add('Conv2d', 'p.0', { out_channels: 32, kernel_size: 1 }, { x: h });
    h = b.add('SiLU', 'p.1', {}, { x: h });
  });
  b.group('q', () => {
    h = b.add('GroupNorm', 'q.0', {}, { x: h });
  });
  h = b.add('Conv2d', 'q.1', { out_channels: 32, kernel_size: 1 }, { x: h });
  b.group('n', () => {
    h = b.add('ResBlock', 'n.0', { out_channels: 32 }, { x: h, emb });
    b.group('n.s', () => {
      h = b.add('GroupNorm', 'n.s.0', {}, { x: h });
      h = b.add('SiLU', 'n.s.1', {}, { x: h });
    });
    h = b.add('Conv2d', 'n.2', { out_channels: 32, kernel_size: 3, padding: 1 }, { x: h });
  });
  b.add('Output', 'out', {}, { x: h });
  const g = b.build('corners');
  return { ...g, groups: g.groups!.map((gr) => (gr.name === 'cyc' ? { ...gr, nodes: gr.nodes.filter((id) => id !== mid) } : gr)) };
}

beforeAll(() => {
  // The iDDPM defaults on 16×16 images (the same modules; a quarter of the work of 32×32).
  addJob('iddpm-default', iddpm(IDDPM_DEFAULTS, 16));
  addJob('iddpm-64x64-updown', updownPreset());
  const updown = JSON.parse(readFileSync(`${REFERENCE}guided-updown.json`, 'utf8')) as { kwargs: Record<string, unknown>; image_size: number };
  const file = `${REFERENCE}guided-updown.safetensors`;
  addJob('reference-guided-updown', iddpm(updown.kwargs, updown.image_size), {
    weights: file, io: file, inputs: { x: 'io.x', timesteps: 'io.timesteps', y: 'io.y' }, out: 'io.out', atol: 1e-5, rtol: 1e-5, train: true,
  });
  addJob('diffusers-cifar10-like', diffusersUNet2D({ ...DDPM_CIFAR10_32, block_out_channels: [32, 64, 64, 64], sample_size: 16 }));
  const df = JSON.parse(readFileSync(`${DIFFUSERS_REFERENCE}df-ddpm.json`, 'utf8')) as { config: Record<string, unknown>; image_size: number };
  const dfFile = `${DIFFUSERS_REFERENCE}df-ddpm.safetensors`;
  addJob('reference-df-ddpm', diffusersUNet2D(df.config, df.image_size), {
    weights: dfFile, io: dfFile, inputs: { x: 'io.x', timesteps: 'io.timesteps', y: 'io.y' }, out: 'io.out', atol: 1e-4, rtol: 1e-4, train: true,
  });
  addJob('vanilla-small', vanilla({ n_channels: 3, n_classes: 2, widths: [16, 32, 64], image_size: 32 }), { train: true });
  const ioPath = `${FIXTURES}vanilla-small/io.safetensors`;
  const xs = readSafetensors(ioPath).tensors.get('x')!;
  addJob('fixture-vanilla-small', withImageSize(fixtureGraph('vanilla-small'), xs.shape[2], xs.shape[3]), {
    weights: `${FIXTURES}vanilla-small/weights.safetensors`, io: ioPath, inputs: { x: 'x' }, out: 'out', atol: 1e-5, rtol: 1e-5,
  });
  addJob('corners', corners(), { train: true });
  const plain = join(dir, 'hostile-plain.py');
  writeFileSync(plain, generatePytorchModel(hostileGrouped('plain', ['g0', 'g1', 'g2'])).text);
  HOSTILE_GROUPS.forEach((names, k) => addJob(`hostile-${k}`, hostileGrouped(`hostile ${k}`, names), { plain, train: true }));

  results = runHarness<Result>(HARNESS, dir, jobs);
  pyflakes = pythonCheck('pyflakes', jobs.flatMap((j) => [j.grouped, j.flat]));
}, 120_000);

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const result = (id: string): Result => jobResult(results, id);

describe('grouped model.py against the same graph without groups', () => {
  it('every template: the flat state_dict (keys, order, shapes, fresh values), bit-equal outputs and gradients', () => {
    expect(jobs.filter((j) => j.train).length).toBe(7);
    for (const j of jobs) {
      const r = result(j.id);
      expect(r.keys_equal, j.id).toBe(true);
      expect(r.keys!.length, j.id).toBeGreaterThan(0);
      expect(r.shapes_equal, j.id).toBe(true);
      expect(r.init_equal, j.id).toBe(true);
      expect(r.bit_equal, `${j.id}: max |d| ${String(r.max_abs_diff)}`).toBe(true);
      expect(r.max_out!, j.id).toBeGreaterThan(0.01);
      if (j.train) {
        expect(r.grads_equal, j.id).toBe(true);
        // Only the block that does not lead to the output gets no gradient.
        expect(r.no_grad, j.id).toEqual(j.id === 'corners' ? ['blk.dead.weight', 'blk.dead.bias'] : []);
      }
      expect(r.flat_has_groups, j.id).toBe(false);
    }
  });

  it('the reference weights load strictly into the grouped models and reproduce PyTorch', () => {
    for (const id of ['reference-guided-updown', 'reference-df-ddpm', 'fixture-vanilla-small']) {
      const r = result(id);
      expect(r.ref_worst!, id).toBeLessThanOrEqual(1);
      expect(r.ref_max_abs!, id).toBeGreaterThan(0.1);
    }
  });

  it('groups that are module paths become modules; levels and single blocks stay flat; equal structures share a class', () => {
    const g = result('iddpm-default').groups!;
    expect(g).toEqual({
      'input_blocks.4': 'InputBlocks4',
      'input_blocks.5': 'InputBlocks5',
      middle_block: 'MiddleBlock',
      'output_blocks.0': 'OutputBlocks0',
      'output_blocks.1': 'OutputBlocks0',
      'output_blocks.2': 'OutputBlocks2',
      'output_blocks.3': 'OutputBlocks3',
      'output_blocks.4': 'OutputBlocks3',
      'output_blocks.5': 'OutputBlocks5',
      'output_blocks.6': 'OutputBlocks6',
      'output_blocks.7': 'OutputBlocks7',
      'output_blocks.8': 'OutputBlocks7',
      out: 'Out',
    });
    const { grouped } = texts.get('iddpm-default')!;
    // Levels (encoder.k, decoder.k) are not module paths: no class, no literal.
    expect(grouped).not.toContain('encoder');
    expect(grouped).not.toContain('decoder');
    expect(grouped).toContain('        output_blocks_0_0 = self.node("output_blocks.0")(middle_block_2, input_blocks_8_0, time_embed)\n');
    expect(grouped).toContain(
      'class OutputBlocks0(GroupModule):\n    # Group "output_blocks.0"; the same module also at "output_blocks.1".\n',
    );
    const d = result('diffusers-cifar10-like').groups!;
    expect(Object.keys(d)).toEqual(['down_blocks.0', 'down_blocks.1', 'down_blocks.2', 'down_blocks.3', 'up_blocks.0', 'up_blocks.1', 'up_blocks.2', 'up_blocks.3', 'mid_block']);
    // A down block returns every skip it makes.
    expect(texts.get('diffusers-cifar10-like')!.grouped).toContain('    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:\n');
    expect(Object.values(result('vanilla-small').groups!).length).toBeGreaterThan(0);
    expect(Object.keys(result('iddpm-64x64-updown').groups!)).toContain('middle_block');
  });

  it('groups that cannot be modules are flattened: a shared prefix, no module path, a path that leaves and comes back', () => {
    expect(result('corners').groups).toEqual({ blk: 'Blk', n: 'N', 'n.s': 'NS' });
    const { grouped } = texts.get('corners')!;
    expect(grouped).toContain('        # "dead" Conv2d does not lead to the output: not run (its module stays, for the state_dict)\n');
    for (const flat of ['"cyc.a"', '"cyc.b"', '"p.0"', '"q.0"']) expect(grouped).toContain(`        attach(self, ${flat}, `);
  });

  it('both versions pass pyflakes', () => {
    expect(pyflakes).toEqual({ status: 0, output: '' });
  });
});

describe('hostile group names', () => {
  it('become sanitised class names and escaped literals only: the token structure of plain names, nothing executed', () => {
    HOSTILE_GROUPS.forEach((names, k) => {
      const id = `hostile-${k}`;
      const r = result(id);
      expect(r.same_structure, id).toBe(true);
      expect(Object.keys(r.groups!).sort(), id).toEqual([...names].sort());
      for (const cls of Object.values(r.groups!)) expect(cls, id).toMatch(/^[A-Za-z][A-Za-z0-9]*$/);
      const { grouped } = texts.get(id)!;
      expect(/^[\x20-\x7e\n]*$/.test(grouped), id).toBe(true);
    });
    expect(result('__pwned').pwned).toBe(false);
  });
});
