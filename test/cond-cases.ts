/**
 * The text-conditioned reference cases of issue 13 and their loaders, shared by the test files that
 * run them: their own (ldm-blocks.test.ts, and ldm.test.ts and diffusers-cond.test.ts through
 * test/model-parity.ts), webgpu.test.ts on tfjs's WebGPU backend and test/pytorch/model.test.ts through
 * the PyTorch export:
 * - the SpatialTransformer / Transformer2DModel block cases (test/reference/ldm/cases.json, made by
 *   make_blocks.py from the real ldm and diffusers modules), whose files hold the module's own keys;
 * - the `ldm` template cases (test/reference/ldm/ldm-*.json, make_templates.py: latent-diffusion's
 *   UNetModel) and the UNet2DConditionModel cases (test/reference/diffusers/cond-*.json, make_cond.py),
 *   whose files hold the real model's state_dict.
 * Each file also holds the inputs (`io.x`, `io.timesteps`, `io.context`, `io.y`) and the real `io.out`.
 * A case runs on whatever tfjs backend is current (test/diffusers-cases.ts' runner).
 */
import { readFileSync } from 'node:fs';
import type { BlockType } from '../blocks/registry';
import type { ParamValue } from '../blocks/types';
import { analyze, nodeWeights } from '../graph/analyze';
import { GraphBuilder } from '../graph/builder';
import type { Graph } from '../graph/model';
import { diffusersUNet, ldm } from '../graph/templates';
import type { SafetensorsFile } from '../weights/safetensors';
import { DIFFUSERS_DIR, runReferenceGraph, weightsOnly, type CaseOutput } from './diffusers-cases';
import { readSafetensors, REFERENCE } from './util';

export const LDM_DIR = `${REFERENCE}ldm/`;

/** `[state_dict key, shape]` in the real model's `state_dict()` order. */
export type Listing = [string, number[]][];

export const readJson = <T>(path: string): T => JSON.parse(readFileSync(path, 'utf8')) as T;

