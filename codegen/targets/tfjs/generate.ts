/**
 * Graph → one self-contained, strictly typed TensorFlow.js module. The block kernels and the
 * weight-loading code are copied from UNet Studio's own source (see `pool.ts`), so the export runs
 * exactly what the app's interpreter runs; the generator writes only the straight-line `forward`,
 * the model description and the class around them.
 */
import { ts } from 'ts-morph';
import type { ParamValue, TensorShape } from '../../../blocks/types';
import { analyze, countParameters, graphInputs, type Analysis, type NodeInfo } from '../../../graph/analyze';
import { INPUT_ROLES, inputRole, isInputRole, toTfjsShape, type InputRole } from '../../../blocks/roles';
import type { Graph } from '../../../graph/model';
import { expectedWeights } from '../../../graph/weights';
import { CodegenError } from '../../errors';
import { buildPool, closure, type Declaration, type DeclarationPool } from './pool';
import type { SourceTexts } from './sources';
import { className, functionName, identifier, literal, Namer } from './text';
import { planHierarchy, type Definition, type GroupInstance, type Item } from './hierarchy';

export { CodegenError };

export interface GeneratedModule {
  readonly text: string;
  readonly className: string;
  /** The forward's parameters in order (`x`, `timesteps`, `y` as the graph has them). */
  readonly inputs: readonly InputRole[];
}

/** Declarations every module needs for loading and initialising weights. */
const SUPPORT = ['parseSafetensors', 'toFloat32', 'checkStateDict', 'fromPyTorch', 'initialValues', 'Rng', 'WeightGetter'];

const MODULE_LEVEL = ['CONFIG', 'WEIGHTS', 'WeightName', 'EXPECTED', 'NO_WEIGHTS'];
const MODULE_NAMES = [...MODULE_LEVEL, ...INPUT_ROLES.map((r) => r.role), 'at', 'self'];

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
  const copiedIds = identifiersIn(copied);
  const cls = className(graph.name, new Set([...pool.decls.keys(), ...MODULE_NAMES, ...TEMPLATE_GLOBALS, ...copiedIds]));

  // Inputs and outputs.
  // Inputs and their checks come from the role table (blocks/roles.ts), in the forward's order.
  const graphIns = graphInputs(a);
  const inputs = graphIns.map((g) => g.role.role);
  const outInfo = all.find((i) => i.def.io === 'output')!;
  const outShape = outInfo.out!;

  // The forward: one const per block, freed after its last use; with groups, one call per group
  // instance of a function per group definition (hierarchy.ts), the blocks inside run the same way.
  const hierarchy = planHierarchy(graph, a, infos);
  // Module-level functions: no clash with the copied code, the globals it reads or the class.
  const fnNamer = new Namer([...pool.decls.keys(), ...MODULE_NAMES, ...TEMPLATE_GLOBALS, ...copiedIds, cls]);
  const fnNames = new Map<Definition, string>();
  for (const def of hierarchy?.definitions ?? []) fnNames.set(def, fnNamer.take(functionName(def.instances[0].group.name, 'group')));
  const namer = new Namer([...pool.decls.keys(), ...MODULE_NAMES, cls, ...fnNames.values()]);
  const emitter: Emitter = { pool, a, cls, fnNames, usesNoWeights: false };

  const varOf = new Map<string, string>();
  const argVars = new Set<string>();
  const items: readonly Item[] = hierarchy ? hierarchy.root : infos.map((inf) => ({ kind: 'node', id: inf.node.id }));
  const body = emitScope(emitter, items, {
    namer,
    varOf,
    keep: new Set(),
    indent: '    ',
    weights: (id) => `at(${literal(a.info.get(id)!.node.name)})`,
    groupWeights: (g) => {
      const names = weightedMembers(emitter, g.order).map((id) => `at(${literal(a.info.get(id)!.node.name)})`);
      return names.length > 0 ? `[${names.join(', ')}]` : null;
    },
    label: (id) => literal(a.info.get(id)!.node.name),
    groupLabel: (g) => literal(g.group.name),
    varName: (id) => identifier(a.info.get(id)!.node.name, a.info.get(id)!.def.nameHint),
    io: (inf, line) => {
      const name = inf.node.name;
      const role = inf.def.io;
      if (isInputRole(role) && !inputRole(role).castOnEntry) {
        varOf.set(inf.node.id, role);
        argVars.add(role);
      } else if (isInputRole(role)) {
        const v = namer.take(identifier(name, role));
        line(`// ${literal(name)}: ${inf.def.displayName}, as ${inputRole(role).dtype}`);
        line(`const ${v} = tf.cast(${role}, '${inputRole(role).dtype}');`);
        varOf.set(inf.node.id, v);
      } else {
        const src = varOf.get(Object.values(inf.inputs)[0].from)!;
        line(`return ${argVars.has(src) ? `tf.clone(${src})` : src} as tf.Tensor4D;`);
      }
    },
    argVars,
  });
  const functions = (hierarchy?.definitions ?? []).map((def) => emitFunction(emitter, def));
  const usesNoWeights = emitter.usesNoWeights;

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

