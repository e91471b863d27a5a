/**
 * The PyTorch export's `model.py`: one self-contained file depending on `torch` alone. It holds the
 * class of each block type the graph uses (their declarations' `pytorch.source`), the model class,
 * named from the graph, whose modules sit at the nodes' names (so `state_dict()` keys are exactly
 * the graph's weight names, `graph/weights.ts`), `build_model()` and the metadata the training
 * script reads. Deterministic: the same graph gives the same bytes.
 */
import { CodegenError } from '../../errors';
import type { BlockDef, ParamValues, PytorchBlock, TensorShape } from '../../../blocks/types';
import { PYTORCH_HELPERS, pyInt, type PytorchHelper } from '../../../blocks/pytorch';
import { BLOCK_TYPES, blockDef } from '../../../blocks/registry';
import { analyze, countParameters, inputShapes, nodeWeights, type NodeInfo } from '../../../graph/analyze';
import type { Graph } from '../../../graph/model';
import { pyClassName, pyIdentifier, PyNamer, pyStr } from './python';
import { INPUT_ROLES } from '../../../blocks/roles';
import type { Item } from '../tfjs/hierarchy';
import { planModules, type ModuleClass, type ModuleTree } from './modules';

/** An invalid graph, or one whose names cannot all be PyTorch module paths: `problems` lists why. */
/** A graph the PyTorch export cannot write: a `CodegenError`, so the CLI and the code panel show it as it stands. */
export class PytorchExportError extends CodegenError {
  override name = 'PytorchExportError';
  constructor(
    message: string,
    readonly problems: readonly string[],
  ) {
    super(message);
  }
}

export interface PytorchModel {
  /** The text of `model.py`. */
  readonly text: string;
  /** The model class's name. */
  readonly className: string;
}

/** Names `model.py` declares besides the block classes (the model class must differ from all). */
const MODULE_NAMES = [
  'MODEL_NAME',
  'INPUT_SHAPE',
  'OUTPUT_SHAPE',
  'NUM_CLASSES',
  'INPUT_NAMES',
  'PARAMETER_COUNT',
  'UNUSED_PARAMETERS',
  'Container',
  'attach',
  'build_model',
  'zero_module',
  'GroupNorm32',
  'GroupModule',
  'CONTEXT_TOKENS',
  'CONTEXT_DIM',
  'GEGLU',
  'FeedForward',
  'CrossAttention',
  'BasicTransformerBlock',
] as const;

const HELPER_ORDER: readonly PytorchHelper[] = ['zero_module', 'GroupNorm32', 'ldm_transformer'];


const CONTAINER = `class Container(nn.Module):
    """Holds the modules under one segment of the nodes' names (no forward of its own)."""

    def __setattr__(self, name: str, value: object) -> None:
        # A child may have any name (even "training"): plain attributes bypass the child-module check.
        if isinstance(value, (nn.Module, torch.Tensor)) or name not in self.__dict__.get("_modules", {}):
            super().__setattr__(name, value)
        else:
            object.__setattr__(self, name, value)`;

const ATTACH = `def attach(root: nn.Module, name: str, module: nn.Module) -> None:
    """Registers module at the dotted path name under root (containers made on the way), so that its
    state_dict keys are name + "." + its own keys. Registration goes through _modules, so any segment
    works: digits, an empty one, or one such as "forward"."""
    *parents, last = name.split(".")
    for segment in parents:
        child = root._modules.get(segment)
        if child is None:
            child = Container()
            root._modules[segment] = child
        root = child
    held = root._modules.get(last)
    if held is not None:  # a container made for deeper names: its children move into the module
        module._modules.update(held._modules)
    root._modules[last] = module`;

/** `3x16x16`, `128`, `t`, `y` (ASCII, for comments). */
function shapeText(s: TensorShape | null): string {
  if (!s) return '?';
  if (s.kind === 'timesteps') return 't';
  if (s.kind === 'label') return 'y';
  return s.dims.join('x');
}

function pytorchOf(def: BlockDef<ParamValues>): PytorchBlock<ParamValues> | undefined {
  return def.pytorch;
}

/**
 * Names that cannot be module paths even through `_modules`: a node placed under another block's
 * own child module (`r.in_layers` under the ResBlock `r`), or named `training` under a block
 * (`train()` assigns that attribute on every module).
 */
