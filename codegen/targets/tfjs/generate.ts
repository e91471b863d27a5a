/**
 * Graph → one self-contained, strictly typed TensorFlow.js module. The block kernels and the
 * weight-loading code are copied from UNet Studio's own source (see `pool.ts`), so the export runs
 * exactly what the app's interpreter runs; the generator writes only the straight-line `forward`,
 * the model description and the class around them.
 */
import { ts } from 'ts-morph';
import type { ParamValue, TensorShape } from '../../../blocks/types';
import { analyze, countParameters, graphInputs, type Analysis } from '../../../graph/analyze';
import { INPUT_ROLES, inputRole, isInputRole, toTfjsShape, type InputRole } from '../../../blocks/roles';
import type { Graph } from '../../../graph/model';
import { expectedWeights } from '../../../graph/weights';
import { CodegenError } from '../../errors';
import { buildPool, closure, type Declaration, type DeclarationPool } from './pool';
import type { SourceTexts } from './sources';
import { className, identifier, literal, Namer } from './text';

export { CodegenError };

export interface GeneratedModule {
  readonly text: string;
  readonly className: string;
  /** The forward's parameters in order (`x`, `timesteps`, `y` as the graph has them). */
  readonly inputs: readonly InputRole[];
}

/** Declarations every module needs for loading and initialising weights. */
const SUPPORT = ['parseSafetensors', 'toFloat32', 'checkStateDict', 'fromPyTorch', 'initialValues', 'Rng', 'WeightGetter'];

const MODULE_NAMES = ['CONFIG', 'WEIGHTS', 'WeightName', 'EXPECTED', 'NO_WEIGHTS', ...INPUT_ROLES.map((r) => r.role), 'at', 'self'];

/** Globals the module's own code (below) reads; the class must not shadow them. */
const TEMPLATE_GLOBALS = ['Map', 'Object', 'Error', 'Readonly', 'Record', 'Uint8Array'];

/** Every identifier in the copied declarations (the names they declare and the globals they read). */
function identifiersIn(decls: readonly Declaration[]): Set<string> {
  const ids = new Set<string>();
  const visit = (n: ts.Node): void => {
    if (ts.isIdentifier(n)) ids.add(n.text);
    ts.forEachChild(n, visit);
  };
  visit(ts.createSourceFile('copied.ts', decls.map((d) => d.text).join('\n'), ts.ScriptTarget.ES2022));
  return ids;
}

/** Declared only where a weightless block uses it (an unused const would fail noUnusedLocals). */
const NO_WEIGHTS_DECL = `const NO_WEIGHTS: WeightGetter = (key) => {
  throw new Error(\`no weight \${key}\`);
};

`;

const EXPECTED_FROM_WEIGHTS = '(Object.keys(WEIGHTS) as WeightName[]).map((fullKey) => ({ fullKey, ...WEIGHTS[fullKey] }))';
/** A graph without weights: `WEIGHTS[never]` cannot be spread, so the (empty) list is typed directly. */
const EXPECTED_NONE = '[] as { fullKey: string; shape: readonly number[]; layout: WeightLayout; init: WeightInit }[]';

const fmtShape = (s: TensorShape) => `[${s.dims.join(', ')}]`;

function paramLiteral(params: Readonly<Record<string, ParamValue>>): string {
  const entries = Object.keys(params)
    .sort()
    .map((k) => `${/^[A-Za-z_][A-Za-z0-9_]*$/.test(k) ? k : literal(k)}: ${typeof params[k] === 'string' ? literal(params[k] as string) : String(params[k])}`);
  return entries.length === 0 ? '{}' : `{ ${entries.join(', ')} }`;
}

export function generateModule(graph: Graph, sources: SourceTexts): GeneratedModule {
  const a = analyze(graph);
  if (!a.ok) {
    const errs = a.problems.filter((p) => p.severity === 'error').map((p) => `  ${p.message}`);
    throw new CodegenError(`graph ${literal(graph.name)} is not valid, so no module was generated:\n${errs.join('\n')}`);
  }
  return emit(graph, a, buildPool(sources));
}

