/**
 * The editor's code worker: generation and checking off the main thread, so typing in the
 * inspector never stutters. Each request names an export target (codegen/targets); the target's
 * generator, ts-morph and the tfjs declarations load on the first request that needs them.
 */
import type { Graph } from '../graph/model';
import { DEFAULT_TARGET, targetById, type ExportDiagnostic, type ExportFile, type InputRole } from '../codegen/targets';
import { BROWSER_ENV } from '../codegen/targets/env-browser';

export interface CodegenRequest {
  readonly id: number;
  readonly graph: Graph;
  readonly check: boolean;
  /** An id of codegen/targets' registry. */
  readonly target: string;
}

export type CodegenResponse =
  | {
      readonly id: number;
      readonly kind: 'module';
      readonly files: readonly ExportFile[];
      /** The path of the main file; `text` is its text. */
      readonly main: string;
      readonly text: string;
      /** The tfjs module transpiled to CommonJS for the runtime panel ('' for other targets). */
      readonly js: string;
      readonly className: string;
      readonly inputs: readonly InputRole[];
      readonly ms: number;
    }
  | { readonly id: number; readonly kind: 'checked'; readonly diagnostics: readonly ExportDiagnostic[]; readonly ms: number }
  | { readonly id: number; readonly kind: 'error'; readonly message: string };

const post = (r: CodegenResponse) => (self as unknown as Worker).postMessage(r);

self.addEventListener('message', (e: MessageEvent<CodegenRequest>) => {
  void handle(e.data);
});

async function handle(req: CodegenRequest): Promise<void> {
  try {
    const target = targetById(req.target);
    if (!target) throw new Error(`unknown export target ${JSON.stringify(req.target)}`);
    // The runtime panel runs the tfjs module's JavaScript: the same module as the text, types erased.
    const transpiler = target.id === DEFAULT_TARGET ? import('../runtime/transpile') : null;
    const t0 = performance.now();
    const out = await target.generate(req.graph, BROWSER_ENV);
    const main = out.files.find((f) => f.path === out.main);
    if (!main) throw new Error(`export target ${target.id}: the main file ${JSON.stringify(out.main)} is not among its files`);
    const js = transpiler ? (await transpiler).transpile(main.text) : '';
    post({ id: req.id, kind: 'module', files: out.files, main: out.main, text: main.text, js, className: out.className, inputs: out.inputs, ms: performance.now() - t0 });
    if (req.check) {
      const t1 = performance.now();
      const diagnostics = await target.check(out, BROWSER_ENV);
      post({ id: req.id, kind: 'checked', diagnostics, ms: performance.now() - t1 });
    }
  } catch (err) {
    post({ id: req.id, kind: 'error', message: err instanceof Error ? err.message : String(err) });
  }
}
