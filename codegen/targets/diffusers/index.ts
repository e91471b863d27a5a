/**
 * The diffusers target: the graph as a Hugging Face diffusers `UNet2DModel` folder that
 * `UNet2DModel.from_pretrained(DIR)` loads: `config.json` (as `save_config` writes it) and, given
 * weights, `diffusion_pytorch_model.safetensors` (the state_dict under diffusers' names, each tensor
 * in the dtype it was given). Light: the code panel imports the registry; the exporter loads on use.
 */
import type { ExportDiagnostic, ExportFiles, ExportTarget } from '../types';

export const diffusersTarget: ExportTarget = {
  id: 'diffusers',
  label: 'diffusers',
  description:
    "a Hugging Face diffusers UNet2DModel folder: config.json, plus diffusion_pytorch_model.safetensors when given weights (CLI --weights; the browser's download has config.json only)",
  language: 'json',
  checkWords: { checking: 'checking…', passed: 'checked', passedDetail: 'checked (config.json reads back as the graph)', problem: 'problem' },
  weights: { without: 'wrote config.json only (no diffusion_pytorch_model.safetensors: give --weights W.safetensors for it)' },
  folder: true,
  async generate(graph, _env, opts): Promise<ExportFiles> {
    return (await import('./export')).exportDiffusers(graph, opts?.weights);
  },
  async check(files): Promise<ExportDiagnostic[]> {
    return (await import('./export')).checkDiffusers(files);
  },
};
