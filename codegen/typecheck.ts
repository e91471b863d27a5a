/**
 * Strict in-memory type-check of a generated module against tfjs's real `.d.ts` files (Node).
 * The Project is created once and reused: loading tfjs's and the lib declarations is most of the
 * cost of the first check (~1 s), later checks take a fraction of that.
 */
import { Project, ts, type Diagnostic } from 'ts-morph';
import { REPO_ROOT } from './sources-node';

export interface TypeDiagnostic {
  readonly line: number;
  readonly message: string;
}

let project: Project | null = null;
let counter = 0;

function getProject(): Project {
  project ??= new Project({
    skipAddingFilesFromTsConfig: true,
    compilerOptions: {
      strict: true,
      noEmit: true,
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.ESNext,
      moduleResolution: ts.ModuleResolutionKind.Bundler,
      lib: ['lib.es2022.d.ts', 'lib.dom.d.ts'],
      types: [],
      skipLibCheck: true,
      noUnusedLocals: true,
      noImplicitReturns: true,
      isolatedModules: true,
    },
  });
  return project;
}

function toDiagnostic(d: Diagnostic): TypeDiagnostic {
  const msg = d.getMessageText();
  return { line: d.getLineNumber() ?? 0, message: typeof msg === 'string' ? msg : msg.getMessageText() };
}

/** Zero diagnostics means the module compiles under `strict` with `@tensorflow/tfjs` as its only import. */
export function typecheckModule(text: string): TypeDiagnostic[] {
  const p = getProject();
  // A path inside the repository so `@tensorflow/tfjs` resolves to node_modules; never written to disk.
  const path = `${REPO_ROOT}.codegen-check/module-${counter++}.ts`;
  const sf = p.createSourceFile(path, text, { overwrite: true });
  try {
    return sf.getPreEmitDiagnostics().map(toDiagnostic);
  } finally {
    p.removeSourceFile(sf);
  }
}
