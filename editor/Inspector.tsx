import { useEffect, useState } from 'react';
import type { ParamSpec, ParamValue } from '../blocks/types';
import { blockDef, isBlockType } from '../blocks/registry';
import { checkParam } from '../graph/params';
import { analyze, formatShape } from '../graph/analyze';
import type { Graph } from '../graph/model';
import { groupNameProblem, groupSummary, indexGroups } from '../graph/groups';
import { findDefinition, instanceOf, relativeName } from '../graph/definitions';
import { definitionLabelProblem } from '../graph/definitions-format';
import { EditError, nameProblem, type Edit, type EditorStore } from './store';
import { compactCount } from './GroupNode';
import { addToMyBlocks } from './Palette';
import { BlockCostFacts, GroupCostFacts } from './CostLegend';
import { groupCost } from './costOverlay';
import { nodesInside } from './groupView';

/** Runs a store edit; an EditError goes to the banner (cleared by the next edit that works). True when applied. */
function tryEdit(store: EditorStore, f: () => unknown): boolean {
  try {
    f();
    if (store.getState().message !== null) store.setMessage(null);
    return true;
  } catch (e) {
    if (e instanceof EditError) {
      store.setMessage(e.message);
      return false;
    }
    throw e;
  }
}

/** "Save as block" and "Repeat ×N" for a selected group, and which block it is an instance of. */
function GroupBlockActions({ store, graph, groupId }: { store: EditorStore; graph: Graph; groupId: string }) {
  const group = indexGroups(graph).byId.get(groupId)!;
  const def = group.definition !== undefined ? findDefinition(graph, group.definition) : undefined;
  const [label, setLabel] = useState(group.name);
  const [count, setCount] = useState(2);
  useEffect(() => setLabel(group.name), [group.name, groupId]);
  const labelProblem = definitionLabelProblem(label) ?? ((graph.definitions ?? []).some((d) => d.name === label) ? 'is already used by another block' : null);
  const save = () =>
    tryEdit(store, () => {
      store.apply({ kind: 'save-as-block', group: groupId, label });
      const saved = (store.graph.definitions ?? []).find((d) => d.name === label);
      if (saved) addToMyBlocks([saved]);
    });
  return (
    <div className="inspector-blocks">
      {def && (
        <p className="muted small" data-testid="inspector-instance-of">
          Instance of block “{def.name}”{group.overrides ? ` (overrides: ${Object.entries(group.overrides).map(([n, ps]) => `${n}: ${Object.keys(ps).join(', ')}`).join('; ')})` : ''}
        </p>
      )}
      <label className="field">
        <span>Save as block</span>
        <input data-testid="inspector-block-label" value={label} className={labelProblem ? 'invalid' : ''} onChange={(e) => setLabel(e.target.value)} />
        {labelProblem && label !== '' && <em className="field-error">the name {labelProblem}</em>}
      </label>
      <p>
        <button disabled={labelProblem !== null} onClick={save} data-testid="inspector-save-block">
          Save as block
        </button>
      </p>
      <label className="field">
        <span>Repeat ×N</span>
        <input
          type="number"
          min={1}
          max={256}
          step={1}
          data-testid="inspector-repeat-count"
          value={count}
          onChange={(e) => setCount(Number(e.target.value))}
        />
      </label>
      <p>
        <button disabled={!Number.isInteger(count) || count < 2} onClick={() => tryEdit(store, () => store.apply({ kind: 'repeat', group: groupId, count }))} data-testid="inspector-repeat">
          Repeat ×{Number.isInteger(count) ? count : '?'}
        </button>
      </p>
    </div>
  );
}

const fmtInt = new Intl.NumberFormat('en-US');

