/**
 * Hostile node and graph names: quotes, comment markers, template syntax, line terminators, reserved
 * and colliding identifiers, unicode, 2000-character names and injection payloads. Whatever the
 * names, the generated module has the structure of one with plain names, keeps the names in string
 * literals only, type-checks, runs exactly like the interpreter and loads weights keyed by them.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { ts } from 'ts-morph';
import { GraphBuilder } from '../graph/builder';
import { analyze, type Analysis } from '../graph/analyze';
import type { Graph } from '../graph/model';
import { generateModule } from './targets/tfjs/generate';
import { generatePytorchModel } from './targets/pytorch/model';
import { pyStr } from './targets/pytorch/python';
import { literal } from './targets/tfjs/text';
import { readSources } from './targets/tfjs/sources-node';
import { typecheckModule, typecheckModules, type TypeDiagnostic } from './targets/tfjs/typecheck';
import { loadModule, type GeneratedClass, type GeneratedModel } from '../runtime/evaluate';
import { planGraph, runGraph } from '../runtime/interpreter';
import { disposeWeights, loadWeights, randomWeights, type WeightStore } from '../runtime/weights';
import { expectedWeights } from '../graph/weights';
import { parseSafetensors, writeSafetensors, type TensorToWrite } from '../weights/safetensors';
import { useBackend } from '../runtime/backend-node';

const PWNED = '__pwned';
const pwned = (): unknown => Reflect.get(globalThis, PWNED);

/** A name as the tests and messages show it: its literal, cut at 40 characters. */
const short = (s: string) => {
  const j = literal(s);
  return j.length > 40 ? `${j.slice(0, 37)}…"` : j;
};

/** Node names: non-empty, no spaces at either end (the checker's rule), unique. */
const NODE_NAMES: readonly string[] = [
  'q"uote',
  "it's",
  'back`tick',
  'end*/',
  '/*start',
  '//slash',
  '${process.exit(1)}',
  'line\nbreak',
  'cr\r\nlf',
  'ls\u2028sep',
  'ps\u2029sep',
  '</script>',
  '<!-- html -->',
  'class',
  'constructor',
  'this',
  'return',
  'tf',
  'x',
  'at',
  'CONFIG',
  'WEIGHTS',
  '__proto__',
  'a.b',
  'a_b',
  'a-b',
  'resBlockForward',
  'groupNorm',
  'é',
  '😀',
  'naïve→ünïcode',
  '1abc',
  '.',
  'long'.repeat(500),
  '"); globalThis.__pwned = 1; ("',
  '*/ globalThis.__pwned = 1; /*',
  'p\u2028globalThis.__pwned = 1',
  "'); globalThis.__pwned = 1; ('",
  '`); globalThis.__pwned = 1; (`',
  '${globalThis.__pwned = 1}',
  'n\nglobalThis.__pwned = 1 //',
  '\\',
  '\\u0022',
  'tab\there',
  'nul\u0000',
  'NO_WEIGHTS',
  'EXPECTED',
  'Rng',
  'WeightGetter',
  'self',
  'timesteps',
  'y',
  'weights',
  'undefined',
  'arguments',
  'tf.dispose',
];

/** Graph names: anything at all (they only reach literals and the class name). */
const GRAPH_NAMES: readonly string[] = [
  'plain',
  '',
  '\n',
  '\r\n',
  '\u2028',
  '\u2029',
  '\u2028globalThis.__pwned = 1',
  '"); globalThis.__pwned = 1; ("',
  '*/ globalThis.__pwned = 1; /*',
  '${globalThis.__pwned = 1}',
  'a"b',
  "it's",
  '`tick`',
  '*/',
  '/*',
  '//',
  '${process.exit(1)}',
  '</script>',
  'class',
  'constructor',
  'this',
  'return',
  'tf',
  'x',
  'at',
  'CONFIG',
  'WEIGHTS',
  'EXPECTED',
  'WeightName',
  'Rng',
  'WeightGetter',
  '__proto__',
  'uint8 array',
  'Float32Array',
  'readonly',
  'a.b',
  'é',
  '😀',
  '1abc',
  '.',
  'g/'.repeat(1000),
  '\ud800 lone surrogate',
];

