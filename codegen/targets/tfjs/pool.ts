/**
 * The declarations a generated module may copy, read from UNet Studio's own source with ts-morph:
 * each top-level function, class, interface, type alias and const, with the pool names it uses.
 * Also the kernel of each block type, read from its `defineBlock({ type, …, forward })` call.
 */
import { Node, Project, SyntaxKind, type Statement } from 'ts-morph';
import { CodegenError } from '../../errors';
import { SOURCE_FILES, type SourceTexts } from './sources';

export interface Declaration {
  readonly name: string;
  /** Source text without `export`, JSDoc kept. */
  readonly text: string;
  readonly file: string;
  /** Order of appearance across the source files: the emitted order. */
  readonly index: number;
  readonly deps: readonly string[];
  readonly typeOnly: boolean;
}

export interface DeclarationPool {
  readonly decls: ReadonlyMap<string, Declaration>;
  /** Block type → the name of its kernel function. */
  readonly kernels: ReadonlyMap<string, string>;
  /** Names declared more than once across the files (an error only if one is needed). */
  readonly ambiguous: ReadonlySet<string>;
}


function declaredNames(st: Statement): { names: string[]; typeOnly: boolean } {
  if (Node.isFunctionDeclaration(st) || Node.isClassDeclaration(st)) return { names: st.getName() ? [st.getName()!] : [], typeOnly: false };
  if (Node.isInterfaceDeclaration(st) || Node.isTypeAliasDeclaration(st)) return { names: [st.getName()], typeOnly: true };
  if (Node.isVariableStatement(st)) return { names: st.getDeclarations().map((d) => d.getName()), typeOnly: false };
  return { names: [], typeOnly: false };
}

const poolCache = new WeakMap<SourceTexts, DeclarationPool>();

export function buildPool(sources: SourceTexts): DeclarationPool {
  const hit = poolCache.get(sources);
  if (hit) return hit;
  const project = new Project({ useInMemoryFileSystem: true, skipAddingFilesFromTsConfig: true });
  const raw: { name: string; text: string; file: string; index: number; ids: Set<string>; typeOnly: boolean }[] = [];
  const kernels = new Map<string, string>();
  let index = 0;
  for (const file of SOURCE_FILES) {
    const sf = project.createSourceFile(`/${file}`, sources[file], { overwrite: true });
    for (const st of sf.getStatements()) {
      const { names, typeOnly } = declaredNames(st);
      if (names.length === 0) continue;
      const ids = new Set(st.getDescendantsOfKind(SyntaxKind.Identifier).map((i) => i.getText()));
      // Drop `export` (and `export default`) from the copy: generated modules export their own API only.
      const text = st.getText(true).replace(/^((?:\/\*\*[\s\S]*?\*\/\s*)?)export\s+(?:default\s+)?/, '$1');
      for (const name of names) raw.push({ name, text, file, index: index++, ids, typeOnly });
      // Block declarations: defineBlock({ type: '…', forward: kernel })
      for (const call of st.getDescendantsOfKind(SyntaxKind.CallExpression)) {
        if (call.getExpression().getText() !== 'defineBlock') continue;
        const arg = call.getArguments()[0];
        if (!arg || !Node.isObjectLiteralExpression(arg)) continue;
        const typeProp = arg.getProperty('type');
        const fwdProp = arg.getProperty('forward');
        if (!typeProp || !fwdProp || !Node.isPropertyAssignment(typeProp) || !Node.isPropertyAssignment(fwdProp)) continue;
        const t = typeProp.getInitializer();
        const f = fwdProp.getInitializer();
        if (t && Node.isStringLiteral(t) && f && Node.isIdentifier(f)) kernels.set(t.getLiteralValue(), f.getText());
      }
    }
  }
  const decls = new Map<string, Declaration>();
  const ambiguous = new Set<string>();
  const names = new Set(raw.map((r) => r.name));
  for (const r of raw) {
    if (decls.has(r.name) && decls.get(r.name)!.text !== r.text) ambiguous.add(r.name);
    const deps = [...r.ids].filter((id) => id !== r.name && names.has(id)).sort();
    if (!decls.has(r.name)) decls.set(r.name, { name: r.name, text: r.text, file: r.file, index: r.index, deps, typeOnly: r.typeOnly });
  }
  const pool = { decls, kernels, ambiguous };
  poolCache.set(sources, pool);
  return pool;
}

/** `roots` and everything they use, in source order; each declaration text once. */
export function closure(pool: DeclarationPool, roots: readonly string[]): Declaration[] {
  const seen = new Set<string>();
  const stack = [...roots];
  while (stack.length > 0) {
    const name = stack.pop()!;
    if (seen.has(name)) continue;
    const d = pool.decls.get(name);
    if (!d) throw new CodegenError(`generator: no declaration named ${name} in UNet Studio's sources`);
    if (pool.ambiguous.has(name)) throw new CodegenError(`generator: ${name} is declared twice in UNet Studio's sources`);
    seen.add(name);
    stack.push(...d.deps);
  }
  const out: Declaration[] = [];
  const texts = new Set<string>();
  for (const d of [...seen].map((n) => pool.decls.get(n)!).sort((a, b) => a.index - b.index)) {
    if (texts.has(d.text)) continue; // `const a = …, b = …` declares two names in one statement
    texts.add(d.text);
    out.push(d);
  }
  return out;
}
