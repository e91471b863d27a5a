/** Talks to the code worker for one export target: one request in flight per caller, the newest graph wins. */
import type { Graph } from '../graph/model';
import { DEFAULT_TARGET, type ExportDiagnostic, type ExportFile, type InputRole } from '../codegen/targets';
import type { CodegenRequest, CodegenResponse } from './codegen.worker';

export interface CodeState {
  readonly status: 'idle' | 'generating' | 'checking' | 'ok' | 'type-errors' | 'error';
  /** The main file's text. */
  readonly text: string;
  /** Every generated file (one for the tfjs module); `main` is the path of the one in `text`. */
  readonly files: readonly ExportFile[];
  readonly main: string;
  /** The tfjs module transpiled to CommonJS, for the runtime panel ('' for other targets). */
  readonly js: string;
  readonly className: string;
  /** The model's forward inputs in order. */
  readonly inputs: readonly InputRole[];
  readonly diagnostics: readonly ExportDiagnostic[];
  readonly message: string;
  readonly generateMs: number;
  readonly checkMs: number;
}

export const EMPTY_CODE: CodeState = {
  status: 'idle',
  text: '',
  files: [],
  main: '',
  js: '',
  className: '',
  inputs: [],
  diagnostics: [],
  message: '',
  generateMs: 0,
  checkMs: 0,
};

export class CodegenClient {
  private worker: Worker | null = null;
  private latest = 0;
  private state: CodeState = EMPTY_CODE;

  /** `target`: an id of codegen/targets' registry (the tfjs module by default, which the runtime panel runs). */
  constructor(
    private readonly onChange: (s: CodeState) => void,
    readonly target: string = DEFAULT_TARGET,
  ) {}

  private get w(): Worker {
    if (!this.worker) {
      this.worker = new Worker(new URL('./codegen.worker.ts', import.meta.url), { type: 'module' });
      this.worker.addEventListener('message', (e: MessageEvent<CodegenResponse>) => this.receive(e.data));
      this.worker.addEventListener('error', (e) => this.set({ status: 'error', message: e.message || 'the code worker failed to start' }));
    }
    return this.worker;
  }

  request(graph: Graph, check = true): void {
    const req: CodegenRequest = { id: ++this.latest, graph, check, target: this.target };
    this.set({ status: 'generating' });
    this.w.postMessage(req);
  }

  private receive(r: CodegenResponse): void {
    if (r.id !== this.latest) return; // superseded by a newer graph
    if (r.kind === 'module') {
      this.set({ status: 'checking', text: r.text, files: r.files, main: r.main, js: r.js, className: r.className, inputs: r.inputs, generateMs: r.ms, diagnostics: [], message: '' });
    } else if (r.kind === 'checked') {
      const errors = r.diagnostics.some((d) => d.severity === 'error');
      this.set({ status: errors ? 'type-errors' : 'ok', diagnostics: r.diagnostics, checkMs: r.ms });
    } else this.set({ status: 'error', message: r.message, text: '', files: [], main: '', js: '', inputs: [], diagnostics: [] });
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
