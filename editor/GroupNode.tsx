/**
 * Groups on the canvas: a collapsed group is one node (its name, ports with kinds and shapes,
 * parameters, GFLOP, a problem mark naming the first bad block); an expanded group is a frame drawn
 * behind its members, with its name and a collapse button. Both expand or collapse through
 * {@link GroupActions} (the editor provides it), so their data stays plain and comparable.
 */
import { createContext, memo, useContext } from 'react';
import { Handle, Position, type Node, type NodeProps } from '@xyflow/react';
import type { PortKind } from '../blocks/types';
import { BlockNode, KIND_COLOR, LodContext } from './BlockNode';
import { groupInHandle, groupOutHandle } from './groupView';

export interface GroupActions {
  /** Expands a collapsed group or collapses an expanded one (one undo step). */
  readonly toggle: (groupId: string) => void;
  /** Selects the group alone (a frame is selected by its title bar, never by a selection box). */
  readonly select: (groupId: string) => void;
}
export const GroupActionsContext = createContext<GroupActions>({ toggle: () => undefined, select: () => undefined });

export interface GroupPortView {
  readonly name: string;
  readonly kind: PortKind;
  /** formatShape of the tensor, or null when unknown. */
  readonly shape: string | null;
}

export interface GroupNodeData extends Record<string, unknown> {
  readonly name: string;
  readonly blocks: number;
  readonly parameters: number;
  readonly gflops: number;
  readonly inputs: readonly GroupPortView[];
  readonly outputs: readonly GroupPortView[];
  /** The first error inside (its message names the block), or null. */
  readonly problem: string | null;
  readonly errors: number;
  readonly warnings: number;
  /** A background from the cost overlay or the diff (editor/costOverlay.ts), as BlockNode's; absent: the usual one. */
  readonly tint?: string;
  /** What the tint means (the group's summed cost, or what changed inside), for the tooltip. */
  readonly tintTitle?: string;
}
export type GroupFlowNode = Node<GroupNodeData, 'group'>;

export interface FrameNodeData extends Record<string, unknown> {
  /** The group's id (the frame's node id is {@link frameNodeId} of it). */
  readonly group: string;
  readonly name: string;
  readonly blocks: number;
  readonly errors: number;
}
export type FrameFlowNode = Node<FrameNodeData, 'frame'>;
/**
 * A frame's node id: its own, not its group's (the collapsed group's node), so expanding or
 * collapsing swaps one node for another instead of changing a node's type under the same id
 * (which React Flow answers by measuring the node again).
 */
export const frameNodeId = (group: string): string => `frame:${group}`;

/** A collapsed group's size before React Flow has measured it. */
export const ESTIMATED_GROUP_SIZE = { width: 220, height: 110 } as const;

/** The handles a collapsed group draws (`x,emb>out`), like BlockNode's handleKey. */
export function groupHandleKey(d: Pick<GroupNodeData, 'inputs' | 'outputs'>): string {
  return `group:${d.inputs.map((p) => p.name).join(',')}>${d.outputs.map((p) => p.name).join(',')}`;
}

const fmtInt = new Intl.NumberFormat('en-US');
/** 12.3M, 4.5k, 950. */
export function compactCount(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)}B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e4) return `${(n / 1e3).toFixed(1)}k`;
  return fmtInt.format(n);
}

