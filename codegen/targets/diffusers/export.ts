/**
 * The diffusers export: `config.json` from the config the graph is (graph/templates/diffusers-config.ts
 * reads it and proves it by rebuilding the graph), and `diffusion_pytorch_model.safetensors` from
 * given weights: checked strictly against the graph (legacy attention names accepted and written under
 * today's), every tensor under its state_dict key in the dtype it came in, with diffusers' own
 * `{"format": "pt"}` metadata; deterministic bytes (keys sorted, the writer's layout). A graph with
 * OpenAI's UNetModel names is converted to diffusers' first (with its weights), or refused with
 * every block that has no counterpart named.
 */
import { analyze, graphInputs } from '../../../graph/analyze';
import type { Graph } from '../../../graph/model';
import { ConversionError, convertNaming, convertWeights, namingOf, type NamingConversion } from '../../../graph/convert';
import { DiffusersConfigError, diffusersConfigFromGraph } from '../../../graph/templates/diffusers-config';
import { expectedWeights } from '../../../graph/weights';
import { withLegacyNames } from '../../../weights/legacy';
import { checkStateDict } from '../../../weights/pytorch';
import { writeSafetensors, type SafetensorsFile, type TensorToWrite } from '../../../weights/safetensors';
import { CodegenError } from '../../errors';
import type { ExportDiagnostic, ExportFiles } from '../types';
import { configJson } from './config-json';

export const CONFIG_FILE = 'config.json';
export const WEIGHTS_FILE = 'diffusion_pytorch_model.safetensors';

export function exportDiffusers(given: Graph, givenWeights?: SafetensorsFile): ExportFiles {
  // A graph with OpenAI's UNetModel names is written under diffusers' names (graph/convert.ts), its weights with it.
  let graph = given;
  let weights = givenWeights;
  if (namingOf(given) === 'openai' && analyze(given).ok) {
    let c: NamingConversion;
    try {
      c = convertNaming(given, 'diffusers');
    } catch (e) {
      if (e instanceof ConversionError) throw new CodegenError(e.message);
      throw e;
    }
    graph = c.graph;
    if (givenWeights) weights = { metadata: givenWeights.metadata, tensors: convertWeights(c, givenWeights.tensors, 'the weights') };
  }
  const a = analyze(graph);
  if (!a.ok) {
    const errs = a.problems.filter((p) => p.severity === 'error').map((p) => `  ${p.message}`);
    throw new CodegenError(`graph ${JSON.stringify(graph.name)} is not valid, so nothing was exported:\n${errs.join('\n')}`);
  }
  let text: string;
  try {
    text = configJson(diffusersConfigFromGraph(graph));
  } catch (e) {
    if (e instanceof DiffusersConfigError) throw new CodegenError(e.message);
    throw e;
  }
  const files: { path: string; text: string; bytes?: Uint8Array }[] = [{ path: CONFIG_FILE, text }];
  if (weights) {
    const expected = expectedWeights(a);
    const keys = expected.map((w) => w.fullKey);
    const tensors = withLegacyNames(keys, weights.tensors);
    checkStateDict(expected, new Map([...tensors].map(([k, t]) => [k, t.shape])), 'the weights');
    const out: Record<string, TensorToWrite> = {};
    for (const key of keys) {
      const t = tensors.get(key)!;
      out[key] = { dtype: t.dtype, shape: t.shape, data: t.data };
    }
    files.push({ path: WEIGHTS_FILE, text: '', bytes: writeSafetensors(out, { format: 'pt' }) });
  }
  return { files, main: CONFIG_FILE, className: 'UNet2DModel', inputs: graphInputs(a).map((i) => i.role.role) };
}

/**
 * config.json is JSON with UNet2DModel's class name, and ASCII (so no text from the graph reaches
 * it unescaped); the weights file is not empty when present.
 */
export function checkDiffusers(files: ExportFiles): ExportDiagnostic[] {
  const out: ExportDiagnostic[] = [];
  for (const f of files.files) {
    if (f.path === CONFIG_FILE) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(f.text);
      } catch (e) {
        out.push({ file: f.path, line: 0, message: `not JSON: ${e instanceof Error ? e.message : String(e)}`, severity: 'error' });
        continue;
      }
      if (typeof parsed !== 'object' || parsed === null || (parsed as Record<string, unknown>)._class_name !== 'UNet2DModel') {
        out.push({ file: f.path, line: 1, message: '_class_name is not "UNet2DModel"', severity: 'error' });
      }
      const bad = f.text.split('\n').findIndex((l) => /[^\x20-\x7e]/.test(l));
      if (bad >= 0) out.push({ file: f.path, line: bad + 1, message: 'a character outside printable ASCII', severity: 'error' });
    } else if (f.path === WEIGHTS_FILE) {
      if (!f.bytes || f.bytes.length < 8) out.push({ file: f.path, line: 0, message: 'the weights file is empty', severity: 'error' });
    } else {
      out.push({ file: f.path, line: 0, message: 'a file diffusers does not read', severity: 'error' });
    }
  }
  return out;
}
