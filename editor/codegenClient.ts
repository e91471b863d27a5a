/** Talks to the code worker: one request in flight per caller, the newest graph wins. */
import type { Graph } from '../graph/model';
import type { InputRole } from '../blocks/roles';
import type { CodegenRequest, CodegenResponse } from './codegen.worker';

export interface CodeState {
  readonly status: 'idle' | 'generating' | 'checking' | 'ok' | 'type-errors' | 'error';
  readonly text: string;
  /** The module transpiled to CommonJS, for the runtime panel. */
  readonly js: string;
  readonly className: string;
  /** The module's forward parameters in order, as the generator wrote them. */
  readonly inputs: readonly InputRole[];
  readonly diagnostics: readonly { line: number; message: string }[];
  readonly message: string;
  readonly generateMs: number;
  readonly checkMs: number;
}

export const EMPTY_CODE: CodeState = { status: 'idle', text: '', js: '', className: '', inputs: [], diagnostics: [], message: '', generateMs: 0, checkMs: 0 };

export class CodegenClient {
  private worker: Worker | null = null;
  private latest = 0;
  private state: CodeState = EMPTY_CODE;

  constructor(private readonly onChange: (s: CodeState) => void) {}

  private get w(): Worker {
    if (!this.worker) {
      this.worker = new Worker(new URL('./codegen.worker.ts', import.meta.url), { type: 'module' });
      this.worker.addEventListener('message', (e: MessageEvent<CodegenResponse>) => this.receive(e.data));
      this.worker.addEventListener('error', (e) => this.set({ status: 'error', message: e.message || 'the code worker failed to start' }));
    }
    return this.worker;
  }

  request(graph: Graph, check = true): void {
    const req: CodegenRequest = { id: ++this.latest, graph, check };
    this.set({ status: 'generating' });
    this.w.postMessage(req);
  }

  private receive(r: CodegenResponse): void {
    if (r.id !== this.latest) return; // superseded by a newer graph
    if (r.kind === 'module') this.set({ status: 'checking', text: r.text, js: r.js, className: r.className, inputs: r.inputs, generateMs: r.ms, diagnostics: [], message: '' });
    else if (r.kind === 'checked') this.set({ status: r.diagnostics.length === 0 ? 'ok' : 'type-errors', diagnostics: r.diagnostics, checkMs: r.ms });
    else this.set({ status: 'error', message: r.message, text: '', js: '', inputs: [], diagnostics: [] });
  }

  private set(patch: Partial<CodeState>): void {
    this.state = { ...this.state, ...patch };
    this.onChange(this.state);
  }

  dispose(): void {
    this.worker?.terminate();
    this.worker = null;
  }
}
