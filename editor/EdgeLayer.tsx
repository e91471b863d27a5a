/**
 * Zoomed out (level of detail, BlockNode.tsx), the canvas draws most of its edges as one SVG layer:
 * a single <svg> holding one <path> per edge look (kind, and whether the checker refuses it), each
 * path every such edge's bezier curve, in flow coordinates inside React Flow's viewport. React Flow
 * draws each edge as an <svg> of its own; at hundreds of edges Chromium then spends most of a drag
 * frame layerizing them (bench/canvas.ts). Real React Flow edges are kept where they matter: selected
 * edges and the edges of selected or dragged nodes (selectable, deletable, moving with the drag),
 * so the layer does not change while a node is dragged.
 */
import { memo, useMemo } from 'react';
import { getBezierPath, Position, useStoreApi, ViewportPortal, type Edge, type Node, type NodeHandle } from '@xyflow/react';

/** The edges React Flow draws itself (`real`) and the ones the layer draws (`layered`). */
export interface EdgeSplit {
  readonly real: Edge[];
  readonly layered: Edge[];
}

/**
 * Splits `edges`: selected ones and those with an end in `keep` (selected or dragged nodes) stay
 * real, the rest go to the layer. The same `edges` array comes back as `real` when nothing is layered.
 */
export function splitEdges(edges: Edge[], keep: ReadonlySet<string>): EdgeSplit {
  const real: Edge[] = [];
  const layered: Edge[] = [];
  for (const e of edges) {
    if (e.selected || keep.has(e.source) || keep.has(e.target)) real.push(e);
    else layered.push(e);
  }
  return layered.length === 0 ? { real: edges, layered } : { real, layered };
}

/** A handle's box relative to its node, as React Flow measured it (or as the node declares it). */
type HandleBox = Pick<NodeHandle, 'id' | 'x' | 'y' | 'width' | 'height' | 'position'>;
/** A node's handles by kind, as React Flow keeps them (`internals.handleBounds`). */
export interface HandleBounds {
  readonly source?: readonly HandleBox[] | null;
  readonly target?: readonly HandleBox[] | null;
}

/** One path per edge look: its `d` holds one `M … C …` curve per edge. */
export interface LayerPath {
  readonly key: string;
  readonly className: string;
  readonly style: Edge['style'];
  readonly d: string;
  readonly edges: number;
}

/** Where an edge ends on a handle: the middle of the handle's outer side, as React Flow puts it. */
function handlePoint(at: { x: number; y: number }, h: HandleBox): { x: number; y: number } {
  const w = h.width ?? 1;
  const hh = h.height ?? 1;
  switch (h.position) {
    case Position.Right:
      return { x: at.x + h.x + w, y: at.y + h.y + hh / 2 };
    case Position.Top:
      return { x: at.x + h.x + w / 2, y: at.y + h.y };
    case Position.Bottom:
      return { x: at.x + h.x + w / 2, y: at.y + h.y + hh };
    default:
      return { x: at.x + h.x, y: at.y + h.y + hh / 2 };
  }
}

/**
 * The layer's paths: each edge's default (bezier) curve between its handles, grouped by look in
 * the order looks first appear. `position` is a node's top-left in flow coordinates and `bounds`
 * its handles (null for a node not measured yet: its edges are left out, as React Flow leaves them).
 */
export function layerPaths(
  edges: readonly Edge[],
  position: (id: string) => { x: number; y: number } | undefined,
  bounds: (id: string) => HandleBounds | null | undefined,
): LayerPath[] {
  const groups = new Map<string, { className: string; style: Edge['style']; parts: string[] }>();
  for (const e of edges) {
    const sp = position(e.source);
    const tp = position(e.target);
    const sb = bounds(e.source);
    const tb = bounds(e.target);
    if (!sp || !tp || !sb || !tb) continue;
    const sh = sb.source?.find((h) => h.id === (e.sourceHandle ?? null)) ?? (e.sourceHandle ? undefined : sb.source?.[0]);
    const th = tb.target?.find((h) => h.id === (e.targetHandle ?? null)) ?? (e.targetHandle ? undefined : tb.target?.[0]);
    if (!sh || !th) continue;
    const s = handlePoint(sp, sh);
    const t = handlePoint(tp, th);
    const [d] = getBezierPath({ sourceX: s.x, sourceY: s.y, sourcePosition: sh.position ?? Position.Right, targetX: t.x, targetY: t.y, targetPosition: th.position ?? Position.Left });
    const style = e.style ?? {};
    const key = `${e.className ?? ''}|${String(style.stroke)}|${String(style.strokeWidth)}|${String(style.opacity)}`;
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { className: e.className ?? '', style: e.style, parts: [] }));
    g.parts.push(d);
  }
  return [...groups].map(([key, g]) => ({ key, className: g.className, style: g.style, d: g.parts.join(' '), edges: g.parts.length }));
}

/** React Flow's handle bounds for a node, or the handles the node declares (estimated, BlockNode.tsx). */
function toBounds(handles: readonly NodeHandle[] | undefined): HandleBounds | null {
  if (!handles) return null;
  return { source: handles.filter((h) => h.type === 'source'), target: handles.filter((h) => h.type === 'target') };
}

/** The layer itself (inside <ReactFlow>): rebuilt when its edges or the nodes change, never per drag frame. */
export const EdgeLayer = memo(function EdgeLayer({ edges, nodes }: { edges: readonly Edge[]; nodes: readonly Node[] }) {
  const flow = useStoreApi();
  const paths = useMemo(() => {
    const byId = new Map(nodes.map((n) => [n.id, n]));
    const lookup = flow.getState().nodeLookup;
    return layerPaths(
      edges,
      (id) => byId.get(id)?.position,
      (id) => (lookup.get(id)?.internals.handleBounds as HandleBounds | undefined) ?? toBounds(byId.get(id)?.handles),
    );
  }, [edges, nodes, flow]);
  if (edges.length === 0) return null;
  return (
    <ViewportPortal>
      <svg className="edge-layer" data-testid="edge-layer" data-edges={paths.reduce((a, p) => a + p.edges, 0)}>
        {paths.map((p) => (
          <path key={p.key} className={p.className} style={p.style} d={p.d} data-edges={p.edges} />
        ))}
      </svg>
    </ViewportPortal>
  );
});