${functions.length > 0 ? `// ---------------------------------------------------------------------------------------------
// One function per group definition, called once per instance with that instance's weights.

${functions.join('\n\n')}

` : ''}// ---------------------------------------------------------------------------------------------
// Copied from UNet Studio's block kernels and runtime (one implementation: the app runs these too).

${copied.map((d) => d.text).join('\n\n')}
`;
  return { text, className: cls, inputs };
}

/** What the forward's and the group functions' bodies share. */
interface Emitter {
  readonly pool: DeclarationPool;
  readonly a: Analysis;
  readonly cls: string;
  readonly fnNames: ReadonlyMap<Definition, string>;
  usesNoWeights: boolean;
}

/** One scope's body: the forward's (`run`) or a group function's. */
interface Scope {
  readonly namer: Namer;
  /** Node id → the local holding its output. */
  readonly varOf: Map<string, string>;
  /** Node ids whose tensors this scope must not free (the caller's, and what it returns). */
  readonly keep: ReadonlySet<string>;
  /** Locals that are the caller's own tensors (the forward's parameters). */
  readonly argVars: ReadonlySet<string>;
  readonly indent: string;
  /** The WeightGetter expression for a block that owns weights. */
  readonly weights: (id: string) => string;
  /** The weights argument of a call to a group instance, or null when its definition takes none. */
  readonly groupWeights: (g: GroupInstance) => string | null;
  /** A block's name in comments (an escaped literal). */
  readonly label: (id: string) => string;
  /** A nested group's name in comments (an escaped literal). */
  readonly groupLabel: (g: GroupInstance) => string;
  /** The base of the local that holds a block's output. */
  readonly varName: (id: string) => string;
  /** Input and Output blocks (the forward only). */
  readonly io?: (inf: NodeInfo, line: (text: string) => void) => void;
  /**
   * A group function's inputs: node id → the expression saying whether the caller handed this
   * tensor over (`own[k]`), so the function frees it after its last use inside, where the flat
   * module would. Absent in the forward.
   */
  readonly owned?: ReadonlyMap<string, string>;
}

function hasWeights(inf: NodeInfo): boolean {
  return inf.out !== null && inf.def.weights(Object.fromEntries(Object.entries(inf.inputs).map(([p, s]) => [p, s.shape!])), inf.params).length > 0;
}

const weightedMembers = (e: Emitter, order: readonly string[]) => order.filter((id) => hasWeights(e.a.info.get(id)!));

/** The scope's items in order, each tensor freed after its last use in the scope (unless kept). */
function emitScope(e: Emitter, items: readonly Item[], s: Scope): string[] {
  const body: string[] = [];
  const line = (text: string) => body.push(`${s.indent}${text}`);
  const uses = (it: Item): string[] => (it.kind === 'node' ? [...new Set(Object.values(e.a.info.get(it.id)!.inputs).map((v) => v.from))] : it.group.inputs);
  const lastUse = new Map<string, number>();
  items.forEach((it, i) => {
    for (const from of uses(it)) lastUse.set(from, i);
  });
  /** Whether this scope may free `from` (its own local, or a tensor its caller handed over): 'true', 'false' or `own[k]`. */
  const mayFree = (from: string): string => {
    const owned = s.owned?.get(from);
    if (owned !== undefined) return owned;
    return s.keep.has(from) || s.argVars.has(s.varOf.get(from)!) ? 'false' : 'true';
  };
  items.forEach((it, i) => {
    let isOutput = false;
    /** Tensors handed over to a group call at their last use (it frees them). */
    const handed = new Set<string>();
    if (it.kind === 'group') {
      const g = it.group;
      const fn = e.fnNames.get(g.def!)!;
      const outs = g.outputs.map((id) => s.namer.take(s.varName(id)));
      const w = s.groupWeights(g);
      const own = g.inputs.map((id) => {
        if (lastUse.get(id) !== i) return 'false';
        const may = mayFree(id);
        if (may !== 'false') handed.add(id);
        return may;
      });
      const args = [...(w === null ? [] : [w]), `[${own.join(', ')}]`, ...g.inputs.map((id) => s.varOf.get(id)!)];
      const shapes = g.outputs.map((id) => fmtShape(e.a.info.get(id)!.out!)).join(', ');
      line(`// ${s.groupLabel(g)}: group → ${shapes}`);
      line(`const ${outs.length === 1 ? outs[0] : `[${outs.join(', ')}]`} = ${fn}(${args.join(', ')});`);
      g.outputs.forEach((id, k) => s.varOf.set(id, outs[k]));
    } else {
      const inf = e.a.info.get(it.id)!;
      if (inf.def.io) {
        s.io!(inf, line);
        isOutput = inf.def.io === 'output';
      } else {
        const v = s.namer.take(s.varName(it.id));
        const ins = Object.entries(inf.inputs).map(([port, src]) => `${port}: ${s.varOf.get(src.from)!}`);
        const weighted = hasWeights(inf);
        e.usesNoWeights ||= !weighted;
        line(`// ${s.label(it.id)}: ${inf.def.displayName} → ${fmtShape(inf.out!)}`);
        // Each block in its own tidy: its temporaries are freed when it returns, not at the end of forward.
        line(`const ${v} = tf.tidy(() => ${e.pool.kernels.get(inf.def.type)!}({ ${ins.join(', ')} }, ${weighted ? s.weights(it.id) : 'NO_WEIGHTS'}, ${paramLiteral(inf.params)}));`);
        s.varOf.set(it.id, v);
      }
    }
    // Free what this item was the last to read (never the caller's own tensors; a handed-over one
    // only when the caller said so).
    const last = uses(it).filter((from) => lastUse.get(from) === i && !isOutput && !handed.has(from));
    const free = last
      .filter((from) => mayFree(from) === 'true')
      .map((from) => s.varOf.get(from)!);
    if (free.length > 0) line(`tf.dispose([${free.join(', ')}]);`);
    for (const from of last) {
      const may = mayFree(from);
      if (may !== 'true' && may !== 'false') line(`if (${may}) ${s.varOf.get(from)!}.dispose();`);
    }
  });
  return body;
}