/** A selected group: its name (editable), what it sums to, its ports' shapes and the problems inside, by block. */
function GroupInspector({ store, graph, groupId, times }: { store: EditorStore; graph: Graph; groupId: string; times?: ReadonlyMap<string, number> | undefined }) {
  const a = analyze(graph);
  const sum = groupSummary(graph, a, groupId);
  const cost = groupCost(a, nodesInside(graph, groupId), times);
  const shut = store.getState().doc.collapsed.includes(groupId);
  const ports = (list: typeof sum.inputs) =>
    list.length === 0 ? '—' : list.map((p) => `${p.name}: ${p.shape ? formatShape(p.shape) : '?'}`).join(', ');
  return (
    <aside className="inspector" data-testid="inspector">
      <div className="inspector-head" style={{ borderLeftColor: '#475569' }}>
        <h2>Group</h2>
        <p className="muted small">Groups organise the canvas: blocks keep their full names and weights.</p>
      </div>
      <NameField
        store={store}
        id={groupId}
        name={sum.name}
        problem={(text) => groupNameProblem(graph, text, groupId)}
        rename={(text) => ({ kind: 'rename-group', group: groupId, name: text })}
        testid="inspector-group-name"
      />
      <div className="inspector-facts" data-testid="inspector-group-summary">
        <div>
          <span>Blocks</span>
          <b data-testid="inspector-group-blocks">{sum.blocks}</b>
        </div>
        <div>
          <span>Parameters</span>
          <b data-testid="inspector-group-params" title={fmtInt.format(sum.parameters)}>
            {fmtInt.format(sum.parameters)} ({compactCount(sum.parameters)})
          </b>
        </div>
        <div>
          <span>GFLOP / sample</span>
          <b data-testid="inspector-group-gflops">{(sum.flops / 1e9).toFixed(3)}</b>
        </div>
        <div>
          <span>Inputs</span>
          <b data-testid="inspector-group-inputs">{ports(sum.inputs)}</b>
        </div>
        <div>
          <span>Outputs</span>
          <b data-testid="inspector-group-outputs">{ports(sum.outputs)}</b>
        </div>
      </div>
      <GroupCostFacts cost={cost} />
      <p>
        <button onClick={() => store.toggleCollapsed(groupId)} data-testid="inspector-group-toggle">
          {shut ? 'Expand' : 'Collapse'}
        </button>{' '}
        <button onClick={() => store.apply({ kind: 'ungroup', group: groupId })} data-testid="inspector-ungroup">
          Ungroup
        </button>
      </p>
      <GroupBlockActions store={store} graph={graph} groupId={groupId} />
      {sum.problems.length > 0 && (
        <>
          <h3>Problems inside</h3>
          <ul className="problems" data-testid="inspector-group-problems">
            {sum.problems.map((p, i) => (
              <li key={i} className={p.severity}>
                <button className="link" onClick={() => p.nodeId && store.select({ nodes: [p.nodeId], edges: [] })} title="Select the block">
                  {p.node ?? p.group ?? ''}
                </button>
                : {p.message}
                <div className="fix">Fix: {p.fix}</div>
              </li>
            ))}
          </ul>
        </>
      )}
    </aside>
  );
}

/**
 * A name field checked as it is typed (`problem`) and committed on Enter or blur (`rename`): a
 * block's or a group's. Escape puts the name back.
 */
function NameField({
  store,
  id,
  name,
  problem,
  rename,
  testid,
}: {
  store: EditorStore;
  id: string;
  name: string;
  problem: (text: string) => string | null;
  rename: (text: string) => Edit;
  testid: string;
}) {
  const [text, setText] = useState(name);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    setText(name);
    setError(null);
  }, [name, id]);
  const commit = () => {
    if (text === name) return;
    const p = problem(text);
    if (p) {
      setError(p);
      return;
    }
    try {
      store.apply(rename(text));
      setError(null);
    } catch (e) {
      if (e instanceof EditError) setError(e.message);
      else throw e;
    }
  };
  return (
    <label className="field">
      <span>Name</span>
      <input
        data-testid={testid}
        value={text}
        className={error ? 'invalid' : ''}
        onChange={(e) => {
          setText(e.target.value);
          setError(problem(e.target.value));
        }}
        onBlur={commit}
        onKeyDown={(e) => {
          if (e.key === 'Enter') commit();
          if (e.key === 'Escape') {
            setText(name);
            setError(null);
          }
        }}
      />
      {error && <em className="field-error" data-testid={`${testid}-error`}>{error}</em>}
    </label>
  );
}

function NumberField({ spec, value, onCommit, name }: { spec: ParamSpec & { type: 'int' | 'float' }; value: ParamValue; name: string; onCommit: (v: number) => void }) {
  const [text, setText] = useState(String(value));
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    setText(String(value));
    setError(null);
  }, [value]);
  return (
    <>
      <input
        type="number"
        data-testid={`param-${name}`}
        min={spec.min}
        max={spec.max}
        step={spec.type === 'int' ? 1 : 'any'}
        value={text}
        className={error ? 'invalid' : ''}
        onChange={(e) => {
          setText(e.target.value);
          const v = e.target.value.trim() === '' ? Number.NaN : Number(e.target.value);
          const bad = checkParam(name, spec, v);
          setError(bad ? `${bad.message} (${bad.fix})` : null);
          if (Number.isFinite(v)) onCommit(v);
        }}
      />
      {error && <em className="field-error">{error}</em>}
    </>
  );
}

