/** The one node component: draws any block from its declaration. */
import { memo } from 'react';
import { Handle, Position, type Node, type NodeProps } from '@xyflow/react';
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

function BlockNodeView({ data, selected }: NodeProps<BlockFlowNode>) {
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
