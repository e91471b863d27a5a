/**
 * The tfjs target: one self-contained, strictly typed TensorFlow.js module (`<Class>.ts`) that
 * copies the block kernels' own source (see generate.ts). The generator is loaded on first use,
 * so the registry stays light for the editor's main bundle.
 */
import type { ExportDiagnostic, ExportTarget } from '../types';

export const tfjsTarget: ExportTarget = {
  id: 'tfjs',
  label: 'TensorFlow.js',
  description: 'one typed TensorFlow.js module (.ts), type-checked (strict)',
  language: 'typescript',
  checkWords: { passed: 'type-checked (strict)', problem: 'type error' },
  async generate(graph, env) {
    const [{ generateModule }, sources] = await Promise.all([import('./generate'), env.kernelSources()]);
    const mod = generateModule(graph, sources);
    const path = `${mod.className}.ts`;
    return { files: [{ path, text: mod.text }], main: path, className: mod.className, inputs: mod.inputs };
  },
  async check(files, env) {
    const out: ExportDiagnostic[] = [];
    for (const f of files.files) {
      for (const d of await env.typecheckTfjs(f.text)) out.push({ file: f.path, line: d.line, message: d.message, severity: 'error' });
    }
    return out;
  },
};
