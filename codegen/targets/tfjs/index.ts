/**
 * The tfjs target: one self-contained, strictly typed TensorFlow.js module (`<Class>.ts`) that
 * copies the block kernels' own source (see generate.ts). Its generator and type-check come
 * from the environment (`ExportEnv.tfjs`), so this file, read by the editor's main thread for the
 * code panel's tabs, imports no TypeScript compiler.
 */
import type { ExportDiagnostic, ExportTarget } from '../types';

export const tfjsTarget: ExportTarget = {
  id: 'tfjs',
  label: 'TensorFlow.js',
  description: 'one typed TensorFlow.js module (.ts), type-checked (strict)',
  language: 'typescript',
  checkWords: { checking: 'type-checking…', passed: 'type-checked', passedDetail: 'type-checked (strict)', problem: 'type error' },
  async generate(graph, env) {
    const mod = (await env.tfjs()).generate(graph);
    const path = `${mod.className}.ts`;
    return { files: [{ path, text: mod.text }], main: path, className: mod.className, inputs: mod.inputs };
  },
  async check(files, env) {
    const tk = await env.tfjs();
    const out: ExportDiagnostic[] = [];
    for (const f of files.files) {
      for (const d of await tk.typecheck(f.text)) out.push({ file: f.path, line: d.line, message: d.message, severity: 'error' });
    }
    return out;
  },
};