function pathProblems(modules: readonly NodeInfo[]): string[] {
  const byName = new Map(modules.map((inf) => [inf.node.name, inf]));
  const problems: string[] = [];
  for (const inner of modules) {
    const segments = inner.node.name.split('.');
    for (let k = 1; k < segments.length; k++) {
      const outer = byName.get(segments.slice(0, k).join('.'));
      if (!outer) continue;
      const children = new Set(nodeWeights(outer).filter((w) => w.key.includes('.')).map((w) => w.key.split('.')[0]));
      const seg = segments[k];
      if (children.has(seg)) {
        problems.push(
          `${outer.def.displayName} ${pyStr(outer.node.name)} has a submodule ${pyStr(seg)} of its own, so ${inner.def.displayName} ${pyStr(inner.node.name)} cannot sit inside it: rename one of the two blocks`,
        );
      } else if (seg === 'training') {
        problems.push(
          `${inner.def.displayName} ${pyStr(inner.node.name)}: a module named "training" inside ${outer.def.displayName} ${pyStr(outer.node.name)} would break PyTorch's train()/eval(): rename the block`,
        );
      }
    }
  }
  return problems;
}

const GROUP_MODULE = `class GroupModule(Container):
    """A group of the graph as a module: its blocks and nested groups sit at their names relative to
    the group's, so the state_dict keys are those of the same graph without groups."""

    def node(self, name: str) -> nn.Module:
        """The module at this dotted path under the group."""
        module: nn.Module = self
        for segment in name.split("."):
            module = module._modules[segment]
        return module`;

/** A block's forward call as two lines (a comment, the call); records its local. */
function blockCall(inf: NodeInfo, label: string, v: string, local: Map<string, string>): string[] {
  const ins = pytorchOf(inf.def)!.forwardInputs.map((port) => inf.inputs[port]);
  const shapes = ins.map((i) => shapeText(i.shape)).join(', ');
  const args = ins.map((i) => local.get(i.from)!).join(', ');
  local.set(inf.node.id, v);
  return [`        # ${label} ${inf.def.type}: ${shapes} -> ${shapeText(inf.out)}`, `        ${v} = self.node(${label})(${args})`];
}

/** `64x16x16, 256 -> 64x16x16` for a group's inputs and outputs. */
function groupShapes(inputs: readonly string[], outputs: readonly string[], byId: ReadonlyMap<string, NodeInfo>): string {
  const text = (ids: readonly string[]) => ids.map((id) => shapeText(byId.get(id)!.out)).join(', ');
  return `${text(inputs)} -> ${text(outputs)}`;
}

/**
 * A group class, written from its first instance: `__init__` registers its blocks and nested
 * groups at their relative names (in the order the flat model registers them), `forward` takes
 * the tensors the group reads from outside (named after the port that first reads each) and
 * returns those read outside it (a tuple when several).
 */