/** Names per graph: one per node of `buildGraph`. */
const NODES_PER_GRAPH = 18;

/** Every block kind that owns weights or none, wired so that all names end up in keys, comments and locals. */
function buildGraph(graphName: string, names: readonly string[]): Graph {
  const n = (i: number) => names[i];
  const b = new GraphBuilder();
  const x = b.add('ImageInput', n(0), { channels: 32, height: 8, width: 8 });
  const t = b.add('TimestepsInput', n(1));
  const sin = b.add('TimestepEmbedding', n(2), { dim: 16 }, { x: t });
  const mlp = b.add('TimeEmbedMLP', n(3), { dim: 32 }, { x: sin });
  const y = b.add('ClassLabelInput', n(4), { num_classes: 5 });
  const emb = b.add('LabelEmbedding', n(5), {}, { x: mlp, y });
  const res = b.add('ResBlock', n(6), { out_channels: 64, use_scale_shift_norm: true }, { x, emb });
  const attn = b.add('AttentionBlock', n(7), { num_heads: 2 }, { x: res });
  const conv = b.add('Conv2d', n(8), { out_channels: 32, kernel_size: 3, padding: 1 }, { x: attn });
  const norm = b.add('GroupNorm', n(9), {}, { x: conv });
  const act = b.add('SiLU', n(10), {}, { x: norm });
  const bn = b.add('BatchNorm2d', n(11), {}, { x: act });
  const dc = b.add('DoubleConv', n(12), { out_channels: 32 }, { x: bn });
  const down = b.add('Downsample', n(13), { use_conv: true }, { x: dc });
  const up = b.add('Upsample', n(14), { use_conv: true }, { x: down });
  const cat = b.add('Concat', n(15), { order: 'x_first' }, { x: up, skip: conv });
  const sum = b.add('Add', n(16), {}, { a: cat, b: attn });
  b.add('Output', n(17), {}, { x: sum });
  return b.build(graphName);
}

const CHUNKS: readonly (readonly string[])[] = Array.from({ length: Math.ceil(NODE_NAMES.length / NODES_PER_GRAPH) }, (_, i) => {
  const chunk = NODE_NAMES.slice(i * NODES_PER_GRAPH, (i + 1) * NODES_PER_GRAPH);
  return [...chunk, ...Array.from({ length: NODES_PER_GRAPH - chunk.length }, (_, k) => `filler.${k}`)];
});
const PLAIN_NAMES = Array.from({ length: NODES_PER_GRAPH }, (_, i) => `n${i}`);

// ---------------------------------------------------------------------------------------------
// Reading the module as TypeScript

/** Leaf tokens of the parsed module (JSDoc left out: it is a comment). */
function leaves(sf: ts.SourceFile): ts.Node[] {
  const out: ts.Node[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isJSDoc(node)) return;
    const children = node.getChildren(sf);
    if (children.length === 0) out.push(node);
    else for (const c of children) visit(c);
  };
  visit(sf);
  return out;
}

const parse = (text: string) => ts.createSourceFile('module.ts', text, ts.ScriptTarget.ES2022, true);

/** The token kinds in order, each with its text: equal kinds for two modules means the same code, whatever their names and strings. */
function tokens(text: string): { kind: string; text: string }[] {
  const sf = parse(text);
  return leaves(sf).map((l) => ({ kind: ts.SyntaxKind[l.kind], text: l.getText(sf) }));
}

/** '' when both token lists have the same kinds, else where they first differ. */
function structureDifference(plain: readonly { kind: string; text: string }[], hostile: readonly { kind: string; text: string }[]): string {
  for (let i = 0; i < Math.max(plain.length, hostile.length); i++) {
    if (plain[i]?.kind !== hostile[i]?.kind) {
      const show = (list: readonly { kind: string; text: string }[]) => list.slice(Math.max(0, i - 3), i + 3).map((t) => `${t.kind}(${short(t.text)})`).join(' ');
      return `token ${i}: plain names give ${show(plain)}, hostile names give ${show(hostile)}`;
    }
  }
  return '';
}