function GroupNodeView({ id, data, selected }: NodeProps<GroupFlowNode>) {
  const { toggle } = useContext(GroupActionsContext);
  const lod = useContext(LodContext);
  const rows = Math.max(data.inputs.length, data.outputs.length);
  const at = (i: number, n: number) => `${((i + 1) / (n + 1)) * 100}%`;
  const bad = data.errors > 0;
  const title = [data.problem, data.tintTitle].filter((t) => t).join('\n') || undefined;
  if (lod) {
    // Simplified (zoomed out, see LOD_ZOOM): the name and the expand button; the handles stay where they were.
    return (
      <div
        className={`group-node lod${bad ? ' has-error' : ''}${data.warnings > 0 ? ' has-warning' : ''}${selected ? ' selected' : ''}`}
        data-testid={`group-${data.name}`}
        title={title}
        style={data.tint ? { minHeight: 56 + rows * 14, background: data.tint } : { minHeight: 56 + rows * 14 }}
      >
        {data.inputs.map((p, i) => (
          <Handle key={p.name} id={groupInHandle(p.name)} type="target" position={Position.Left} isConnectable={false} className={`port port-${p.kind}`} style={{ top: at(i, data.inputs.length), background: KIND_COLOR[p.kind] }} />
        ))}
        {data.outputs.map((p, i) => (
          <Handle key={p.name} id={groupOutHandle(p.name)} type="source" position={Position.Right} isConnectable={false} className={`port port-${p.kind}`} style={{ top: at(i, data.outputs.length), background: KIND_COLOR[p.kind] }} />
        ))}
        <div className="block-title">
          <button className="icon group-toggle nodrag" onClick={() => toggle(id)} title="Expand (or double-click)" aria-label="Expand" data-testid="group-toggle">
            ▸
          </button>
          <span className="group-name lod-name">{data.name}</span>
        </div>
      </div>
    );
  }
  return (
    <div
      className={`group-node${bad ? ' has-error' : ''}${data.warnings > 0 ? ' has-warning' : ''}${selected ? ' selected' : ''}`}
      data-testid={`group-${data.name}`}
      title={title}
      style={data.tint ? { minHeight: 56 + rows * 14, background: data.tint } : { minHeight: 56 + rows * 14 }}
    >
      {data.inputs.map((p, i) => (
        <Handle
          key={p.name}
          id={groupInHandle(p.name)}
          type="target"
          position={Position.Left}
          isConnectable={false}
          className={`port port-${p.kind}`}
          style={{ top: at(i, data.inputs.length), background: KIND_COLOR[p.kind] }}
          title={`${p.name} (${p.kind}) ${p.shape ?? '?'}`}
        />
      ))}
      {data.outputs.map((p, i) => (
        <Handle
          key={p.name}
          id={groupOutHandle(p.name)}
          type="source"
          position={Position.Right}
          isConnectable={false}
          className={`port port-${p.kind}`}
          style={{ top: at(i, data.outputs.length), background: KIND_COLOR[p.kind] }}
          title={`${p.name} (${p.kind}) ${p.shape ?? '?'}`}
        />
      ))}
      <div className="block-title">
        <button className="icon group-toggle nodrag" onClick={() => toggle(id)} title="Expand (or double-click)" aria-label="Expand" data-testid="group-toggle">
          ▸
        </button>
        <span className="group-name">{data.name}</span>
        {bad && (
          <span className="error-marker" data-testid="group-error" aria-label={`${data.errors} problems`}>
            !
          </span>
        )}
      </div>
      <div className="block-summary" data-testid="group-stats">
        {data.blocks} blocks · {compactCount(data.parameters)} params · {data.gflops.toFixed(2)} GFLOP
      </div>
      <div className="group-ports">
        <div>
          {data.inputs.map((p) => (
            <div key={p.name} className="group-port" data-testid="group-input">
              <i style={{ background: KIND_COLOR[p.kind] }} />
              {p.name} <span className="muted">{p.shape ?? '?'}</span>
            </div>
          ))}
        </div>
        <div className="right">
          {data.outputs.map((p) => (
            <div key={p.name} className="group-port" data-testid="group-output">
              {p.name} <span className="muted">{p.shape ?? '?'}</span>
              <i style={{ background: KIND_COLOR[p.kind] }} />
            </div>
          ))}
        </div>
      </div>
      {bad && data.problem && (
        <div className="group-problem" data-testid="group-problem">
          {data.problem}
        </div>
      )}
    </div>
  );
}

function FrameNodeView({ data, selected }: NodeProps<FrameFlowNode>) {
  const { toggle, select } = useContext(GroupActionsContext);
  const id = data.group;
  return (
    <div className={`frame-node${selected ? ' selected' : ''}${data.errors > 0 ? ' has-error' : ''}`} data-testid={`frame-${data.name}`}>
      <div className="frame-head" onClick={() => select(id)}>
        <button
          className="icon group-toggle nodrag"
          onClick={(e) => {
            e.stopPropagation();
            toggle(id);
          }}
          title="Collapse" aria-label="Collapse" data-testid="frame-toggle">
          ▾
        </button>
        <span className="group-name">{data.name}</span>
        <span className="muted small">{data.blocks} blocks</span>
      </div>
    </div>
  );
}

export const GroupNode = memo(GroupNodeView);
export const FrameNode = memo(FrameNodeView);
/** Every node type the canvas draws (defined once, outside components, as React Flow asks). */
export const canvasNodeTypes = { block: BlockNode, group: GroupNode, frame: FrameNode };
