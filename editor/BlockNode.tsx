/** The one node component: draws any block from its declaration. */
import { memo, useEffect, useRef } from 'react';
import { Handle, Position, useUpdateNodeInternals, type Node, type NodeProps } from '@xyflow/react';
import type { PortDef, PortKind } from '../blocks/types';

export const KIND_COLOR: Readonly<Record<PortKind, string>> = {
  feature: '#2563eb',
  temb: '#d97706',
  timesteps: '#7c3aed',
  label: '#db2777',
};

export interface BlockNodeData extends Record<string, unknown> {
  readonly name: string;
  readonly title: string;
  readonly summary: string;
  readonly color: string;
  readonly inputs: readonly PortDef[];
  readonly output: PortDef | null;
  /** formatShape of the output, or '?' when unknown. */
  readonly shape: string | null;
  readonly errors: readonly string[];
  readonly warnings: readonly string[];
}
export type BlockFlowNode = Node<BlockNodeData, 'block'>;

/**
 * The handles a block draws, as one string (`x,emb>out`): two nodes with equal keys and equal sizes
 * have their handles at the same places. Node ids (`n1`, `n2`, …) are reused from one document to
 * the next with another block behind them, so a size React Flow measured for an id is only worth
 * reusing while this key is unchanged.
 */
export function handleKey(inputs: readonly PortDef[], output: PortDef | null): string {
  return `${inputs.map((p) => p.name).join(',')}>${output ? 'out' : ''}`;
}

function BlockNodeView({ id, data, selected }: NodeProps<BlockFlowNode>) {
  // React Flow keeps the handle positions it measured for a node until it measures it again; an edge
  // naming a handle it does not know is not drawn. When this node's handles change (same id, another
  // block), have it measure them again: React Flow's documented remedy (useUpdateNodeInternals).
  const handles = handleKey(data.inputs, data.output);
  const drawnHandles = useRef(handles);
  const updateNodeInternals = useUpdateNodeInternals();
  useEffect(() => {
    if (drawnHandles.current === handles) return;
    drawnHandles.current = handles;
    updateNodeInternals(id);
  }, [id, handles, updateNodeInternals]);
  const bad = data.errors.length > 0;
  const tooltip = [...data.errors, ...data.warnings].join('\n');
  const n = data.inputs.length;
  return (
    <div
      className={`block-node${bad ? ' has-error' : ''}${data.warnings.length > 0 ? ' has-warning' : ''}${selected ? ' selected' : ''}`}
      data-testid={`node-${data.name}`}
      title={tooltip || undefined}
      style={{ borderTopColor: data.color }}
    >
      {data.inputs.map((p, i) => (
        <Handle
          key={p.name}
          id={p.name}
          type="target"
          position={Position.Left}
          className={`port port-${p.kind}`}
          style={{ top: `${((i + 1) / (n + 1)) * 100}%`, background: KIND_COLOR[p.kind] }}
          title={`${p.label} (${p.kind})`}
        />
      ))}
      {n > 1 && (
        <div className="port-labels">
          {data.inputs.map((p, i) => (
            <span key={p.name} style={{ top: `${((i + 1) / (n + 1)) * 100}%` }}>
              {p.name}
            </span>
          ))}
        </div>
      )}
      <div className="block-title">
        <span className="block-type">{data.title}</span>
        {bad && (
          <span className="error-marker" data-testid="node-error" aria-label={`${data.errors.length} problems`}>
            !
          </span>
        )}
      </div>
      <div className="block-name">{data.name}</div>
      {data.summary && <div className="block-summary">{data.summary}</div>}
      {data.output && (
        <>
          <div className={`shape-badge${data.shape === null ? ' unknown' : ''}`} data-testid="shape-badge">
            {data.shape ?? '?'}
          </div>
          <Handle id="out" type="source" position={Position.Right} className={`port port-${data.output.kind}`} style={{ background: KIND_COLOR[data.output.kind] }} />
        </>
      )}
    </div>
  );
}

export const BlockNode = memo(BlockNodeView);
export const nodeTypes = { block: BlockNode };