/** A JSON string literal (as `literal` writes them) inside a comment. */
const JSON_STRING = /"(?:[^"\\\r\n\u2028\u2029]|\\.)*"/g;

/**
 * Where raw text may appear harmlessly: inside a string literal's quotes, or inside a JSON string
 * literal in a comment. Returns [start, end) spans.
 */
function safeSpans(text: string): [number, number][] {
  const sf = parse(text);
  const spans: [number, number][] = [];
  const comments = new Map<number, number>();
  for (const leaf of leaves(sf)) {
    if (ts.isStringLiteral(leaf)) spans.push([leaf.getStart(sf) + 1, leaf.end - 1]);
    for (const r of [...(ts.getLeadingCommentRanges(text, leaf.pos) ?? []), ...(ts.getTrailingCommentRanges(text, leaf.end) ?? [])]) {
      comments.set(r.pos, r.end);
    }
  }
  for (const [start, end] of comments) {
    for (const m of text.slice(start, end).matchAll(JSON_STRING)) {
      JSON.parse(m[0]);
      spans.push([start + m.index + 1, start + m.index + m[0].length - 1]);
    }
  }
  return spans;
}

/** How many times `raw` occurs outside every safe span. */
function unsafeOccurrences(text: string, spans: readonly [number, number][], raw: string): number {
  let count = 0;
  for (let i = text.indexOf(raw); i >= 0; i = text.indexOf(raw, i + 1)) {
    if (!spans.some(([s, e]) => s <= i && i + raw.length <= e)) count++;
  }
  return count;
}

/** The value of `CONFIG.name` and the keys of `WEIGHTS`, as TypeScript reads them. */
function configNameAndWeightKeys(text: string): { name: string | null; keys: string[] } {
  const sf = parse(text);
  let name: string | null = null;
  let keys: string[] = [];
  for (const st of sf.statements) {
    if (!ts.isVariableStatement(st)) continue;
    for (const d of st.declarationList.declarations) {
      const init = d.initializer && ts.isAsExpression(d.initializer) ? d.initializer.expression : null;
      if (!init || !ts.isObjectLiteralExpression(init) || !ts.isIdentifier(d.name)) continue;
      if (d.name.text === 'CONFIG') {
        for (const p of init.properties) {
          if (ts.isPropertyAssignment(p) && ts.isIdentifier(p.name) && p.name.text === 'name' && ts.isStringLiteral(p.initializer)) name = p.initializer.text;
        }
      }
      if (d.name.text === 'WEIGHTS') {
        keys = init.properties.flatMap((p) => (ts.isPropertyAssignment(p) && ts.isStringLiteral(p.name) ? [p.name.text] : []));
      }
    }
  }
  return { name, keys };
}

/** The node names passed to `at(…)` in the forward, as TypeScript reads them. */
function atArguments(text: string): string[] {
  const out: string[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isCallExpression(node) && ts.isIdentifier(node.expression) && node.expression.text === 'at') {
      const [arg] = node.arguments;
      if (arg && ts.isStringLiteral(arg)) out.push(arg.text);
    }
    ts.forEachChild(node, visit);
  };
  visit(parse(text));
  return out;
}

const JS_RESERVED = new Set(
  'break case catch class const continue debugger default delete do else enum export extends false finally for function if import in instanceof new null return super switch this throw true try typeof var void while with yield let static implements interface package private protected public await'.split(
    ' ',
  ),
);

// ---------------------------------------------------------------------------------------------

/** A state_dict in PyTorch's layout, deterministic non-zero values (BatchNorm variances positive). */
function stateDict(plan: Analysis): Record<string, TensorToWrite> {
  const sd: Record<string, TensorToWrite> = {};
  expectedWeights(plan).forEach((w, k) => {
    const n = w.shape.reduce((a, b) => a * b, 1);
    if (w.dtype === 'int64') sd[w.fullKey] = { dtype: 'I64', shape: w.shape, data: [3] };
    else if (w.key.endsWith('running_var')) sd[w.fullKey] = { dtype: 'F32', shape: w.shape, data: Float32Array.from({ length: n }, (_, i) => 0.5 + ((i + k) % 5) * 0.25) };
    else sd[w.fullKey] = { dtype: 'F32', shape: w.shape, data: Float32Array.from({ length: n }, (_, i) => (((i * 7 + k * 3) % 17) - 8) * 0.02) };
  });
  return sd;
}

