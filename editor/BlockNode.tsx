/** The one node component: draws any block from its declaration. */
import { createContext, memo, useContext, useEffect, useRef } from 'react';
import { Handle, Position, useStoreApi, useUpdateNodeInternals, type Node, type NodeHandle, type NodeProps, type ReactFlowState } from '@xyflow/react';
import type { PortDef, PortKind } from '../blocks/types';

export const KIND_COLOR: Readonly<Record<PortKind, string>> = {
  feature: '#2563eb',
  temb: '#d97706',
  timesteps: '#7c3aed',
  label: '#db2777',
  context: '#0d9488',
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
  /** A background from the cost overlay or the diff (editor/costOverlay.ts); absent: the usual white. */
  readonly tint?: string;
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

/** A typical block's size on the canvas, before React Flow has measured it. */
export const ESTIMATED_SIZE = { width: 190, height: 84 } as const;
/** The handle boxes' size (`.block-node .port`: 10 px and a 2 px border). */
const HANDLE = 14;
const BORDER_TOP = 4;

/**
 * Where BlockNodeView puts its handles on a node of ESTIMATED_SIZE (the same rule: inputs spread
 * down the left side, the output at the middle of the right). Given to React Flow for nodes it has
 * not measured yet, so a big graph's edges are drawn without first mounting every node off screen
 * to measure it; a node is measured for real (and these replaced) once it is drawn.
 */
export function estimatedHandles(inputs: readonly PortDef[], output: PortDef | null): NodeHandle[] {
  const { width, height } = ESTIMATED_SIZE;
  const inner = height - BORDER_TOP - 1;
  const handles: NodeHandle[] = inputs.map((p, i) => ({
    id: p.name,
    type: 'target',
    position: Position.Left,
    x: -HANDLE / 2,
    y: BORDER_TOP + ((i + 1) / (inputs.length + 1)) * inner - HANDLE / 2,
    width: HANDLE,
    height: HANDLE,
  }));
  if (output) handles.push({ id: 'out', type: 'source', position: Position.Right, x: width - HANDLE / 2, y: BORDER_TOP + inner / 2 - HANDLE / 2, width: HANDLE, height: HANDLE });
  return handles;
}

/**
 * Level of detail. Below this zoom the canvas draws blocks and collapsed groups simplified (name and
 * colour, handles kept so edges still attach; no parameter summary, shape badge or port labels) and
 * edges without labels. 0.5 because the details are 10–11 px text, under 5.5 px on screen below it
 * (unreadable), while a zoomed-out big graph pays for every one of those elements in each frame.
 */
export const LOD_ZOOM = 0.5;
/**
 * ...and only while the canvas draws at least this many nodes (blocks, groups, frames): a small
 * graph costs little either way, and a template opens (fitted, often below LOD_ZOOM) with its
 * levels' sums and ports shown.
 */
export const LOD_MIN_NODES = 50;
/**
 * The canvas's zoom threshold: LOD_ZOOM, or 0 (never simplified) when the page's address has
 * `?lod=off` (the benchmark compares both ways on the same build).
 */
export function lodThreshold(search: string = typeof location === 'undefined' ? '' : location.search): number {
  return new URLSearchParams(search).get('lod') === 'off' ? 0 : LOD_ZOOM;
}
const LOD_AT = lodThreshold();
/**
 * For React Flow's `useStore`: a boolean, so the canvas re-renders when the zoom crosses the
 * threshold, not on every zoom or pan step.
 */
export const lodSelector = (s: ReactFlowState): boolean => s.transform[2] < LOD_AT;
/** True while the canvas draws simplified nodes (provided by the canvas from {@link lodSelector}). */
export const LodContext = createContext(false);

type UpdateNodeInternals = ReturnType<typeof useUpdateNodeInternals>;
/** Nodes whose handles changed in this render, per canvas (its store): measured together, in one frame. */
const remeasure = new Map<unknown, { readonly update: UpdateNodeInternals; readonly ids: Set<string> }>();
function remeasureSoon(canvas: unknown, update: UpdateNodeInternals, id: string): void {
  let batch = remeasure.get(canvas);
  if (!batch) {
    const ids = new Set<string>();
    remeasure.set(canvas, (batch = { update, ids }));
    // React may run the effects of one commit in several tasks; a frame gathers them all.
    requestAnimationFrame(() => {
      remeasure.delete(canvas);
      update([...ids]);
    });
  }
  batch.ids.add(id);
}

function BlockNodeView({ id, data, selected }: NodeProps<BlockFlowNode>) {
  // React Flow keeps the handle positions it measured for a node until it measures it again; an edge
  // naming a handle it does not know is not drawn. When this node's handles change (same id, another
  // block), have it measure them again: React Flow's documented remedy (useUpdateNodeInternals),
  // one call for all the nodes that changed at once (a document replaced by another).
  const handles = handleKey(data.inputs, data.output);
  const drawnHandles = useRef(handles);
  const updateNodeInternals = useUpdateNodeInternals();
  const canvas = useStoreApi().getState; // one function per canvas (the API object is per node)
  useEffect(() => {
    if (drawnHandles.current === handles) return;
    drawnHandles.current = handles;
    remeasureSoon(canvas, updateNodeInternals, id);
  }, [id, handles, canvas, updateNodeInternals]);
  const lod = useContext(LodContext);
  const bad = data.errors.length > 0;
  const tooltip = [...data.errors, ...data.warnings].join('\n');
  const n = data.inputs.length;
  const className = `block-node${bad ? ' has-error' : ''}${data.warnings.length > 0 ? ' has-warning' : ''}${selected ? ' selected' : ''}`;
  if (lod) {
    // Simplified: the name on the block's colour, the handles at the same places (no titles or labels).
    return (
      <div className={`${className} lod`} data-testid={`node-${data.name}`} title={tooltip || undefined} style={{ borderTopColor: data.color }}>
        {data.inputs.map((p, i) => (
          <Handle key={p.name} id={p.name} type="target" position={Position.Left} className={`port port-${p.kind}`} style={{ top: `${((i + 1) / (n + 1)) * 100}%`, background: KIND_COLOR[p.kind] }} />
        ))}
        <div className="lod-name" style={{ background: data.tint ?? `color-mix(in srgb, ${data.color} 14%, white)` }}>
          {data.name}
        </div>
        {data.output && <Handle id="out" type="source" position={Position.Right} className={`port port-${data.output.kind}`} style={{ background: KIND_COLOR[data.output.kind] }} />}
      </div>
    );
  }
  return (
    <div
      className={className}
      data-testid={`node-${data.name}`}
      title={tooltip || undefined}
      style={data.tint ? { borderTopColor: data.color, background: data.tint } : { borderTopColor: data.color }}
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