function groupClass(c: ModuleClass, tree: ModuleTree, classNames: ReadonlyMap<ModuleClass, string>, byId: ReadonlyMap<string, NodeInfo>, moduleLevel: readonly string[]): string {
  const s = c.scopes[0];
  const g = s.inst;
  const namer = new PyNamer(moduleLevel);
  const local = new Map<string, string>();
  const params = g.inputs.map((src) => {
    const reader = g.order.find((id) => Object.values(byId.get(id)!.inputs).some((v) => v.from === src))!;
    const port = Object.entries(byId.get(reader)!.inputs).find(([, v]) => v.from === src)![0];
    const p = namer.take(pyIdentifier(port, 'input'));
    local.set(src, p);
    return p;
  });
  const init: string[] = [];
  const body: string[] = [];
  for (const e of s.entries) {
    if (e.kind === 'group') {
      init.push(`        attach(self, ${pyStr(e.rel)}, ${classNames.get(e.scope.cls!)!}())`);
      continue;
    }
    const p = pytorchOf(e.inf.def)!;
    init.push(`        attach(self, ${pyStr(e.rel)}, ${p.className}(${p.ctorArgs(inputShapes(e.inf), e.inf.params).map(([k, v]) => `${k}=${v}`).join(', ')}))`);
    if (!e.live) body.push(`        # ${pyStr(e.rel)} ${e.inf.def.type} does not lead to the output: not run (its module stays, for the state_dict)`);
  }
  const rel = (name: string) => name.slice(s.path.length + 1);
  for (const it of g.items as readonly Item[]) {
    if (it.kind === 'group') {
      const child = tree.scopeOf.get(it.group)!;
      const outs = it.group.outputs.map((id) => namer.take(pyIdentifier(byId.get(id)!.def.nameHint, 'h')));
      body.push(`        # ${pyStr(rel(child.path))} ${classNames.get(child.cls!)!}: ${groupShapes(it.group.inputs, it.group.outputs, byId)}`);
      body.push(`        ${outs.join(', ')} = self.node(${pyStr(rel(child.path))})(${it.group.inputs.map((id) => local.get(id)!).join(', ')})`);
      it.group.outputs.forEach((id, k) => local.set(id, outs[k]));
      continue;
    }
    const inf = byId.get(it.id)!;
    body.push(...blockCall(inf, pyStr(rel(inf.node.name)), namer.take(pyIdentifier(inf.def.nameHint, 'h')), local));
  }
  const outs = g.outputs.map((id) => local.get(id)!);
  const ret = outs.length === 1 ? 'torch.Tensor' : `Tuple[${outs.map(() => 'torch.Tensor').join(', ')}]`;
  const others = c.scopes.slice(1).map((o) => pyStr(o.path));
  const sig = ['self', ...params.map((p) => `${p}: torch.Tensor`)].join(', ');
  return `class ${classNames.get(c)!}(GroupModule):
    # Group ${pyStr(s.path)}${others.length > 0 ? `; the same module also at ${others.join(', ')}` : ''}.

    def __init__(self) -> None:
        super().__init__()
${init.join('\n')}

    def forward(${sig}) -> ${ret}:
${body.join('\n')}
        return ${outs.join(', ')}`;
}