/** `times`: the last measured per-block ms by block name (the Run panel's Profile), when there is one. */
export function Inspector({ store, graph, nodeId, times }: { store: EditorStore; graph: Graph; nodeId: string | null; times?: ReadonlyMap<string, number> }) {
  const [override, setOverride] = useState(false);
  useEffect(() => setOverride(false), [nodeId]);
  if (nodeId !== null && indexGroups(graph).byId.has(nodeId)) return <GroupInspector store={store} graph={graph} groupId={nodeId} times={times} />;
  const node = nodeId === null ? undefined : graph.nodes.find((n) => n.id === nodeId);
  if (!node) {
    const a = analyze(graph);
    return (
      <aside className="inspector" data-testid="inspector">
        <h2>{graph.name}</h2>
        {graph.description && <p className="muted small">{graph.description}</p>}
        <p className="muted">Select a block to edit its name and parameters.</p>
        {a.problems.length > 0 && (
          <>
            <h3>Problems</h3>
            <ul className="problems">
              {a.problems.slice(0, 30).map((p, i) => (
                <li key={i} className={p.severity}>
                  <button className="link" onClick={() => p.nodeId && store.select({ nodes: [p.nodeId], edges: [] })}>
                    {p.message}
                  </button>
                  <div className="fix">Fix: {p.fix}</div>
                </li>
              ))}
            </ul>
          </>
        )}
      </aside>
    );
  }
  if (!isBlockType(node.type)) {
    return (
      <aside className="inspector" data-testid="inspector">
        <h2>Unknown block “{node.type}”</h2>
      </aside>
    );
  }
  const def = blockDef(node.type);
  const a = analyze(graph);
  const info = a.info.get(node.id);
  const problems = a.problems.filter((p) => p.nodeId === node.id);
  const inst = instanceOf(graph, node.id);
  const instDef = inst?.definition !== undefined ? findDefinition(graph, inst.definition) : undefined;
  const overridden = inst ? (inst.overrides?.[relativeName(inst.name, node.name)] ?? {}) : {};
  const set = (param: string, value: ParamValue) =>
    tryEdit(store, () =>
      store.apply({ kind: 'set-param', node: node.id, param, value, ...(inst && override ? { override: true } : {}) }, { coalesce: `param:${node.id}:${param}:${override}` }),
    );
  return (
    <aside className="inspector" data-testid="inspector">
      <div className="inspector-head" style={{ borderLeftColor: def.view.color }}>
        <h2>{def.displayName}</h2>
        <p className="muted small">{def.description}</p>
      </div>
      <NameField
        store={store}
        id={node.id}
        name={node.name}
        problem={(text) => nameProblem(graph, node.id, text)}
        rename={(text) => ({ kind: 'rename', node: node.id, name: text })}
        testid="inspector-name"
      />
      {inst && (
        <div className="inspector-instance" data-testid="inspector-instance">
          <p className="muted small">
            Part of “{inst.name}”, an instance of block “{instDef?.name ?? inst.definition}”: a change applies to every instance
            {override ? ' — unless overridden here' : ''}.
          </p>
          <label className="field checkbox">
            <input type="checkbox" checked={override} onChange={(e) => setOverride(e.target.checked)} data-testid="inspector-override" />
            <span>Override for this instance</span>
          </label>
        </div>
      )}
      {Object.entries(def.params).map(([name, spec]) => {
        const value = Object.prototype.hasOwnProperty.call(node.params, name) ? node.params[name] : spec.default;
        const flagged = problems.some((p) => p.param === name);
        return (
          <label key={name} className={`field${flagged ? ' flagged' : ''}`} title={spec.help}>
            <span>
              {spec.label}
              {Object.prototype.hasOwnProperty.call(overridden, name) && <em className="muted small" data-testid={`overridden-${name}`}> (overridden)</em>}
            </span>
            {spec.type === 'bool' ? (
              <input type="checkbox" data-testid={`param-${name}`} checked={value === true} onChange={(e) => set(name, e.target.checked)} />
            ) : spec.type === 'enum' ? (
              <select data-testid={`param-${name}`} value={String(value)} onChange={(e) => set(name, e.target.value)}>
                {spec.options.map((o) => (
                  <option key={o} value={o}>
                    {o}
                  </option>
                ))}
              </select>
            ) : (
              <NumberField spec={spec} value={value} name={name} onCommit={(v) => set(name, v)} />
            )}
          </label>
        );
      })}
      <div className="inspector-facts">
        <div>
          <span>Output</span>
          <b data-testid="inspector-shape">{info?.out ? formatShape(info.out) : def.output ? 'unknown' : '—'}</b>
        </div>
        <div>
          <span>Inputs</span>
          <b>
            {def.inputs.length === 0
              ? '—'
              : def.inputs.map((p) => `${p.name}: ${info?.inputs[p.name]?.shape ? formatShape(info.inputs[p.name].shape!) : 'unconnected'}`).join(', ')}
          </b>
        </div>
      </div>
      {info && <BlockCostFacts info={info} ms={times?.get(node.name)} />}
      {problems.length > 0 && (
        <ul className="problems" data-testid="inspector-problems">
          {problems.map((p, i) => (
            <li key={i} className={p.severity}>
              {p.message}
              <div className="fix">Fix: {p.fix}</div>
            </li>
          ))}
        </ul>
      )}
    </aside>
  );
}