describe('hostile node and graph names', () => {
  let plainText = '';
  let plainTokens: { kind: string; text: string }[] = [];
  let plainSpans: [number, number][] = [];
  // Every graph's module, generated and type-checked up front in one program (one type checker for
  // all of them instead of one each: seconds per module otherwise).
  let modules: ReturnType<typeof generateModule>[] = [];
  let diagnostics: TypeDiagnostic[][] = [];

  beforeAll(async () => {
    await useBackend('cpu');
    expect(pwned()).toBeUndefined();
    plainText = generateModule(buildGraph('plain', PLAIN_NAMES), readSources()).text;
    plainTokens = tokens(plainText);
    plainSpans = safeSpans(plainText);
    modules = GRAPH_NAMES.map((graphName, gi) => generateModule(buildGraph(graphName, CHUNKS[gi % CHUNKS.length]), readSources()));
    diagnostics = typecheckModules(modules.map((m) => m.text));
    expect(pwned()).toBeUndefined();
  }, 300_000);

  it('the corpus is what the graph checker accepts: unique, trimmed names', () => {
    expect(new Set(NODE_NAMES).size).toBe(NODE_NAMES.length);
    for (const name of NODE_NAMES) expect(name.trim()).toBe(name);
    expect(CHUNKS.flat().length).toBe(CHUNKS.length * NODES_PER_GRAPH);
  });

  GRAPH_NAMES.forEach((graphName, gi) => {
    const names = CHUNKS[gi % CHUNKS.length];
    it(`graph ${short(graphName)}, node names ${gi % CHUNKS.length + 1}/${CHUNKS.length}`, () => {
      const graph = buildGraph(graphName, names);
      const a = analyze(graph);
      expect(a.ok, a.problems.map((p) => p.message).join('\n')).toBe(true);
      const plan = planGraph(graph);
      const mod = modules[gi];
      const text = mod.text;

      // The header names the graph as a JSON literal on one line.
      const first = text.split('\n')[0];
      expect(first).toBe(`// Generated by UNet Studio from ${literal(graphName)}. Do not edit.`);
      expect(first).not.toMatch(/[\r\u2028\u2029]/);
      expect(JSON.parse(first.slice('// Generated by UNet Studio from '.length, -'. Do not edit.'.length))).toBe(graphName);

      // The same code as with plain names: names changed literals, comments and identifiers only.
      expect(structureDifference(plainTokens, tokens(text))).toBe('');
      expect(mod.className).toMatch(/^[A-Za-z_$][A-Za-z0-9_$]*$/);
      expect(JS_RESERVED.has(mod.className)).toBe(false);
      expect(text).toContain(`\nexport class ${mod.className} {\n`);
      const spans = safeSpans(text);
      for (const raw of [graphName, ...names]) {
        if (raw === '' || /^[A-Za-z0-9_$]+$/.test(raw)) continue;
        expect(unsafeOccurrences(text, spans, raw), `raw ${short(raw)} outside literals`).toBe(unsafeOccurrences(plainText, plainSpans, raw));
      }
      // The literals read back as the names.
      const { name, keys } = configNameAndWeightKeys(text);
      expect(name).toBe(graphName);
      expect(keys).toEqual(expectedWeights(plan).map((w) => w.fullKey));
      expect(atArguments(text)).toEqual([...new Set(expectedWeights(plan).map((w) => w.node))]);

      expect(diagnostics[gi]).toEqual([]);
      const Cls: GeneratedClass = loadModule(text, mod.className);
      expect(pwned()).toBeUndefined();

      const inputs: Inputs = {
        x: tf.randomNormal([2, 8, 8, 32], 0, 1, 'float32', gi + 1) as tf.Tensor4D,
        timesteps: tf.tensor1d([3, 517]),
        y: tf.tensor1d([0, 4]),
      };
      expect(mod.inputs).toEqual(['x', 'timesteps', 'y']);
      const start = tf.memory().numTensors;

      // Fresh weights: the same draws as the interpreter's.
      const fresh = Cls.random(1);
      const w = randomWeights(plan, 1);
      expectSameOutputs(fresh, plan, w, inputs);
      disposeWeights(w);
      fresh.dispose();

      // Weights keyed by each set of node names (graph names never reach keys): once per set.
      if (gi < CHUNKS.length) checkLoading(Cls, plan, inputs);
      expect(tf.memory().numTensors).toBe(start);
      tf.dispose([inputs.x, inputs.timesteps, inputs.y]);
      expect(pwned()).toBeUndefined();
    });
  });

  it('no payload ran: globalThis.__pwned is still undefined after generating, loading and running all of them', () => {
    expect(pwned()).toBeUndefined();
    expect(PWNED in globalThis).toBe(false);
  });
});