export function generatePytorchModel(graph: Graph): PytorchModel {
  const a = analyze(graph);
  if (!a.ok) {
    const errs = a.problems.filter((p) => p.severity === 'error').map((p) => p.message);
    throw new PytorchExportError(`graph ${pyStr(graph.name)} is not valid, so no model.py was generated:\n${errs.map((e) => `  ${e}`).join('\n')}`, errs);
  }
  const infos = a.order.map((id) => a.info.get(id)!);
  const byId = new Map(infos.map((inf) => [inf.node.id, inf]));
  const byRole = new Map<string, NodeInfo>();
  for (const inf of infos) if (inf.def.io) byRole.set(inf.def.io, inf);
  const image = byRole.get('x');
  const output = byRole.get('output');
  const missing: string[] = [];
  if (!image) missing.push('the graph has no Image input');
  if (!output) missing.push('the graph has no Output');
  // Document order is PyTorch's registration order for templates: state_dict() lists keys in it.
  const modules = graph.nodes.map((n) => byId.get(n.id)!).filter((inf) => !inf.def.io);
  for (const inf of modules) {
    if (!pytorchOf(inf.def)) missing.push(`block type ${inf.def.type} has no PyTorch declaration (blocks/defs: its "pytorch" field)`);
  }
  missing.push(...pathProblems(modules));
  if (missing.length > 0 || !image || !output) {
    throw new PytorchExportError(`graph ${pyStr(graph.name)} cannot be exported to PyTorch:\n${missing.map((e) => `  ${e}`).join('\n')}`, missing);
  }

  // Block classes (registry order) and the helpers they need.
  const used = new Set(modules.map((inf) => inf.def.type));
  const kinds = BLOCK_TYPES.filter((t) => used.has(t)).map((t) => pytorchOf(blockDef(t))!);
  const helpers = HELPER_ORDER.filter((h) => kinds.some((k) => k.helpers?.includes(h)));
  const allClassNames = BLOCK_TYPES.map((t) => blockDef(t).pytorch?.className).filter((c): c is string => c !== undefined);
  const cls = pyClassName(graph.name, new Set([...MODULE_NAMES, ...allClassNames]));

  // Local names in forward: the inputs' parameters, then one per live node.
  const live = new Set<string>();
  const stack = [output.node.id];
  while (stack.length > 0) {
    const id = stack.pop()!;
    if (live.has(id)) continue;
    live.add(id);
    for (const v of Object.values(byId.get(id)!.inputs)) stack.push(v.from);
  }
  // Parameters of blocks that do not lead to the Output get no gradient (DistributedDataParallel must be told).
  const unusedParameters = modules.some((inf) => !live.has(inf.node.id) && nodeWeights(inf).some((w) => w.role === 'param'));
  // The forward's parameters: the graph's input roles in the table's order (blocks/roles.ts), named as the roles.
  const roleDefs = INPUT_ROLES.filter((r) => byRole.has(r.role));
  const roles = roleDefs.map((r) => r.role);
  const namer = new PyNamer([...MODULE_NAMES, ...allClassNames, cls, ...INPUT_ROLES.map((r) => r.role), 'self']);
  const local = new Map<string, string>();
  for (const r of roles) local.set(byRole.get(r)!.node.id, r);

  const ctor = (inf: NodeInfo): string => {
    const p = pytorchOf(inf.def)!;
    return `${p.className}(${p.ctorArgs(inputShapes(inf), inf.params).map(([k, v]) => `${k}=${v}`).join(', ')})`;
  };
  // Groups that are module paths become modules of their own (modules.ts); else the flat tree.
  const tree = planModules(graph, a, infos.filter((inf) => live.has(inf.node.id)), ctor);
  const classNames = new Map<ModuleClass, string>();
  if (tree) {
    const taken = new Set([...MODULE_NAMES, ...allClassNames, cls]);
    for (const c of tree.classes) {
      const name = pyClassName(c.scopes[0].path, taken);
      taken.add(name);
      classNames.set(c, name);
    }
    for (const name of classNames.values()) namer.reserve(name);
  }

  const init: string[] = [];
  if (tree) {
    for (const e of tree.root) {
      if (e.kind === 'node') init.push(`        attach(self, ${pyStr(e.inf.node.name)}, ${ctor(e.inf)})`);
      else init.push(`        attach(self, ${pyStr(e.scope.path)}, ${classNames.get(e.scope.cls!)!}())`);
    }
  } else {
    for (const inf of modules) init.push(`        attach(self, ${pyStr(inf.node.name)}, ${ctor(inf)})`);
  }

  const body: string[] = [];
  // An optional input (the class label) that the model reads must be given.
  for (const r of roleDefs.filter((d) => d.pytorch.optional && live.has(byRole.get(d.role)!.node.id))) {
    body.push(`        if ${r.role} is None:`, `            raise ValueError(${pyStr(`this model reads the ${r.label}: pass ${r.role}`)})`);
  }
  const notRun = (label: string, inf: NodeInfo) => `# ${label} ${inf.def.type} does not lead to the output: not run (its module stays, for the state_dict)`;
  let result = 'x';
  if (tree) {
    for (const e of tree.root) if (e.kind === 'node' && !e.live) body.push(`        ${notRun(pyStr(e.inf.node.name), e.inf)}`);
    for (const it of tree.items) {
      if (it.kind === 'group') {
        const s = tree.scopeOf.get(it.group)!;
        const outs = it.group.outputs.map((id) => namer.take(pyIdentifier(byId.get(id)!.node.name, 'h')));
        body.push(`        # ${pyStr(s.path)} ${classNames.get(s.cls!)!}: ${groupShapes(it.group.inputs, it.group.outputs, byId)}`);
        body.push(`        ${outs.join(', ')} = self.node(${pyStr(s.path)})(${it.group.inputs.map((id) => local.get(id)!).join(', ')})`);
        it.group.outputs.forEach((id, k) => local.set(id, outs[k]));
        continue;
      }
      const inf = byId.get(it.id)!;
      if (inf.def.io === 'output') result = local.get(inf.inputs.x.from)!;
      if (inf.def.io) continue;
      const v = namer.take(pyIdentifier(inf.node.name, 'h'));
      body.push(...blockCall(inf, pyStr(inf.node.name), v, local));
    }
  } else {
    for (const inf of infos) {
      if (inf.def.io === 'output') {
        result = local.get(inf.inputs.x.from)!;
        continue;
      }
      if (inf.def.io) continue;
      if (!live.has(inf.node.id)) {
        body.push(`        ${notRun(pyStr(inf.node.name), inf)}`);
        continue;
      }
      const v = namer.take(pyIdentifier(inf.node.name, 'h'));
      body.push(...blockCall(inf, pyStr(inf.node.name), v, local));
    }
  }
  body.push(`        return ${result}`);
  const groupClasses = tree ? tree.classes.map((c) => groupClass(c, tree, classNames, byId, [...MODULE_NAMES, ...allClassNames, cls, ...classNames.values()])) : [];

  const params = roleDefs.map((r) => (r.pytorch.optional ? `${r.role}: Optional[torch.Tensor] = None` : `${r.role}: torch.Tensor`));
  const inShape = image.out!.dims;
  const outShape = output.inputs.x.shape!.dims;
  const label = byRole.get('y');
  const numClasses = label ? String(label.params.num_classes) : 'None';
  // The context sequence's per-sample shape, for `python model.py`'s example batch.
  const context = byRole.get('context');
  const tuple = (xs: readonly (string | number)[]) => (xs.length === 1 ? `(${String(xs[0])},)` : `(${xs.join(', ')})`);

  const mainArgs = roleDefs.map((r) => r.pytorch.example);
  const sections = [
    ...helpers.map((h) => PYTORCH_HELPERS[h]),
    ...kinds.map((k) => k.source),
    CONTAINER,
    ATTACH,
    ...(tree ? [GROUP_MODULE, ...groupClasses] : []),
    `class ${cls}(nn.Module):
    """The graph as a PyTorch module (MODEL_NAME). Each block sits at its node's name, so the
    state_dict keys are the graph's weight names."""

    def __init__(self) -> None:
        super().__init__()
${init.join('\n')}

    def __setattr__(self, name: str, value: object) -> None:
        # A child may have any name (even "training"): plain attributes bypass the child-module check.
        if isinstance(value, (nn.Module, torch.Tensor)) or name not in self.__dict__.get("_modules", {}):
            super().__setattr__(name, value)
        else:
            object.__setattr__(self, name, value)

    def node(self, name: str) -> nn.Module:
        """The module of the node with this name (its dotted path)."""
        module: nn.Module = self
        for segment in name.split("."):
            module = module._modules[segment]
        return module

    def forward(self, ${params.join(', ')}) -> torch.Tensor:
${body.join('\n')}`,
    `def build_model() -> nn.Module:
    """A fresh ${cls} with PyTorch's default initialisation (zero-initialised where the reference code zeroes)."""
    return ${cls}()`,
    `if __name__ == "__main__":
    model = build_model().eval()
    batch = 2
    with torch.no_grad():
        x_in = ${mainArgs[0]}
        out = model(x_in${mainArgs.slice(1).map((s) => `, ${s}`).join('')})
    print(f"parameters: {PARAMETER_COUNT:,} ({sum(p.numel() for p in model.parameters()):,} in the module)")
    print(f"input:  {tuple(x_in.shape)}")
    print(f"output: {tuple(out.shape)}")`,
  ];
  const body2 = sections.join('\n\n\n');
  const imports = [
    ...(/\bmath\./.test(body2) ? ['import math'] : []),
    'from typing import Optional, Tuple',
    '',
    'import torch',
    'import torch.nn as nn',
    ...(/\bF\./.test(body2) ? ['import torch.nn.functional as F'] : []),
  ];
  const text = [
    `# Generated by UNet Studio from ${pyStr(graph.name)}. Do not edit.`,
    `"""A PyTorch model made from a UNet Studio graph; depends on torch alone. python model.py prints its size."""`,
    imports.join('\n'),
    [
      `MODEL_NAME: str = ${pyStr(graph.name)}`,
      `INPUT_SHAPE: Tuple[int, int, int] = ${tuple(inShape)}`,
      `OUTPUT_SHAPE: Tuple[int, int, int] = ${tuple(outShape)}`,
      `NUM_CLASSES: Optional[int] = ${numClasses}`,
      ...(context ? [`CONTEXT_TOKENS: int = ${pyInt(context.out!.dims[0])}`, `CONTEXT_DIM: int = ${pyInt(context.out!.dims[1])}`] : []),
      `INPUT_NAMES: Tuple[str, ...] = ${tuple(roles.map((r) => pyStr(r)))}`,
      `PARAMETER_COUNT: int = ${String(countParameters(a))}`,
      '# True when some blocks do not lead to the output: their parameters get no gradient (DDP needs find_unused_parameters).',
      `UNUSED_PARAMETERS: bool = ${unusedParameters ? 'True' : 'False'}`,
    ].join('\n'),
  ].join('\n\n');
  return { text: `${text}\n\n\n${body2}\n`, className: cls };
}
