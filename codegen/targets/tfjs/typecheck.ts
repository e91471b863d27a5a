/**
 * Strict in-memory type-check of a generated module against tfjs's real `.d.ts` files (Node).
 * The Project is created once and reused: loading tfjs's and the lib declarations is most of the
 * cost of the first check (~1 s), later checks take a fraction of that.
 */
import { Project, type Diagnostic } from 'ts-morph';
import { REPO_ROOT } from './sources-node';
import { CHECK_OPTIONS, flattenMessage, type TypeDiagnostic } from './check-options';

export type { TypeDiagnostic };

let project: Project | null = null;
let counter = 0;

function getProject(): Project {
  project ??= new Project({ skipAddingFilesFromTsConfig: true, compilerOptions: CHECK_OPTIONS });
  return project;
}

function toDiagnostic(d: Diagnostic): TypeDiagnostic {
  return { line: d.getLineNumber() ?? 0, message: flattenMessage(d.getMessageText()) };
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

/**
 * Type-checks several modules in one program: each module's diagnostics, in order. A program (and
 * its type checker, which resolves tfjs's and the lib declarations again) is built once for all of
 * them instead of once per module, so a test with dozens of modules pays that cost once.
 */
export function typecheckModules(texts: readonly string[]): TypeDiagnostic[][] {
  const p = getProject();
  const files = texts.map((text) => p.createSourceFile(`${REPO_ROOT}.codegen-check/module-${counter++}.ts`, text, { overwrite: true }));
  try {
    return files.map((sf) => sf.getPreEmitDiagnostics().map(toDiagnostic));
  } finally {
    for (const sf of files) p.removeSourceFile(sf);
  }
}
