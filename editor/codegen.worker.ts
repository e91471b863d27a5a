/**
 * The editor's code worker: generation and type-checking off the main thread, so typing in the
 * inspector never stutters. ts-morph and the tfjs declarations load on the first request.
 */
import type { Graph } from '../graph/model';

export interface CodegenRequest {
  readonly id: number;
  readonly graph: Graph;
  readonly check: boolean;
}

export type CodegenResponse =
  | { readonly id: number; readonly kind: 'module'; readonly text: string; readonly js: string; readonly className: string; readonly ms: number }
  | { readonly id: number; readonly kind: 'checked'; readonly diagnostics: readonly { line: number; message: string }[]; readonly ms: number }
  | { readonly id: number; readonly kind: 'error'; readonly message: string };

const post = (r: CodegenResponse) => (self as unknown as Worker).postMessage(r);

self.addEventListener('message', (e: MessageEvent<CodegenRequest>) => {
  void handle(e.data);
});

async function handle(req: CodegenRequest): Promise<void> {
  try {
    const [{ generateModule }, { BROWSER_SOURCES, typecheckInBrowser }, { transpile }] = await Promise.all([
      import('../codegen/targets/tfjs/generate'),
      import('../codegen/targets/tfjs/browser'),
      import('../runtime/transpile'),
    ]);
    const t0 = performance.now();
    const mod = generateModule(req.graph, BROWSER_SOURCES);
    // The runtime panel runs this JavaScript: the same module as the text, types erased.
    const js = transpile(mod.text);
    post({ id: req.id, kind: 'module', text: mod.text, js, className: mod.className, ms: performance.now() - t0 });
    if (req.check) {
      const t1 = performance.now();
      const diagnostics = await typecheckInBrowser(mod.text);
      post({ id: req.id, kind: 'checked', diagnostics, ms: performance.now() - t1 });
    }
  } catch (err) {
    post({ id: req.id, kind: 'error', message: err instanceof Error ? err.message : String(err) });
  }
}