function emit(graph: Graph, a: Analysis, pool: DeclarationPool): GeneratedModule {
  const all = a.order.map((id) => a.info.get(id)!);
  // The forward computes only what leads to the Output: a valid graph may hold unused blocks (a
  // warning), whose never-read consts would fail the module's strict check (noUnusedLocals).
  const live = new Set<string>();
  const stack = all.filter((i) => i.def.io === 'output').map((i) => i.node.id);
  while (stack.length > 0) {
    const id = stack.pop()!;
    if (live.has(id)) continue;
    live.add(id);
    for (const v of Object.values(a.info.get(id)!.inputs)) stack.push(v.from);
  }
  const infos = all.filter((i) => live.has(i.node.id));
  const kernelNames: string[] = [];
  for (const inf of infos) {
    if (inf.def.io) continue;
    const k = pool.kernels.get(inf.def.type);
    if (!k) throw new CodegenError(`generator: no kernel found for block type ${inf.def.type}`);
    if (!kernelNames.includes(k)) kernelNames.push(k);
  }
  const copied = closure(pool, [...kernelNames, ...SUPPORT]);
  const cls = className(graph.name, new Set([...pool.decls.keys(), ...MODULE_NAMES, ...TEMPLATE_GLOBALS, ...identifiersIn(copied)]));
  const namer = new Namer([...pool.decls.keys(), ...MODULE_NAMES, cls]);

  // Inputs and outputs.
  // Inputs and their checks come from the role table (blocks/roles.ts), in the forward's order.
  const graphIns = graphInputs(a);
  const inputs = graphIns.map((g) => g.role.role);
  const outInfo = all.find((i) => i.def.io === 'output')!;
  const outShape = outInfo.out!;

  // Straight-line forward: one const per node, freed after its last use.
  const varOf = new Map<string, string>();
  const lastUse = new Map<string, number>();
  infos.forEach((inf, i) => {
    for (const v of Object.values(inf.inputs)) lastUse.set(v.from, i);
  });
  const body: string[] = [];
  let usesNoWeights = false;
  const argVars = new Set<string>();
  infos.forEach((inf, i) => {
    const name = inf.node.name;
    const role = inf.def.io;
    if (isInputRole(role) && !inputRole(role).castOnEntry) {
      varOf.set(inf.node.id, role);
      argVars.add(role);
    } else if (isInputRole(role)) {
      const v = namer.take(identifier(name, role));
      body.push(`    // ${literal(name)}: ${inf.def.displayName}, as ${inputRole(role).dtype}`);
      body.push(`    const ${v} = tf.cast(${role}, '${inputRole(role).dtype}');`);
      varOf.set(inf.node.id, v);
    } else if (role === 'output') {
      const src = varOf.get(Object.values(inf.inputs)[0].from)!;
      body.push(`    return ${argVars.has(src) ? `tf.clone(${src})` : src} as tf.Tensor4D;`);
    } else {
      const v = namer.take(identifier(name, inf.def.nameHint));
      const ins = Object.entries(inf.inputs).map(([port, src]) => `${port}: ${varOf.get(src.from)!}`);
      const hasWeights = inf.out !== null && inf.def.weights(Object.fromEntries(Object.entries(inf.inputs).map(([p, s]) => [p, s.shape!])), inf.params).length > 0;
      const w = hasWeights ? `at(${literal(name)})` : 'NO_WEIGHTS';
      usesNoWeights ||= !hasWeights;
      body.push(`    // ${literal(name)}: ${inf.def.displayName} → ${fmtShape(inf.out!)}`);
      // Each block in its own tidy: its temporaries are freed when it returns, not at the end of forward.
      body.push(`    const ${v} = tf.tidy(() => ${pool.kernels.get(inf.def.type)!}({ ${ins.join(', ')} }, ${w}, ${paramLiteral(inf.params)}));`);
      varOf.set(inf.node.id, v);
    }
    // Free what this node was the last to read (never the caller's own tensors).
    const free = [...new Set(Object.values(inf.inputs).map((s) => s.from))]
      .filter((from) => lastUse.get(from) === i && role !== 'output')
      .map((from) => varOf.get(from)!)
      .filter((v) => !argVars.has(v));
    if (free.length > 0) body.push(`    tf.dispose([${free.join(', ')}]);`);
  });

  const weights = expectedWeights(a);
  const params = countParameters(a);
  const weightLines = weights.map(
    (w) =>
      `  ${literal(w.fullKey)}: { shape: [${w.shape.join(', ')}], layout: ${literal(w.layout)}, init: ${initLiteral(w.init)}, role: ${literal(w.role)} },`,
  );

  const sig = graphIns.map(({ role }) => `${role.role}: tf.Tensor${role.rank}D`).join(', ');
  // Per-sample shapes are checked in the module's layout; the first input sets the batch.
  const checks: string[] = [];
  const first = graphIns[0]?.role.role;
  for (const { role, info } of graphIns) {
    const r = role.role;
    const per = toTfjsShape(role, [0, ...info.out!.dims]).slice(1);
    const batch = r !== first ? ` || ${r}.shape[0] !== ${first}.shape[0]` : '';
    if (per.length === 0) {
      checks.push(`    if (${r}.rank !== ${role.rank}${batch}) throw new Error(\`${cls}.forward: ${r} must be [batch], got [\${${r}.shape.join(', ')}]\`);`);
    } else {
      checks.push(
        `    if (${r}.rank !== ${role.rank}${per.map((d, i) => ` || ${r}.shape[${i + 1}] !== ${d}`).join('')}${batch}) {`,
        `      throw new Error(\`${cls}.forward: ${r} must be [batch, ${per.join(', ')}]${role.tfjsLayout ? ` (${role.tfjsLayout})` : ''}, got [\${${r}.shape.join(', ')}]\`);`,
        '    }',
      );
    }
  }

  const text = `// Generated by UNet Studio from ${literal(graph.name)}. Do not edit.
import * as tf from '@tensorflow/tfjs';

/**
 * ${literal(graph.name)}${graph.description ? `: ${literal(graph.description)}` : ''}
 * Tensors are NHWC inside (\`[batch, height, width, channels]\`); weights are keyed by their PyTorch
 * state_dict names and given in PyTorch's layouts.
 */
export const CONFIG = {
  name: ${literal(graph.name)},
  /** Per-sample input shapes as C×H×W (PyTorch's reading); \`forward\` takes NHWC. */
  inputs: { ${[
    ...graphIns.map(({ role, info }) => (role.kind === 'label' ? `${role.role}: { numClasses: ${info.out!.numClasses ?? 0} }` : `${role.role}: [${info.out!.dims.join(', ')}]`)),
  ].join(', ')} },
  output: [${outShape.dims.join(', ')}],
  parameterCount: ${params},
} as const;

/** Every weight by PyTorch state_dict name: its PyTorch shape, layout and PyTorch-default initialiser. */
export const WEIGHTS = {
${weightLines.join('\n')}
} as const;

export type WeightName = keyof typeof WEIGHTS;

const EXPECTED = ${weights.length > 0 ? EXPECTED_FROM_WEIGHTS : EXPECTED_NONE};

${usesNoWeights ? NO_WEIGHTS_DECL : ''}export class ${cls} {
  /** Trainable parameters, as PyTorch counts them (BatchNorm statistics excluded). */
  static readonly parameterCount = ${params};
  readonly parameterCount = ${params};
  private weights: Map<string, tf.Tensor> | null;

  private constructor(weights: Map<string, tf.Tensor>) {
    this.weights = weights;
  }

  /** From tensors in PyTorch's layouts keyed by state_dict name; strict like \`load_state_dict\`. The tensors stay the caller's. */
  static fromTensors(tensors: Readonly<Record<WeightName, tf.Tensor>>, source = 'tensors'): ${cls} {
    const given: Readonly<Record<string, tf.Tensor>> = tensors;
    checkStateDict(EXPECTED, new Map(Object.keys(given).map((k) => [k, given[k].shape])), source);
    return new ${cls}(new Map(EXPECTED.map((w) => [w.fullKey, tf.tidy(() => fromPyTorch(given[w.fullKey], w.layout))])));
  }

  /** From a \`.safetensors\` file of the PyTorch state_dict (F32, F16, BF16, I32, I64); validated before anything is allocated. */
  static fromSafetensors(bytes: Uint8Array, source = 'safetensors'): ${cls} {
    const file = parseSafetensors(bytes, { source });
    checkStateDict(EXPECTED, new Map([...file.tensors].map(([k, t]) => [k, t.shape])), source);
    return new ${cls}(
      new Map(
        EXPECTED.map((w) => {
          const t = file.tensors.get(w.fullKey)!;
          return [w.fullKey, tf.tidy(() => fromPyTorch(tf.tensor(toFloat32(t), [...t.shape], 'float32'), w.layout))];
        }),
      ),
    );
  }

  /** Freshly initialised as PyTorch would (seeded, so the same seed gives the same model). */
  static random(seed = 0): ${cls} {
    const rng = new Rng(seed);
    return new ${cls}(
      new Map(EXPECTED.map((w) => [w.fullKey, tf.tidy(() => fromPyTorch(tf.tensor(initialValues(w.shape, w.init, rng), [...w.shape], 'float32'), w.layout))])),
    );
  }

  /** One forward pass; returns ${fmtShape(outShape)} per sample as \`[batch, ${outShape.dims[1]}, ${outShape.dims[2]}, ${outShape.dims[0]}]\` (NHWC). */
  forward(${sig}): tf.Tensor4D {
    const weights = this.weights;
    if (!weights) throw new Error('${cls}: forward after dispose()');
${checks.join('\n')}
    const at = (node: string): WeightGetter => (key) => {
      const t = weights.get(\`\${node}.\${key}\`);
      if (!t) throw new Error(\`weight \${node}.\${key} is not loaded\`);
      return t;
    };
    return tf.tidy(() => this.run(${[...inputs, 'at'].join(', ')}));
  }

  private run(${sig ? `${sig}, ` : ''}at: (node: string) => WeightGetter): tf.Tensor4D {
${body.join('\n')}
  }

  /** Frees every weight tensor. */
  dispose(): void {
    if (this.weights) for (const t of this.weights.values()) t.dispose();
    this.weights = null;
  }
}

// ---------------------------------------------------------------------------------------------
// Copied from UNet Studio's block kernels and runtime (one implementation: the app runs these too).

${copied.map((d) => d.text).join('\n\n')}
`;
  return { text, className: cls, inputs };
}

function initLiteral(init: { kind: string; bound?: number; std?: number; value?: number }): string {
  if (init.kind === 'uniform') return `{ kind: "uniform", bound: ${init.bound} }`;
  if (init.kind === 'normal') return `{ kind: "normal", std: ${init.std} }`;
  return `{ kind: "const", value: ${init.value} }`;
}