interface Inputs {
  readonly x: tf.Tensor4D;
  readonly timesteps: tf.Tensor1D;
  readonly y: tf.Tensor1D;
}

/** The generated model's forward equals the interpreter's with `weights`, element for element, and leaves one tensor (its output). */
function expectSameOutputs(model: GeneratedModel, plan: Analysis, weights: WeightStore, inputs: Inputs): void {
  const before = tf.memory().numTensors;
  const got = model.forward(inputs.x, inputs.timesteps, inputs.y);
  expect(tf.memory().numTensors).toBe(before + 1);
  const want = runGraph(plan, weights, inputs).out;
  expect(got.shape).toEqual(want.shape);
  const g = got.dataSync();
  const w = want.dataSync();
  let bad = -1;
  for (let i = 0; i < g.length && bad < 0; i++) if (g[i] !== w[i]) bad = i;
  expect(bad, bad < 0 ? '' : `element ${bad}: generated ${g[bad]}, interpreter ${w[bad]}`).toBe(-1);
  expect(Math.max(...Array.from(g, Math.abs))).toBeGreaterThan(0);
  tf.dispose([got, want]);
}

/** A state_dict keyed by the hostile names loads strictly, from safetensors and from tensors; a missing key is named exactly. */
function checkLoading(Cls: GeneratedClass, plan: Analysis, inputs: Inputs): void {
  const sd = stateDict(plan);
  const bytes = writeSafetensors(sd);
  const w = loadWeights(plan, parseSafetensors(bytes));
  const loaded = Cls.fromSafetensors(bytes);
  expectSameOutputs(loaded, plan, w, inputs);
  loaded.dispose();
  const tensors: Record<string, tf.Tensor> = {};
  for (const [k, v] of Object.entries(sd)) tensors[k] = tf.tensor(v.data instanceof BigInt64Array ? Array.from(v.data, Number) : Array.from(v.data), [...v.shape]);
  const fromTensors = Cls.fromTensors(tensors);
  expectSameOutputs(fromTensors, plan, w, inputs);
  fromTensors.dispose();
  tf.dispose(Object.values(tensors));
  disposeWeights(w);

  const expected = expectedWeights(plan);
  for (const node of new Set(expected.map((e) => e.node))) {
    const key = expected.find((e) => e.node === node)!.fullKey;
    const partial = { ...sd };
    delete partial[key];
    let err: unknown = null;
    try {
      Cls.fromSafetensors(writeSafetensors(partial), 'partial.safetensors').dispose();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(Error);
    const e = err as Error & { readonly missing?: readonly string[] };
    expect(e.name).toBe('WeightLoadError');
    expect(e.message).toContain(`\n    ${key}`);
    expect(e.missing).toEqual([key]);
  }
}

/**
 * Group names: shown on the canvas and in generated code, so anything the graph accepts (unique,
 * non-empty, without outer spaces: an empty name is the validator's to refuse).
 */
const GROUP_NAME_SETS: readonly (readonly string[])[] = [
  ['*/ globalThis.__pwned = 1; /*', '${globalThis.__pwned = 1}', '`); globalThis.__pwned = 1; (`', '"); globalThis.__pwned = 1; ("'],
  ['q"uote\nline', 'p\u2028globalThis.__pwned = 1', '😀', '0 \\ end'],
  ['class', 'resBlockForward', 'naïve→ünïcode', 'tf'],
];

/**
 * `buildGraph`'s blocks in nested groups: the ResBlock and the Attention; the Conv2d holding a
 * nested group of the GroupNorm and SiLU (two outputs: the SiLU, and the Conv2d the Concat reads);
 * the Downsample and Upsample.
 */
function buildGrouped(groupNames: readonly string[], nodeNames: readonly string[]): Graph {
  const g = buildGraph('grouped', nodeNames);
  const id = (i: number) => g.nodes.find((n) => n.name === nodeNames[i])!.id;
  return {
    ...g,
    groups: [
      { id: 'g0', name: groupNames[0], nodes: [id(6), id(7)] },
      { id: 'g1', name: groupNames[1], nodes: [id(8)] },
      { id: 'g2', name: groupNames[2], parent: 'g1', nodes: [id(9), id(10)] },
      { id: 'g3', name: groupNames[3], nodes: [id(13), id(14)] },
    ],
  };
}

describe('hostile group names', () => {
  beforeAll(async () => {
    await useBackend('cpu');
  });

  it('become sanitised function names and escaped literals only; the module type-checks and runs like the interpreter', () => {
    const plain = generateModule(buildGrouped(['g0', 'g1', 'g2', 'g3'], PLAIN_NAMES), readSources()).text;
    expect(plain).toContain('const [n8, n10] = g1([at("n8"), at("n9")], [false], n7);');
    const plainTokens = tokens(plain);
    const plainSpans = safeSpans(plain);
    GROUP_NAME_SETS.forEach((groupNames, k) => {
      const names = CHUNKS[k % CHUNKS.length];
      const graph = buildGrouped(groupNames, names);
      const mod = generateModule(graph, readSources());
      const text = mod.text;
      expect(structureDifference(plainTokens, tokens(text))).toBe('');
      const section = text.slice(text.indexOf('// One function per group definition'), text.indexOf('// Copied from UNet Studio'));
      const fns = [...section.matchAll(/^function (\S+)\(/gm)].map((m) => m[1]);
      expect(fns.length).toBe(4);
      for (const f of fns) {
        expect(f).toMatch(/^[A-Za-z_][A-Za-z0-9_]*$/);
        expect(JS_RESERVED.has(f)).toBe(false);
      }
      const spans = safeSpans(text);
      for (const raw of [...groupNames, ...names]) {
        if (raw === '' || /^[A-Za-z0-9_$]+$/.test(raw)) continue;
        expect(unsafeOccurrences(text, spans, raw), `raw ${short(raw)} outside literals`).toBe(unsafeOccurrences(plain, plainSpans, raw));
      }
      for (const raw of groupNames) expect(text).toContain(literal(raw));
      if (k === 0) expect(typecheckModule(text)).toEqual([]);
      const Cls = loadModule(text, mod.className);
      expect(pwned()).toBeUndefined();
      const inputs: Inputs = {
        x: tf.randomNormal([2, 8, 8, 32], 0, 1, 'float32', k + 1) as tf.Tensor4D,
        timesteps: tf.tensor1d([3, 517]),
        y: tf.tensor1d([0, 4]),
      };
      const start = tf.memory().numTensors;
      const plan = planGraph(graph);
      const model = Cls.random(1);
      const w = randomWeights(plan, 1);
      expectSameOutputs(model, plan, w, inputs);
      disposeWeights(w);
      model.dispose();
      expect(tf.memory().numTensors).toBe(start);
      tf.dispose([inputs.x, inputs.timesteps, inputs.y]);
    });
    expect(pwned()).toBeUndefined();
    expect(PWNED in globalThis).toBe(false);
  }, 60_000);
});

// ---------------------------------------------------------------------------------------------
// The PyTorch export's groups (test/pytorch/groups.test.ts runs such files in PyTorch)

/** A small Python lexer: comments, strings (triple-quoted too), identifiers, numbers, newlines and other characters. */
function pythonTokens(text: string): { kind: string; text: string }[] {
  const re = /(#[^\n]*)|("""[\s\S]*?"""|'''[\s\S]*?'''|"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')|([A-Za-z_][A-Za-z0-9_]*)|([0-9][A-Za-z0-9_.]*)|(\n)|([ \t]+)|([\s\S])/g;
  const out: { kind: string; text: string }[] = [];
  for (const m of text.matchAll(re)) {
    if (m[1] !== undefined) out.push({ kind: 'comment', text: m[1] });
    else if (m[2] !== undefined) out.push({ kind: 'string', text: m[2] });
    else if (m[3] !== undefined) out.push({ kind: 'name', text: m[3] });
    else if (m[4] !== undefined) out.push({ kind: 'number', text: m[4] });
    else if (m[5] !== undefined) out.push({ kind: 'newline', text: m[5] });
    else if (m[6] === undefined) out.push({ kind: m[7], text: m[7] });
  }
  return out;
}

/**
 * Module-path groups named by `names`: `names[0]` holding the time embedding, `names[1]` a
 * ResBlock and a nested module group `${names[1]}.${names[2]}` (an AttentionBlock), both inside a
 * level `names[3]` (not a module path: flattened, so its name appears nowhere).
 */
function pytorchGrouped(graphName: string, names: readonly string[]): Graph {
  const b = new GraphBuilder();
  const x = b.add('ImageInput', 'x', { channels: 32, height: 8, width: 8 });
  const t = b.add('TimestepsInput', 't');
  let emb = '';
  b.group(names[0], () => {
    const sin = b.add('TimestepEmbedding', `${names[0]}.a`, { dim: 16 }, { x: t });
    emb = b.add('TimeEmbedMLP', `${names[0]}.b`, { dim: 32 }, { x: sin });
  });
  let h = x;
  b.group(names[3], () => {
    b.group(names[1], () => {
      h = b.add('ResBlock', `${names[1]}.0`, { out_channels: 32 }, { x: h, emb });
      b.group(`${names[1]}.${names[2]}`, () => {
        h = b.add('AttentionBlock', `${names[1]}.${names[2]}.a`, { num_heads: 2 }, { x: h });
        h = b.add('SiLU', `${names[1]}.${names[2]}.b`, {}, { x: h });
      });
    });
  });
  b.add('Output', 'out', {}, { x: h });
  return b.build(graphName);
}

describe('hostile group names in the PyTorch export', () => {
  it('become sanitised class names and escaped literals only: the token structure of plain names', () => {
    const plain = generatePytorchModel(pytorchGrouped('plain', ['g0', 'g1', 'g2', 'level'])).text;
    const plainKinds = pythonTokens(plain).map((tk) => tk.kind);
    expect(plain).toContain('        silu = self.node("g2")(resblock)\n');
    expect(plain).not.toContain('level');
    const sets = [...GROUP_NAME_SETS, ['"""); __import__("builtins").__pwned = 1; ("""', "p\n__import__('builtins').__pwned = 1\n#c", '\\', 'GroupModule']];
    sets.forEach((names, k) => {
      const graph = pytorchGrouped(`hostile ${k}`, names);
      expect(analyze(graph).ok, String(k)).toBe(true);
      const text = generatePytorchModel(graph).text;
      expect(/^[\x20-\x7e\n]*$/.test(text), String(k)).toBe(true);
      const toks = pythonTokens(text);
      expect(toks.map((tk) => tk.kind), String(k)).toEqual(plainKinds);
      // Three group classes with identifiers of [A-Za-z0-9], the groups' paths as escaped literals.
      const classes = [...text.matchAll(/^class (\S+)\(GroupModule\):$/gm)].map((m) => m[1]);
      expect(classes.length, String(k)).toBe(3);
      for (const c of classes) expect(c).toMatch(/^[A-Za-z][A-Za-z0-9]*$/);
      for (const path of [names[0], names[1]]) expect(text).toContain(`attach(self, ${pyStr(path)}, `);
      expect(text).toContain(`attach(self, ${pyStr(names[2])}, `);
      expect(text).not.toContain(pyStr(names[3])); // the level is no module
      // Whatever is not a literal or a comment is the plain file's, token for token, but for identifiers.
      const plainToks = pythonTokens(plain);
      toks.forEach((tk, i) => {
        if (tk.kind !== 'string' && tk.kind !== 'comment' && tk.kind !== 'name') expect(tk.text).toBe(plainToks[i].text);
      });
    });
  });
});