/** `[key, shape]` in the graph's node order (the templates add nodes in PyTorch's registration order). */
export function graphListing(graph: Graph): Listing {
  const a = analyze(graph);
  const out: Listing = [];
  for (const n of graph.nodes) for (const w of nodeWeights(a.info.get(n.id)!)) out.push([`${n.name}.${w.key}`, [...w.shape]]);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Block cases

export interface TransformerBlockCase {
  readonly name: string;
  readonly block: BlockType;
  readonly params: Record<string, ParamValue>;
  readonly reference: string;
  /** `io.x`'s shape, NCHW. */
  readonly x: readonly number[];
  /** `io.context`'s shape, `[batch, tokens, dim]`. */
  readonly context: readonly number[];
  readonly state_dict_keys: readonly string[];
  readonly num_parameters: number;
}

export const TRANSFORMER_BLOCK_CASES: readonly TransformerBlockCase[] = readJson<{ cases: TransformerBlockCase[] }>(`${LDM_DIR}cases.json`).cases;

/** The block's node name in a block case's graph: its weights are the module's keys under it. */
export const BLOCK_NODE = 'st';

/** x and context inputs, the block, the Output. */
export function blockCaseGraph(c: TransformerBlockCase): Graph {
  const b = new GraphBuilder();
  const [, ch, h, w] = c.x;
  const [, tokens, dim] = c.context;
  const x = b.add('ImageInput', 'x', { channels: ch, height: h, width: w });
  const ctx = b.add('ContextInput', 'context', { tokens, dim });
  const st = b.add(c.block, BLOCK_NODE, c.params, { x, context: ctx });
  b.add('Output', 'out', {}, { x: st });
  return b.build(c.name);
}

/** The block case's state_dict under the node's name (the file holds the module's own keys). */
export function blockCaseWeights(file: SafetensorsFile): SafetensorsFile {
  const tensors = [...weightsOnly(file).tensors].map(([k, t]) => [`${BLOCK_NODE}.${k}`, t] as const);
  return { metadata: file.metadata, tensors: new Map(tensors) };
}

/** The block case's `.safetensors`: the module's state_dict and `io.*`. */
export function blockCasePath(c: TransformerBlockCase): string {
  return `${LDM_DIR}${c.name}.safetensors`;
}

export function blockCaseFile(c: TransformerBlockCase): SafetensorsFile {
  return readSafetensors(blockCasePath(c));
}

export async function runBlockCase(c: TransformerBlockCase): Promise<CaseOutput> {
  const file = blockCaseFile(c);
  return runReferenceGraph(blockCaseGraph(c), blockCaseWeights(file), file, `${c.name}.safetensors`);
}

// ---------------------------------------------------------------------------------------------
// Whole-model cases

export interface ModelCase {
  readonly name: string;
  /** `ldm` (latent-diffusion's UNetModel) or `diffusers` (UNet2DConditionModel). */
  readonly source: 'ldm' | 'diffusers';
  /** The case's `.safetensors`: the state_dict and `io.*`. */
  readonly path: string;
  /** Context tokens in `io.context`; null for a model without a context (ldm-classcond-attn). */
  readonly tokens: number | null;
  readonly num_parameters: number;
  readonly state_dict: Listing;
  /** The template's graph at the case's image size and token count. */
  readonly graph: () => Graph;
}

/** The graph with `tokens` context tokens (the templates make 77-token contexts, the cases use fewer). */
export function withTokens(graph: Graph, tokens: number | null): Graph {
  if (tokens === null) return graph;
  return { ...graph, nodes: graph.nodes.map((n) => (n.type === 'ContextInput' ? { ...n, params: { ...n.params, tokens } } : n)) };
}

interface LdmCaseFile {
  readonly name: string;
  readonly kwargs: Record<string, unknown>;
  readonly image_size: number;
  readonly tokens: number | null;
  readonly num_parameters: number;
  readonly state_dict: Listing;
}

interface CondCaseFile {
  readonly name: string;
  readonly config: Record<string, unknown>;
  readonly image_size: number;
  readonly tokens: number;
  readonly num_parameters: number;
  readonly state_dict: Listing;
}

/** The `ldm` template against latent-diffusion's UNetModel: SD 1.x code (depth 2), SD 2.x code (linear), class-conditional. */
export const LDM_MODEL_CASES: readonly ModelCase[] = ['ldm-sd1-depth2', 'ldm-sd2-linear', 'ldm-classcond-attn'].map((name) => {
  const c = readJson<LdmCaseFile>(`${LDM_DIR}${name}.json`);
  return {
    name,
    source: 'ldm',
    path: `${LDM_DIR}${name}.safetensors`,
    tokens: c.tokens,
    num_parameters: c.num_parameters,
    state_dict: c.state_dict,
    graph: () => withTokens(ldm(c.kwargs, c.image_size), c.tokens),
  };
});

/** `template diffusers` with UNet2DConditionModel configs: conv and linear projections. */
export const COND_MODEL_CASES: readonly ModelCase[] = ['cond-conv', 'cond-linear'].map((name) => {
  const c = readJson<CondCaseFile>(`${DIFFUSERS_DIR}${name}.json`);
  return {
    name,
    source: 'diffusers',
    path: `${DIFFUSERS_DIR}${name}.safetensors`,
    tokens: c.tokens,
    num_parameters: c.num_parameters,
    state_dict: c.state_dict,
    graph: () => withTokens(diffusersUNet(c.config, c.image_size), c.tokens),
  };
});

export const MODEL_CASES: readonly ModelCase[] = [...LDM_MODEL_CASES, ...COND_MODEL_CASES];

export async function runModelCase(c: ModelCase): Promise<CaseOutput> {
  const file = readSafetensors(c.path);
  return runReferenceGraph(c.graph(), weightsOnly(file), file, `${c.name}.safetensors`);
}