/**
 * A group definition as one function, written from its first instance. Parameters: the
 * instance's WeightGetters (its weighted blocks in the order they run, nested groups' included),
 * then the tensors it reads, named after the port that first reads them. The caller keeps its
 * tensors; the function frees its own after their last use and returns its outputs (a tuple when
 * several are read outside).
 */
function emitFunction(e: Emitter, def: Definition): string {
  const g = def.instances[0];
  const fn = e.fnNames.get(def)!;
  const info = (id: string) => e.a.info.get(id)!;
  // Locals and parameters: no clash with module-level names (the forward's input names are free here).
  const namer = new Namer([...e.pool.decls.keys(), ...MODULE_LEVEL, e.cls, ...e.fnNames.values(), 'w', 'own']);
  const varOf = new Map<string, string>();
  const params = g.inputs.map((src) => {
    const reader = g.order.find((id) => Object.values(info(id).inputs).some((v) => v.from === src))!;
    const port = Object.entries(info(reader).inputs).find(([, v]) => v.from === src)![0];
    const p = namer.take(identifier(port, 'input'));
    varOf.set(src, p);
    return p;
  });
  const slots = weightedMembers(e, g.order);
  const slotOf = new Map(slots.map((id, k) => [id, k]));
  // A member's label: its name relative to the group when every instance names it alike.
  const labels = new Map(
    g.order.map((id, k) => {
      const rel = def.instances.map((inst) => {
        const name = info(inst.order[k]).node.name;
        return name.startsWith(`${inst.group.name}.`) ? name.slice(inst.group.name.length + 1) : null;
      });
      return [id, rel[0] !== null && rel.every((r) => r === rel[0]) ? literal(rel[0]) : `member ${k}`];
    }),
  );
  const body = emitScope(e, g.items, {
    namer,
    varOf,
    owned: new Map(g.inputs.map((src, k) => [src, `own[${k}]`])),
    keep: new Set([...g.inputs, ...g.outputs]),
    argVars: new Set(),
    indent: '  ',
    weights: (id) => `w[${slotOf.get(id)!}]`,
    groupWeights: (c) => {
      const ws = weightedMembers(e, c.order);
      if (ws.length === 0) return null;
      const from = slotOf.get(ws[0])!;
      return from === 0 && ws.length === slots.length ? 'w' : `w.slice(${from}, ${from + ws.length})`;
    },
    label: (id) => labels.get(id)!,
    groupLabel: (c) => {
      // The nested group's name when every instance's is the same or the same relative to the instance.
      const j = g.items.findIndex((it) => it.kind === 'group' && it.group === c);
      const names = def.instances.map((inst) => {
        const it = inst.items[j];
        return it.kind === 'group' ? it.group.group.name : '';
      });
      if (names.every((n) => n === names[0])) return literal(names[0]);
      const rel = def.instances.map((inst, k) => (names[k].startsWith(`${inst.group.name}.`) ? names[k].slice(inst.group.name.length + 1) : null));
      return rel[0] !== null && rel.every((r) => r === rel[0]) ? literal(rel[0]) : `group ${j}`;
    },
    varName: (id) => identifier(info(id).def.nameHint, 'h'),
  });
  const outs = g.outputs.map((id) => varOf.get(id)!);
  const sig = [...(slots.length > 0 ? ['w: readonly WeightGetter[]'] : []), 'own: readonly boolean[]', ...params.map((p) => `${p}: tf.Tensor`)].join(', ');
  const ret = outs.length === 1 ? 'tf.Tensor' : `[${outs.map(() => 'tf.Tensor').join(', ')}]`;
  const names = def.instances.map((inst) => literal(inst.group.name)).join(', ');
  return `/**
 * Group ${def.instances.length === 1 ? names : `definition shared by ${def.instances.length} instances: ${names}`}.
 * ${slots.length > 0 ? `\`w\`: the instance's weights, one getter per block that has some, in order. ` : ''}\`own\`: per input, whether the caller hands it over (freed here after its last use). Returns ${outs.length === 1 ? fmtShape(info(g.outputs[0]).out!) : `[${g.outputs.map((id) => fmtShape(info(id).out!)).join(', ')}]`}.
 */
function ${fn}(${sig}): ${ret} {
${body.join('\n')}
  return ${outs.length === 1 ? outs[0] : `[${outs.join(', ')}]`};
}`;
}

function initLiteral(init: { kind: string; bound?: number; std?: number; value?: number }): string {
  if (init.kind === 'uniform') return `{ kind: "uniform", bound: ${init.bound} }`;
  if (init.kind === 'normal') return `{ kind: "normal", std: ${init.std} }`;
  return `{ kind: "const", value: ${init.value} }`;
}
