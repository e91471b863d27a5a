/**
 * The export-target seam: what every target (`codegen/targets/<id>/`) declares, and what the hosts
 * (the CLI, the editor's code worker) hand it. A target is plain data plus two functions, so the
 * CLI's `export <id>`, its usage text and the code panel's tabs all read the registry
 * (`./index.ts`) and never name a target.
 *
 * Design notes (differences from the first sketch in issue 9, and why):
 * - `generate` may return a promise, so a target can load its generator on first use. The registry
 *   must stay light: the editor's main thread imports it for the code panel's tabs.
 * - The main file's name comes from the generated result (`ExportFiles.main`), not from a
 *   `fileName(graph)` beforehand: the tfjs module is named after the class the generator picks,
 *   which depends on the names the copied kernels already declare (`className` in tfjs/text.ts).
 * - `ExportEnv` is what differs between Node and the browser, built by `./env-node.ts` (the CLI,
 *   tests) and `./env-browser.ts` (the code worker; no Node module). The tfjs target gets its whole
 *   toolkit from it: the generator needs the TypeScript compiler (ts-morph, ~12 MB in the browser),
 *   and even a dynamic `import()` of it from the registry would make Vite emit a second copy into
 *   the main thread's build; the env builders are imported only by the worker and the CLI. A
 *   target of plain text (PyTorch) needs nothing from the env; one that needs a new capability
 *   adds a field here, and the compiler then asks both builders for it.
 */
import type { InputRole } from '../../blocks/roles';
import type { Graph } from '../../graph/model';
import type { SafetensorsFile } from '../../weights/safetensors';
import type { TypeDiagnostic } from './tfjs/check-options';
import type { GeneratedModule } from './tfjs/generate';

/** The code panel's highlighter and the download's MIME type; another language shows as plain text. */
export type TargetLanguage = 'typescript' | 'python' | 'markdown' | 'json' | 'text';

/** A model's inputs are named by role (`blocks/roles.ts`), in forward order. */
export type { InputRole };

export interface ExportFile {
  /** Relative, `/`-separated, no `..` (`model.py`, `Iddpm.ts`): where it goes under the output folder. */
  readonly path: string;
  /**
   * The file's text. For a binary file (`bytes`): '' (diffusers' .safetensors), or a readable summary
   * the code panel shows in its place (ONNX's model.onnx, whose Download saves the bytes).
   */
  readonly text: string;
  /** A binary file's content (diffusers' .safetensors when the export was given weights; ONNX's model always). */
  readonly bytes?: Uint8Array;
}

export interface ExportFiles {
  /** One file for a module (tfjs), several for a project folder (PyTorch: model.py, train.py, …). */
  readonly files: readonly ExportFile[];
  /** The `path` of the file the code panel shows first and `-o -` prints. */
  readonly main: string;
  /** The model's class in the main file (the runtime panel instantiates the tfjs one by name). */
  readonly className: string;
  /** The forward's inputs in order (`x`, `timesteps`, `y` as the graph has them). */
  readonly inputs: readonly InputRole[];
}

export interface ExportDiagnostic {
  /** The `path` of the file it is about. */
  readonly file: string;
  /** 1-based; 0 when it is about the file as a whole. */
  readonly line: number;
  readonly message: string;
  readonly severity: 'error' | 'warning';
}

/** The tfjs module's generator and checker on one platform. */
export interface TfjsToolkit {
  /** `generateModule` with this platform's copy of the kernel sources (Node: from disk; browser: `?raw` imports). */
  generate(graph: Graph): GeneratedModule;
  /** A strict type-check of a TypeScript module whose only import is `@tensorflow/tfjs`. */
  typecheck(text: string): Promise<readonly TypeDiagnostic[]>;
}

/** What one export call may carry besides the graph; a target that does not declare `weights` ignores it. */
export interface ExportOptions {
  /** A checkpoint for the graph (checked strictly against it by the target; legacy names accepted). */
  readonly weights?: SafetensorsFile;
}

/** What a target may need from where it runs. */
export interface ExportEnv {
  readonly platform: 'node' | 'browser';
  /** Loaded on first use (it brings the TypeScript compiler), then the same each call. */
  tfjs(): Promise<TfjsToolkit>;
}

export interface ExportTarget {
  /** Stable: the CLI's `--target`/`export <id>` and the folder name. */
  readonly id: string;
  /** The code panel's tab. */
  readonly label: string;
  /** One line for `--help` and the tab's tooltip. */
  readonly description: string;
  /** Of the main file. */
  readonly language: TargetLanguage;
  /** How the code panel and the CLI name the check and what it finds. */
  readonly checkWords: {
    /** The panel while it runs: `type-checking…`. */
    readonly checking: string;
    /** The panel's status when it passed: `type-checked`. */
    readonly passed: string;
    /** The CLI's `wrote …` line: `type-checked (strict)`. */
    readonly passedDetail: string;
    /** One problem it finds: `type error`. */
    readonly problem: string;
  };
  /**
   * The target writes a model's weights when it is given them (`export <id> --weights W`): what its
   * files lack without them, for the CLI's note (`no diffusion_pytorch_model.safetensors`).
   * Absent: the target takes no weights, and the CLI refuses `--weights` for it.
   */
  readonly weights?: { readonly without: string };
  /** Always writes a folder (`-o DIR`), even when it has one file (diffusers' `from_pretrained(DIR)`). */
  readonly folder?: boolean;
  /**
   * Deterministic: the same graph gives the same bytes. Throws `CodegenError` (codegen/errors.ts)
   * listing the problems when the graph is not valid; never executes text from the graph.
   * `opts.weights` is read only by a target that declares `weights`.
   */
  generate(graph: Graph, env: ExportEnv, opts?: ExportOptions): ExportFiles | Promise<ExportFiles>;
  /** Problems in generated files; none for a correct generator. */
  check(files: ExportFiles, env: ExportEnv): readonly ExportDiagnostic[] | Promise<readonly ExportDiagnostic[]>;
}

/** Fails with a clear message for a path that could escape the output folder (a target's bug). */
export function checkExportPaths(files: ExportFiles): void {
  const paths = new Set<string>();
  for (const f of files.files) {
    const parts = f.path.split('/');
    if (f.path === '' || f.path.startsWith('/') || parts.some((p) => p === '' || p === '.' || p === '..' || p.includes('\\')) || /[\0-\x1f]/.test(f.path)) {
      throw new Error(`export: file path ${JSON.stringify(f.path)} is not a plain relative path`);
    }
    if (paths.has(f.path)) throw new Error(`export: two files are named ${JSON.stringify(f.path)}`);
    paths.add(f.path);
  }
  if (!paths.has(files.main)) throw new Error(`export: the main file ${JSON.stringify(files.main)} is not among the files`);
}
