import { lazy, memo, Suspense, useCallback, useDeferredValue, useEffect, useMemo, useRef, useState, useSyncExternalStore, type DragEvent, type RefObject } from 'react';
import {
  Background,
  BackgroundVariant,
  Controls,
  MiniMap,
  ReactFlow,
  ReactFlowProvider,
  SelectionMode,
  useReactFlow,
  useStore,
  useStoreApi,
  type Viewport,
  type Connection,
  type Edge,
  type EdgeChange,
  type IsValidConnection,
  type NodeChange,
} from '@xyflow/react';
import { blockDef, isBlockType, type BlockType } from '../blocks/registry';
import { analyze, countFlops, countParameters, formatShape, type Analysis } from '../graph/analyze';
import type { Graph } from '../graph/model';
import { DocumentError, type Document as GraphDocument } from '../graph/document';
import { documentSizeWarning, WARN_BLOCKS } from '../graph/limits';
import { readWorkspaceFile } from './documentFile';
import { Tabs } from './Tabs';
import { toEditorWorkspace, WorkspaceError, workspaceCodec, type WorkspaceState, type WorkspaceStore } from './workspaceStore';
import type { VariantView } from './workspace-types';
import { encodeShareHash, ShareLinkError } from '../graph/share';
import { ESTIMATED_SIZE, estimatedHandles, handleKey, KIND_COLOR, LOD_MIN_NODES, LodContext, lodSelector, type BlockFlowNode } from './BlockNode';
import { canvasNodeTypes, ESTIMATED_GROUP_SIZE, frameNodeId, GroupActionsContext, groupHandleKey, type FrameFlowNode, type GroupActions, type GroupFlowNode } from './GroupNode';
import { EdgeLayer, splitEdges } from './EdgeLayer';
import { canvasEdges as routeEdges, canvasItems, groupPosition, nodesInside } from './groupView';
import { defaultCollapsed, groupSummary, indexGroups, type GroupSummary } from '../graph/groups';
import { Palette, DRAG_MIME, DEFINITION_DRAG_MIME, findMyBlock } from './Palette';
import { Inspector } from './Inspector';
import { CodePanel, downloadText } from './CodePanel';
import { TemplatesDialog } from './TemplatesDialog';
import { useStickyVariantTools, useVariantTools, type StickyVariantTools } from './VariantTools';
import { completeLayout, edgesInView, elkLayout, type Position, type Rect } from './layout';
import { templateDoc, wouldCycle, type EditorStore } from './store';
import { AutosaveNotice } from './AutosaveNotice';
import type { DocumentWeights } from './runController';
import { ConversionError, convertNaming, namingOf, type NamingConversion } from '../graph/convert';

const PAN_BUTTONS = [1, 2];
/** The run panel brings tfjs's backends; it loads when first opened, not with the editor. */
const RuntimePanel = lazy(() => import('./RuntimePanel').then((m) => ({ default: m.RuntimePanel })));
const LossChart = lazy(() => import('./LossChart').then((m) => ({ default: m.LossChart })));
const fmtInt = new Intl.NumberFormat('en-US');

/** Resolves in a new task, so the browser handles input and paints between the stages of a long job. */
function nextTask(): Promise<void> {
  return new Promise((resolve) => {
    const c = new MessageChannel();
    c.port1.onmessage = () => {
      c.port1.close();
      resolve();
    };
    c.port2.postMessage(null);
  });
}

/** Memoised: the editor re-renders on every measure and selection, and a big graph takes a while to count. */
const Summary = memo(function Summary({ graph, analysis }: { graph: Graph; analysis: Analysis }) {
  const errors = analysis.problems.filter((p) => p.severity === 'error').length;
  const warnings = analysis.problems.length - errors;
  return (
    <footer className="summary" data-testid="summary">
      <span>
        <b data-testid="summary-params">{fmtInt.format(countParameters(analysis))}</b> parameters
      </span>
      <span>
        <b data-testid="summary-gflops">{(countFlops(analysis) / 1e9).toFixed(2)}</b> GFLOP / sample
      </span>
      <span>
        <b data-testid="summary-blocks">{graph.nodes.length}</b> blocks
      </span>
      <span className={errors === 0 ? 'ok' : 'bad'} data-testid="summary-status">
        {errors === 0 ? 'valid' : `${errors} error${errors === 1 ? '' : 's'}`}
        {warnings > 0 ? ` · ${warnings} warning${warnings === 1 ? '' : 's'}` : ''}
      </span>
    </footer>
  );
});

/** Input fields swallow editor shortcuts. */
function typing(e: KeyboardEvent): boolean {
  const t = e.target as HTMLElement | null;
  return !!t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.tagName === 'SELECT' || t.isContentEditable);
}

/** Stable props for <ReactFlow> (new objects per render would be pushed into its store each time). */
const FIT_VIEW_OPTIONS = { padding: 0.1, maxZoom: 1 };
const PRO_OPTIONS = { hideAttribution: true };
const MULTI_SELECT_KEYS = ['Meta', 'Control', 'Shift'];
const summaryCache = new WeakMap<Analysis, Map<string, GroupSummary>>();
/** `groupSummary`, once per analysis and group (analyses are per graph object, so an edit starts afresh). */
function cachedSummary(graph: Graph, analysis: Analysis, id: string): GroupSummary {
  let m = summaryCache.get(analysis);
  if (!m) summaryCache.set(analysis, (m = new Map()));
  let sum = m.get(id);
  if (!sum) m.set(id, (sum = groupSummary(graph, analysis, id)));
  return sum;
}

/** Everything the canvas draws: blocks, collapsed groups, frames of expanded groups. */
type CanvasNode = BlockFlowNode | GroupFlowNode | FrameFlowNode;
const minimapColor = (n: CanvasNode) =>
  n.type === 'block' ? (n.data.errors.length > 0 ? '#ef4444' : n.data.color) : n.type === 'group' ? (n.data.errors > 0 ? '#ef4444' : '#64748b') : 'transparent';
/** A frame's margin around its members, and the height of its title bar. */
const FRAME_PAD = 18;
const FRAME_HEAD = 30;
/** From this many nodes on, React Flow only mounts the nodes and edges inside the viewport. */
const VISIBLE_ONLY_FROM = 300;
/** From WARN_BLOCKS on, it is handed at most this many edges at a time: those in view when the view last settled. */
const MAX_DRAWN_EDGES = 300;
const paneWidth = (s: { width: number }) => s.width;
const paneHeight = (s: { height: number }) => s.height;
/** An edge as drawn zoomed out (LOD_ZOOM): without its label; one object per edge, so crossing the threshold again reuses it. */
const unlabelled = new WeakMap<Edge, Edge>();
function withoutLabel(e: Edge): Edge {
  if (e.label === undefined) return e;
  let u = unlabelled.get(e);
  if (!u) unlabelled.set(e, (u = { ...e, label: undefined }));
  return u;
}
const onCanvasDragOver = (e: DragEvent) => {
  e.preventDefault();
  e.dataTransfer.dropEffect = 'copy';
};

interface CanvasProps {
  readonly store: EditorStore;
  readonly nodes: CanvasNode[];
  readonly edges: Edge[];
  /** Everything but drag moves (selection, dimensions, keyboard moves). */
  readonly onNodesChange: (changes: NodeChange<CanvasNode>[]) => void;
  readonly onEdgesChange: (changes: EdgeChange[]) => void;
  readonly onConnect: (c: Connection) => void;
  readonly isValidConnection: IsValidConnection;
  readonly onPaneClick: () => void;
  readonly onDrop: (e: DragEvent) => void;
  readonly onNodeDoubleClick: (e: unknown, node: CanvasNode) => void;
  /** Dragged positions as the store takes them (a frame's stands for its group's). */
  readonly toStore: (moves: Readonly<Record<string, Position>>) => Record<string, Position>;
  readonly wrapper: RefObject<HTMLDivElement | null>;
}

/**
 * The React Flow canvas. While a node is dragged its positions live here (local state), so a
 * mouse move re-renders only the canvas, not the editor around it, and the store (undo history,
 * autosave, analysis) is written once, when the drag ends: one undo entry per drag.
 */
const Canvas = memo(function Canvas({ store, nodes, edges, onNodesChange, onEdgesChange, onConnect, isValidConnection, onPaneClick, onDrop, onNodeDoubleClick, toStore, wrapper }: CanvasProps) {
  const [live, setLive] = useState<Readonly<Record<string, Position>> | null>(null);
  const liveRef = useRef<Record<string, Position> | null>(null);

  const commit = useCallback(() => {
    const moves = liveRef.current;
    liveRef.current = null;
    setLive(null);
    if (moves && Object.keys(moves).length > 0) store.apply({ kind: 'move', positions: toStore(moves) });
  }, [store, toStore]);

  const handleNodesChange = useCallback(
    (changes: NodeChange<CanvasNode>[]) => {
      let rest: NodeChange<CanvasNode>[] | null = null;
      let moved = false;
      let end = false;
      for (const c of changes) {
        if (c.type === 'position' && c.position && (c.dragging === true || (c.dragging === false && liveRef.current !== null))) {
          liveRef.current = { ...liveRef.current, [c.id]: c.position };
          moved = true;
          if (c.dragging === false) end = true;
        } else {
          (rest ??= []).push(c);
        }
      }
      if (rest) onNodesChange(rest);
      if (end) commit();
      else if (moved) setLive(liveRef.current);
    },
    [onNodesChange, commit],
  );

  const shown = useMemo(() => (live ? nodes.map((n) => (live[n.id] ? { ...n, position: live[n.id] } : n)) : nodes), [nodes, live]);

  // In a graph of thousands, only the edges in view (as of the last pan or zoom) go to React Flow.
  const big = nodes.length >= WARN_BLOCKS;
  const flow = useStoreApi<CanvasNode, Edge>();
  const width = useStore(paneWidth);
  const height = useStore(paneHeight);
  const [viewport, setViewport] = useState<Viewport | null>(null);
  const onMoveEnd = useCallback((_: unknown, vp: Viewport) => setViewport(vp), []);
  const drawnRef = useRef<Edge[]>(edges);
  const drawnEdges = useMemo(() => {
    if (!big) return (drawnRef.current = edges);
    const [tx, ty, zoom] = viewport ? [viewport.x, viewport.y, viewport.zoom] : flow.getState().transform;
    const view: Rect = { x: -tx / zoom, y: -ty / zoom, width: width / zoom, height: height / zoom };
    const rects = new Map<string, Rect>();
    for (const n of nodes) {
      rects.set(n.id, { x: n.position.x, y: n.position.y, width: n.measured?.width ?? n.initialWidth ?? 0, height: n.measured?.height ?? n.initialHeight ?? 0 });
    }
    const next = edgesInView(edges, rects, view, MAX_DRAWN_EDGES);
    const prev = drawnRef.current;
    // The same edges as before: the same array, so React Flow has nothing to do.
    if (prev.length === next.length && next.every((e, i) => e === prev[i])) return prev;
    return (drawnRef.current = next);
  }, [big, edges, nodes, viewport, width, height, flow]);

  // Level of detail: a boolean from the zoom, so this re-renders only when the zoom crosses LOD_ZOOM
  // (and only from LOD_MIN_NODES nodes on); the nodes read it from LodContext (memoised, they
  // re-render then too, never per frame).
  const zoomedOut = useStore(lodSelector);
  const lod = zoomedOut && nodes.length >= LOD_MIN_NODES;
  // Zoomed out, most edges are drawn as one SVG layer (EdgeLayer.tsx); React Flow keeps those of
  // selected and dragged nodes and selected edges. A drag keeps its node set: the layer stays put.
  const dragKey = live ? Object.keys(live).sort().join('\n') : '';
  const split = useMemo(() => {
    if (!lod) return { real: drawnEdges, layered: [] };
    const keep = new Set(dragKey === '' ? [] : dragKey.split('\n'));
    for (const n of nodes) if (n.selected) keep.add(n.id);
    return splitEdges(drawnEdges, keep);
  }, [lod, drawnEdges, nodes, dragKey]);
  const flowEdges = useMemo(() => (lod ? split.real.map(withoutLabel) : split.real), [lod, split]);

  return (
    <div className={`canvas${lod ? ' lod' : ''}`} ref={wrapper} onDragOver={onCanvasDragOver} onDrop={onDrop} data-testid="canvas" data-lod={lod}>
      <LodContext.Provider value={lod}>
      <ReactFlow<CanvasNode, Edge>
        nodes={shown}
        edges={flowEdges}
        nodeTypes={canvasNodeTypes}
        onNodeDoubleClick={onNodeDoubleClick}
        zoomOnDoubleClick={false}
        onNodesChange={handleNodesChange}
        onEdgesChange={onEdgesChange}
        onConnect={onConnect}
        isValidConnection={isValidConnection}
        onNodeDragStop={commit}
        onMoveEnd={big ? onMoveEnd : undefined}
        onPaneClick={onPaneClick}
        onlyRenderVisibleElements={nodes.length >= VISIBLE_ONLY_FROM}
        deleteKeyCode={null}
        selectionOnDrag
        panOnDrag={PAN_BUTTONS}
        selectionMode={SelectionMode.Partial}
        multiSelectionKeyCode={MULTI_SELECT_KEYS}
        minZoom={0.05}
        maxZoom={2}
        fitView
        fitViewOptions={FIT_VIEW_OPTIONS}
        proOptions={PRO_OPTIONS}
      >
        <Background variant={BackgroundVariant.Dots} gap={20} size={1} color="#cbd5e1" />
        <EdgeLayer edges={split.layered} nodes={nodes} />
        {/* The minimap draws every block, on every change: not for a graph of thousands. */}
        {nodes.length < WARN_BLOCKS && <MiniMap<CanvasNode> pannable zoomable nodeColor={minimapColor} />}
        <Controls />
      </ReactFlow>
      </LodContext.Provider>
    </div>
  );
});

interface EditorProps {
  /** The active variant's store (the editor is remounted when another variant is shown). */
  readonly store: EditorStore;
  readonly workspace: WorkspaceStore;
  readonly ws: WorkspaceState;
  /** The colouring and diff choices, kept across tab switches. */
  readonly sticky: StickyVariantTools;
}

/** A share link made by "Copy link": shown in a banner with its text, copied to the clipboard when the browser allows. */
type ShareResult = { readonly url: string; readonly copied: boolean; readonly scope: 'variant' | 'workspace' };

function Editor({ store, workspace, ws, sticky }: EditorProps) {
  const state = useSyncExternalStore(store.subscribe, store.getState);
  // --- the workspace (issue 15): its variants and actions, for the comparison, sweeps and charts ---
  const variants: readonly VariantView[] = useMemo(() => workspace.views(), [workspace, ws.doc]);
  /** Adds graphs (a sweep's) as new tabs and shows the first new one. */
  const addVariants = useCallback(
    (list: readonly { name: string; graph: Graph }[]) => {
      try {
        workspace.addGraphs(list);
      } catch (e) {
        if (e instanceof WorkspaceError) workspace.setMessage(e.message);
        else throw e;
      }
    },
    [workspace],
  );
  /** Attaches a `metrics.jsonl` text (raw) to a variant; autosaved and saved with the workspace. */
  const attachMetrics = useCallback((variantId: string, metricsText: string) => workspace.attachMetrics(variantId, metricsText), [workspace]);
  const [shareMenu, setShareMenu] = useState(false);
  const [share, setShare] = useState<ShareResult | null>(null);
  const copyLink = async (scope: 'variant' | 'workspace') => {
    setShareMenu(false);
    const all = workspace.getState().doc;
    const chosen = scope === 'workspace' ? all : { active: all.active, variants: all.variants.filter((v) => v.id === all.active) };
    let hash: string;
    try {
      hash = encodeShareHash(chosen);
    } catch (e) {
      if (e instanceof ShareLinkError) {
        setShare(null);
        workspace.setMessage(e.message);
        return;
      }
      throw e;
    }
    const url = `${location.origin}${location.pathname}${location.search}${hash}`;
    let copied = false;
    try {
      await navigator.clipboard.writeText(url);
      copied = true;
    } catch {
      // No clipboard (permission, an insecure page): the banner's text field holds the link to copy by hand.
    }
    setShare({ url, copied, scope });
  };
  const { graph, layout, collapsed } = state.doc;
  const selection = state.selection;
  const analysis = analyze(graph);
  const rf = useReactFlow<CanvasNode, Edge>();
  const wrapper = useRef<HTMLDivElement>(null);
  const [showCode, setShowCode] = useState(false);
  const [showRun, setShowRun] = useState(false);
  const [showTemplates, setShowTemplates] = useState(false);
  const [showCurves, setShowCurves] = useState(false);
  /** The Run panel's last per-block times (Time each block), by block name: "Colour by: last measured time" and the inspector. */
  const [times, setTimes] = useState<ReadonlyMap<string, number> | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  /** The weights of a trained model opened with New… (handed to the run panel; another New… or Open drops them). */
  const [docWeights, setDocWeights] = useState<DocumentWeights | null>(null);
  const [conversion, setConversion] = useState<NamingConversion | null>(null);
  /**
   * Sizes React Flow measured, by node id, with the handles the node had then: a controlled node
   * handed back without `measured` would be measured again on every edit. Ids are reused across
   * documents (`n5` may be a Conv2d here and a ResBlock after Open), so a size is handed back only
   * while the node's handles are the same; otherwise React Flow measures the node (and its handles)
   * afresh before drawing the edges that name them.
   */
  const measured = useRef(new Map<string, { readonly handles: string; readonly size: { width: number; height: number } }>());
  // What is drawn (cached per graph and collapsed list): the blocks and groups below, and what the colouring covers.
  const items = useMemo(() => canvasItems(graph, collapsed), [graph, collapsed]);
  const tools = useVariantTools({ graph, analysis, items, variants, activeId: workspace.activeId, sticky, times, show: (id) => workspace.select(id), selectNode: (id) => store.select({ nodes: [id], edges: [] }) });
  const handlesById = useRef(new Map<string, string>());
  const [measureTick, setMeasureTick] = useState(0);
  const addCount = useRef(0);

  // --- nodes and edges, derived from the document (node objects reused while unchanged) ---
  const nodeCache = useRef(new Map<string, { key: unknown[]; node: BlockFlowNode }>());
  const groupNodeCache = useRef(new Map<string, { key: unknown[]; node: GroupFlowNode }>());
  const edgeCache = useRef(new Map<string, { key: unknown[]; edge: Edge }>());
  const selectedNodes = useMemo(() => new Set(selection.nodes), [selection.nodes]);
  const selectedEdges = useMemo(() => new Set(selection.edges), [selection.edges]);
  const problemsByNode = useMemo(() => {
    const m = new Map<string, { errors: string[]; warnings: string[] }>();
    for (const p of analysis.problems) {
      if (p.nodeId === undefined || p.nodeId === null) continue;
      let e = m.get(p.nodeId);
      if (!e) m.set(p.nodeId, (e = { errors: [], warnings: [] }));
      if (p.severity === 'error') e.errors.push(p.message);
      else if (p.severity === 'warning') e.warnings.push(p.message);
    }
    return m;
  }, [analysis]);
  // Only the nodes in view are drawn in a big graph; React Flow would still mount every node it has
  // not measured once, all at the same time, to find its handles. Those get a size and handles
  // estimated from the block instead (replaced by the real ones when the node is first drawn).
  const estimate = graph.nodes.length >= VISIBLE_ONLY_FROM;
  // One array while nothing it shows changed (a new one would make React Flow look at every node).
  const shownBlocks = useMemo(() => (items.hiddenIn.size === 0 ? graph.nodes : graph.nodes.filter((n) => !items.hiddenIn.has(n.id))), [graph, items]);
  const blockNodes: BlockFlowNode[] = useMemo(() => shownBlocks.map((n) => {
    const info = analysis.info.get(n.id);
    const pos = layout[n.id] ?? { x: 0, y: 0 };
    const def = isBlockType(n.type) ? blockDef(n.type) : null;
    const handles = handleKey(def?.inputs ?? [], def?.output ?? null);
    handlesById.current.set(n.id, handles);
    const cached = measured.current.get(n.id);
    const m = cached?.handles === handles ? cached.size : undefined;
    const probs = problemsByNode.get(n.id);
    const errors = probs?.errors ?? [];
    const warnings = probs?.warnings ?? [];
    const shape = info?.out ? formatShape(info.out) : null;
    const tint = tools.tints?.get(n.id);
    const key = [n, pos, selectedNodes.has(n.id), shape, errors.join('\n'), warnings.join('\n'), m, estimate, tint];
    const hit = nodeCache.current.get(n.id);
    if (hit && hit.key.every((k, i) => k === key[i])) return hit.node;
    const node: BlockFlowNode = {
      id: n.id,
      type: 'block',
      position: pos,
      selected: selectedNodes.has(n.id),
      ...(m
        ? { measured: m }
        : estimate
          ? { initialWidth: ESTIMATED_SIZE.width, initialHeight: ESTIMATED_SIZE.height, handles: estimatedHandles(def?.inputs ?? [], def?.output ?? null) }
          : {}),
      data: {
        name: n.name,
        title: def?.displayName ?? n.type,
        summary: def && info ? def.view.summary(info.params) : '',
        color: def?.view.color ?? '#ef4444',
        inputs: def?.inputs ?? [],
        output: def?.output ?? null,
        shape,
        errors,
        warnings,
        ...(tint ? { tint } : {}),
      },
    };
    nodeCache.current.set(n.id, { key, node });
    return node;
  }), [shownBlocks, layout, analysis, selectedNodes, problemsByNode, estimate, measureTick, tools.tints]);

  // Collapsed groups: one node each, with the ports and sums groupSummary derives.
  // Per analysis (a new graph makes a new one), so expanding one group does not sum every other again.
  const summaries = useMemo(() => new Map(items.collapsed.map((id) => [id, cachedSummary(graph, analysis, id)])), [graph, analysis, items]);
  const groupNodes: GroupFlowNode[] = useMemo(
    () =>
      items.collapsed.map((id) => {
        const sum = summaries.get(id)!;
        const port = (p: (typeof sum.inputs)[number]) => ({ name: p.name, kind: p.kind, shape: p.shape ? formatShape(p.shape) : null });
        const firstError = sum.problems.find((p) => p.severity === 'error');
        const tint = tools.tints?.get(id);
        const tintTitle = tools.groupTitles?.get(id);
        const data = {
          name: sum.name,
          blocks: sum.blocks,
          parameters: sum.parameters,
          gflops: sum.flops / 1e9,
          inputs: sum.inputs.map(port),
          outputs: sum.outputs.map(port),
          problem: firstError ? firstError.message : null,
          errors: sum.problems.filter((p) => p.severity === 'error').length,
          warnings: sum.problems.filter((p) => p.severity === 'warning').length,
          ...(tint ? { tint } : {}),
          ...(tintTitle ? { tintTitle } : {}),
        };
        const handles = groupHandleKey(data);
        handlesById.current.set(id, handles);
        const cached = measured.current.get(id);
        const m = cached?.handles === handles ? cached.size : undefined;
        const position = groupPosition(graph, layout, collapsed, id);
        // The same object while nothing it shows changed: React Flow then leaves the node alone.
        const key = [sum, position.x, position.y, selectedNodes.has(id), m, tint, tintTitle];
        const hit = groupNodeCache.current.get(id);
        if (hit && hit.key.every((k, i) => k === key[i])) return hit.node;
        const node: GroupFlowNode = {
          id,
          type: 'group' as const,
          position,
          selected: selectedNodes.has(id),
          ...(m ? { measured: m } : {}),
          data,
        };
        groupNodeCache.current.set(id, { key, node });
        return node;
      }),
    // measureTick: a size measured since is handed back (see `measured`).
    [graph, layout, collapsed, items, summaries, selectedNodes, measureTick, tools.tints, tools.groupTitles],
  );

  // Expanded groups: a frame behind the bounds of what is drawn inside (nested frames included).
  const frameNodes: FrameFlowNode[] = useMemo(() => {
    if (items.frames.length === 0) return [];
    const idx = indexGroups(graph);
    const rects = new Map<string, Rect>();
    const sizeOf = (id: string, est: { width: number; height: number }) => measured.current.get(id)?.size ?? est;
    for (const n of blockNodes) rects.set(n.id, { ...n.position, ...sizeOf(n.id, ESTIMATED_SIZE) });
    for (const n of groupNodes) rects.set(n.id, { ...n.position, ...sizeOf(n.id, ESTIMATED_GROUP_SIZE) });
    const frames: FrameFlowNode[] = [];
    // Children before parents: a parent's bounds include its child frames.
    for (const id of [...items.frames].reverse()) {
      const g = idx.byId.get(id)!;
      let x1 = Infinity;
      let y1 = Infinity;
      let x2 = -Infinity;
      let y2 = -Infinity;
      for (const m of [...g.nodes, ...(idx.children.get(id) ?? [])]) {
        const r = rects.get(m);
        if (!r) continue;
        x1 = Math.min(x1, r.x);
        y1 = Math.min(y1, r.y);
        x2 = Math.max(x2, r.x + r.width);
        y2 = Math.max(y2, r.y + r.height);
      }
      if (!Number.isFinite(x1)) continue;
      const rect = { x: x1 - FRAME_PAD, y: y1 - FRAME_PAD - FRAME_HEAD, width: x2 - x1 + 2 * FRAME_PAD, height: y2 - y1 + 2 * FRAME_PAD + FRAME_HEAD };
      rects.set(id, rect);
      const errors = analysis.problems.filter((p) => p.severity === 'error' && p.groupId === id).length;
      frames.push({
        id: frameNodeId(id),
        type: 'frame',
        position: { x: rect.x, y: rect.y },
        width: rect.width,
        height: rect.height,
        // Its size is known: handed over as measured, so React Flow has nothing to measure again.
        measured: { width: rect.width, height: rect.height },
        style: { width: rect.width, height: rect.height },
        // Behind the blocks and an outer frame behind an inner one: frames come first in the list, parents
        // first, at the blocks' z-index (a negative one would put them under the pane, out of reach).
        selected: selectedNodes.has(id),
        // Not caught by a selection box around blocks inside it: selected by its title bar (GroupNode.tsx).
        selectable: false,
        data: { group: id, name: g.name, blocks: nodesInside(graph, id).length, errors },
      });
    }
    return frames.reverse();
  }, [graph, analysis, items, blockNodes, groupNodes, selectedNodes, measureTick]);

  // Frames first (drawn behind), then collapsed groups, then blocks.
  const nodes: CanvasNode[] = useMemo(
    () => (frameNodes.length === 0 && groupNodes.length === 0 ? blockNodes : [...frameNodes, ...groupNodes, ...blockNodes]),
    [frameNodes, groupNodes, blockNodes],
  );
  const framePositions = useRef(new Map<string, Position>());
  framePositions.current = new Map(frameNodes.map((f) => [f.id, f.position]));
  /** A frame's node id → its group's id. */
  const frameGroups = useRef(new Map<string, string>());
  frameGroups.current = new Map(frameNodes.map((f) => [f.id, f.data.group]));

  const badEdges = useMemo(() => new Set(analysis.problems.flatMap((p) => (p.edgeId !== undefined && p.severity === 'error' ? [p.edgeId] : []))), [analysis]);
  const edges: Edge[] = useMemo(
    () =>
      routeEdges(graph, analysis, items).map((e) => {
        const src = analysis.info.get(e.from)?.out;
        const kind = src?.kind ?? 'feature';
        const bad = e.edges.some((id) => badEdges.has(id));
        // Labels are measured in the page one by one: not for a graph of thousands.
        const label = graph.nodes.length >= WARN_BLOCKS ? undefined : src ? formatShape(src) : '?';
        // The same object while nothing it shows changed (expanding one group leaves the others' edges be).
        const selected = !e.grouped && selectedEdges.has(e.id);
        const key = [e.source, e.sourceHandle, e.target, e.targetHandle, e.grouped, selected, label, kind, bad];
        const hit = edgeCache.current.get(e.id);
        if (hit && hit.key.every((k, i) => k === key[i])) return hit.edge;
        const edge: Edge = {
          id: e.id,
          source: e.source,
          sourceHandle: e.sourceHandle,
          target: e.target,
          targetHandle: e.targetHandle,
          // An edge to a collapsed group stands for several: it is not selected or deleted on its own.
          ...(e.grouped ? { selectable: false, deletable: false } : { selected: selectedEdges.has(e.id) }),
          label,
          className: `edge-${kind}${bad ? ' edge-bad' : ''}`,
          style: { stroke: KIND_COLOR[kind], strokeWidth: kind === 'feature' ? 1.6 : 1, opacity: kind === 'feature' ? 0.9 : 0.45 },
          labelBgPadding: [4, 2] as [number, number],
          labelBgBorderRadius: 4,
        };
        edgeCache.current.set(e.id, { key, edge });
        return edge;
      }),
    [graph, analysis, items, badEdges, selectedEdges],
  );

  // A big graph reaches the canvas and the summary in later renders than the toolbar: each of those
  // renders is a task of its own, so the page answers in between.
  const big = graph.nodes.length >= VISIBLE_ONLY_FROM;
  const lateNodes = useDeferredValue(nodes);
  const lateEdges = useDeferredValue(edges);
  // The canvas by what it draws (a big graph with its levels collapsed draws few nodes: expanding one
  // then shows in the same render, not a deferred one).
  const bigCanvas = nodes.length >= VISIBLE_ONLY_FROM;
  const canvasNodes = bigCanvas ? lateNodes : nodes;
  const canvasEdges = bigCanvas ? lateEdges : edges;
  const lateSummary = useDeferredValue(useMemo(() => ({ graph, analysis }), [graph, analysis]));
  const summaryGraph = big ? lateSummary.graph : graph;
  const summaryAnalysis = big ? lateSummary.analysis : analysis;

  // --- changes from React Flow ---
  /** A frame's position is its group's members' top-left moved by as much as the frame was: the store moves the members. */
  const toStore = useCallback(
    (moves: Readonly<Record<string, Position>>): Record<string, Position> => {
      const out: Record<string, Position> = {};
      const { graph: g, layout: l, collapsed: c } = store.getState().doc;
      for (const [id, p] of Object.entries(moves)) {
        const was = framePositions.current.get(id);
        const group = frameGroups.current.get(id);
        if (!was || group === undefined) {
          out[id] = p;
          continue;
        }
        const from = groupPosition(g, l, c, group);
        out[group] = { x: from.x + p.x - was.x, y: from.y + p.y - was.y };
      }
      return out;
    },
    [store],
  );
  const onNodeDoubleClick = useCallback(
    (_: unknown, n: CanvasNode) => {
      if (n.type === 'group') store.toggleCollapsed(n.id);
    },
    [store],
  );
  const groupActions: GroupActions = useMemo(
    () => ({ toggle: (id: string) => store.toggleCollapsed(id), select: (id: string) => store.select({ nodes: [id], edges: [] }) }),
    [store],
  );

  const onNodesChange = useCallback(
    (changes: NodeChange<CanvasNode>[]) => {
      const moves: Record<string, Position> = {};
      let sel: Set<string> | null = null;
      let dims = false;
      for (const c of changes) {
        if (c.type === 'position' && c.position) {
          moves[c.id] = c.position;
        } else if (c.type === 'dimensions' && c.dimensions) {
          measured.current.set(c.id, { handles: handlesById.current.get(c.id) ?? '', size: c.dimensions });
          dims = true;
        } else if (c.type === 'select') {
          sel ??= new Set(store.getState().selection.nodes);
          const id = frameGroups.current.get(c.id) ?? c.id;
          if (c.selected) sel.add(id);
          else sel.delete(id);
        }
      }
      // Drag moves are kept by <Canvas> and committed at drag end; what arrives here is a
      // one-off move (arrow keys): one undo entry each.
      if (Object.keys(moves).length > 0) store.apply({ kind: 'move', positions: toStore(moves) });
      if (sel) store.select({ nodes: [...sel], edges: store.getState().selection.edges });
      if (dims) setMeasureTick((t) => t + 1);
    },
    [store, toStore],
  );

  const onEdgesChange = useCallback(
    (changes: EdgeChange[]) => {
      let sel: Set<string> | null = null;
      for (const c of changes) {
        if (c.type === 'select') {
          sel ??= new Set(store.getState().selection.edges);
          if (c.selected) sel.add(c.id);
          else sel.delete(c.id);
        }
      }
      if (sel) store.select({ nodes: store.getState().selection.nodes, edges: [...sel] });
    },
    [store],
  );

  const isValidConnection: IsValidConnection = useCallback(
    (c) => {
      const g = store.graph;
      const src = g.nodes.find((n) => n.id === c.source);
      const dst = g.nodes.find((n) => n.id === c.target);
      if (!src || !dst || !isBlockType(src.type) || !isBlockType(dst.type)) return false;
      const out = blockDef(src.type).output;
      const port = blockDef(dst.type).inputs.find((p) => p.name === c.targetHandle);
      if (!out || !port || out.kind !== port.kind) return false;
      return !wouldCycle(g, src.id, dst.id);
    },
    [store],
  );

  const onConnect = useCallback(
    (c: Connection) => {
      if (!c.targetHandle) return;
      store.apply({ kind: 'connect', from: c.source, to: { node: c.target, port: c.targetHandle } });
    },
    [store],
  );

  // --- adding blocks ---
  const addAt = useCallback((type: BlockType, position: Position) => store.apply({ kind: 'add-node', type, position }), [store]);
  const addAtCentre = useCallback(
    (type: BlockType) => {
      const r = wrapper.current?.getBoundingClientRect();
      const centre = r ? rf.screenToFlowPosition({ x: r.left + r.width / 2, y: r.top + r.height / 2 }) : { x: 0, y: 0 };
      const k = addCount.current++ % 6;
      addAt(type, { x: centre.x - 95 + k * 24, y: centre.y - 40 + k * 24 });
    },
    [rf, addAt],
  );
  const onDrop = useCallback(
    (e: DragEvent) => {
      const type = e.dataTransfer.getData(DRAG_MIME);
      const mine = findMyBlock(store.graph, e.dataTransfer.getData(DEFINITION_DRAG_MIME));
      if (mine) return void (e.preventDefault(), store.apply({ kind: 'instantiate', definition: mine, position: rf.screenToFlowPosition({ x: e.clientX, y: e.clientY }) }));
      if (!isBlockType(type)) return;
      e.preventDefault();
      addAt(type, rf.screenToFlowPosition({ x: e.clientX, y: e.clientY }));
    },
    [rf, addAt, store],
  );

  // Centres the view on a flow position at the present zoom, at once (an animation would move what is about to be clicked).
  const revealAt = useCallback(
    (at: Position) => void setTimeout(() => void rf.setCenter(at.x + 100, at.y + 40, { zoom: rf.getZoom(), duration: 0 }), 0),
    [rf],
  );

  const onPaneClick = useCallback(() => store.select({ nodes: [], edges: [] }), [store]);

  const fitSoon = useCallback(() => {
    // Animated only while the graph is small: each frame of the animation redraws what is in view.
    setTimeout(() => void rf.fitView({ padding: 0.1, duration: store.graph.nodes.length < VISIBLE_ONLY_FROM ? 200 : 0, maxZoom: 1 }), 60);
  }, [rf, store]);

  // --- keyboard ---
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (typing(e)) return;
      const mod = e.ctrlKey || e.metaKey;
      const k = e.key.toLowerCase();
      if (mod && k === 'z') {
        e.preventDefault();
        if (e.shiftKey) store.redo();
        else store.undo();
      } else if (mod && k === 'y') {
        e.preventDefault();
        store.redo();
      } else if (mod && k === 'c') {
        store.copy();
      } else if (mod && k === 'v') {
        e.preventDefault();
        store.paste();
      } else if (mod && k === 'g') {
        e.preventDefault();
        if (e.shiftKey) store.ungroupSelection();
        else store.groupSelection();
      } else if (mod && k === 'd') {
        e.preventDefault();
        store.duplicate();
      } else if (!mod && (e.key === 'Delete' || e.key === 'Backspace')) {
        e.preventDefault();
        store.deleteSelection();
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [store]);

  // --- files ---
  const fileInput = useRef<HTMLInputElement>(null);
  const [sizeWarningHidden, setSizeWarningHidden] = useState(false);
  const sizeWarning = documentSizeWarning(graph.nodes.length);
  const naming = useMemo(() => namingOf(graph), [graph]);
  /** The graph under the other world's names (positions kept: ids do not change); every block without a counterpart is named in the banner. */
  const convertNames = () => {
    if (!naming) return;
    try {
      const c = convertNaming(graph, naming === 'openai' ? 'diffusers' : 'openai');
      // The groups are the other world's (every block was renamed): collapsed like a template's if any were collapsed.
      const before = store.getState().doc;
      store.replace({ graph: c.graph, layout: completeLayout(c.graph, before.layout), collapsed: before.collapsed.length > 0 ? defaultCollapsed(c.graph) : [] });
      store.setMessage(null);
      setConversion(c);
    } catch (e) {
      if (e instanceof ConversionError) store.setMessage(e.message);
      else throw e;
    }
  };
  /**
   * A document over the size limits is refused (unread when the file alone says so) and the open
   * graph stays. Otherwise it is read and parsed in a worker, then checked and laid out in separate
   * tasks, then shown, so the page keeps answering while a big document opens.
   */
  const onOpenFile = async (file: File) => {
    let doc: GraphDocument;
    try {
      const opened = await readWorkspaceFile(file, file.name);
      if (!opened.fromDocument) {
        // A workspace file: its variants open as new tabs beside the open ones (nothing open is replaced).
        workspace.addWorkspace(toEditorWorkspace(opened.workspace));
        store.setMessage(null);
        return;
      }
      doc = opened.workspace.variants[0].doc;
    } catch (e) {
      if (e instanceof DocumentError || e instanceof WorkspaceError) {
        store.setMessage(e.message);
        return;
      }
      throw e;
    }
    await nextTask();
    analyze(doc.graph); // cached per graph object: the render below reuses it
    await nextTask();
    const layout = completeLayout(doc.graph, doc.layout);
    await nextTask();
    store.replace({ graph: doc.graph, layout, collapsed: doc.collapsed ?? [] });
    store.setMessage(null);
    setDocWeights(null);
    setSizeWarningHidden(false);
    fitSoon();
  };

  const autoLayout = async () => {
    setBusy(true);
    try {
      const { graph: g, collapsed: c } = store.getState().doc;
      const positions = await elkLayout(g, new Map([...measured.current].map(([id, m]) => [id, m.size])), c);
      store.apply({ kind: 'move', positions });
      fitSoon();
    } finally {
      setBusy(false);
    }
  };

  const selectedNode = selection.nodes.length === 1 ? selection.nodes[0] : null;
  const groupIds = indexGroups(graph).byId;
  const selectedGroup = selection.nodes.some((id) => groupIds.has(id));

  return (
    <div className={`app${showCode || showRun ? ' with-code' : ''}`}>
      <header className="toolbar">
        <span className="brand">UNet Studio</span>
        <span className="doc-name" title={graph.description}>
          {graph.name}
        </span>
        <span className="spacer" />
        <button onClick={() => setShowTemplates(true)} data-testid="templates">
          New…
        </button>
        <button onClick={() => fileInput.current?.click()} data-testid="open">
          Open
        </button>
        <input
          ref={fileInput}
          type="file"
          accept=".json,application/json"
          hidden
          data-testid="file-input"
          onChange={(e) => {
            const f = e.target.files?.[0];
            e.target.value = '';
            if (f) void onOpenFile(f);
          }}
        />
        <button onClick={() => downloadText(store.saveText(), `${graph.name || 'graph'}.json`, 'application/json')} title="Save this variant's graph as a document file" data-testid="save">
          Save
        </button>
        <button
          onClick={() => downloadText(workspaceCodec.serialize(workspace.getState().doc), workspaceCodec.fileName(workspace.getState().doc), 'application/json')}
          title="Save every variant (the whole workspace) as one file; Open reads it back"
          data-testid="save-workspace"
        >
          Save workspace
        </button>
        <span className="share-menu">
          <button className={shareMenu ? 'active' : ''} onClick={() => setShareMenu((v) => !v)} title="A link that opens this design (no server: the design is in the link)" data-testid="copy-link">
            Copy link
          </button>
          {shareMenu && (
            <span className="share-choices" data-testid="copy-link-menu">
              <button onClick={() => void copyLink('variant')} data-testid="copy-link-variant">
                This variant
              </button>
              <button onClick={() => void copyLink('workspace')} data-testid="copy-link-workspace">
                Whole workspace ({ws.doc.variants.length} variant{ws.doc.variants.length === 1 ? '' : 's'})
              </button>
            </span>
          )}
        </span>
        {naming && (
          <button
            onClick={convertNames}
            title={`Rename every block to ${naming === 'openai' ? "diffusers' UNet2DModel" : "OpenAI's UNetModel"} module paths (with the loaded weights); Undo returns`}
            data-testid="convert-names"
          >
            {naming === 'openai' ? '→ diffusers names' : '→ OpenAI names'}
          </button>
        )}
        <span className="sep" />
        <button onClick={() => store.undo()} disabled={state.past.length === 0} title="Undo (Ctrl+Z)" data-testid="undo">
          Undo
        </button>
        <button onClick={() => store.redo()} disabled={state.future.length === 0} title="Redo (Shift+Ctrl+Z)" data-testid="redo">
          Redo
        </button>
        <span className="sep" />
        <button onClick={() => store.groupSelection()} disabled={selection.nodes.length === 0} title="Group the selected blocks (Ctrl+G)" data-testid="group">
          Group
        </button>
        <button onClick={() => store.ungroupSelection()} disabled={!selectedGroup} title="Ungroup the selected group (Shift+Ctrl+G)" data-testid="ungroup">
          Ungroup
        </button>
        <span className="sep" />
        <button onClick={() => void autoLayout()} disabled={busy} data-testid="auto-layout">
          Auto-layout
        </button>
        <button onClick={() => void rf.fitView({ padding: 0.1, duration: 200, maxZoom: 1 })} data-testid="fit-view">
          Fit view
        </button>
        <button className={showCode ? 'active' : ''} onClick={() => setShowCode((v) => !v)} data-testid="toggle-code">
          Code
        </button>
        <button className={showRun ? 'active' : ''} onClick={() => setShowRun((v) => !v)} data-testid="toggle-run">
          Run
        </button>
        <button className={showCurves ? 'active' : ''} onClick={() => setShowCurves((v) => !v)} title="Training loss curves from train.py's metrics.jsonl" data-testid="toggle-curves">
          Curves
        </button>
        <span className="sep" />
        {tools.toolbar}
      </header>
      <Tabs workspace={workspace} state={ws.doc} />
      <AutosaveNotice />
      {ws.message && (
        <div className="banner workspace-info" role="alert" data-testid="workspace-banner">
          <pre>{ws.message}</pre>
          <button className="icon" onClick={() => workspace.setMessage(null)} aria-label="Dismiss" data-testid="workspace-banner-dismiss">
            ×
          </button>
        </div>
      )}
      {share && (
        <div className="banner share-banner" role="status" data-testid="share-banner">
          <span>
            {share.copied ? 'Link copied' : 'Copy this link'} ({share.scope === 'workspace' ? 'the whole workspace' : 'this variant'}, {share.url.length.toLocaleString('en-US')} characters):
          </span>
          <input readOnly value={share.url} onFocus={(e) => e.target.select()} aria-label="Share link" data-testid="share-link" />
          <button className="icon" onClick={() => setShare(null)} aria-label="Dismiss" data-testid="share-dismiss">
            ×
          </button>
        </div>
      )}
      {sizeWarning && !sizeWarningHidden && (
        <div className="banner size-warning" role="status" data-testid="size-warning">
          <pre>{sizeWarning}</pre>
          <button className="icon" onClick={() => setSizeWarningHidden(true)} aria-label="Dismiss" data-testid="size-warning-dismiss">
            ×
          </button>
        </div>
      )}
      {state.message && (
        <div className="banner" role="alert" data-testid="banner">
          <pre>{state.message}</pre>
          <button className="icon" onClick={() => store.setMessage(null)} aria-label="Dismiss" data-testid="banner-dismiss">
            ×
          </button>
        </div>
      )}
      <main className="workspace">
        <Palette onAdd={addAtCentre} store={store} graph={graph} reveal={revealAt} />
        <GroupActionsContext.Provider value={groupActions}>
        <Canvas
          store={store}
          nodes={canvasNodes}
          edges={canvasEdges}
          onNodesChange={onNodesChange}
          onEdgesChange={onEdgesChange}
          onConnect={onConnect}
          isValidConnection={isValidConnection}
          onPaneClick={onPaneClick}
          onDrop={onDrop}
          onNodeDoubleClick={onNodeDoubleClick}
          toStore={toStore}
          wrapper={wrapper}
        />
        </GroupActionsContext.Provider>
        <Inspector store={store} graph={graph} nodeId={selectedNode} times={times} />
        {tools.overlays}
        {showCode && <CodePanel graph={graph} onClose={() => setShowCode(false)} />}
        {showRun && (
          <Suspense fallback={<section className="runtime-panel">loading the runtime…</section>}>
            <RuntimePanel
              graph={graph}
              probeName={selectedNode ? (graph.nodes.find((n) => n.id === selectedNode)?.name ?? null) : null}
              weights={docWeights}
              conversion={conversion}
              onClose={() => setShowRun(false)}
              onProfile={(rows) => setTimes(new Map(rows.map((r) => [r.name, r.ms])))}
            />
          </Suspense>
        )}
      </main>
      {showCurves && (
        <Suspense fallback={<section className="loss-chart">loading the chart…</section>}>
          <LossChart variants={variants} attachMetrics={attachMetrics} />
        </Suspense>
      )}
      <Summary graph={summaryGraph} analysis={summaryAnalysis} />
      {showTemplates && (
        <TemplatesDialog
          onClose={() => setShowTemplates(false)}
          onCreateVariants={(list) => {
            // Each variant becomes a tab (the first new one is shown: the editor remounts on it).
            setShowTemplates(false);
            addVariants(list);
          }}
          onCreate={(g) => {
            store.replace(templateDoc(g));
            setDocWeights(null);
            setSizeWarningHidden(false);
            setShowTemplates(false);
            fitSoon();
          }}
          onOpenTrained={({ preset, doc, weights }) => {
            // Undoable like any New…; the weights go to the run panel, which opens to sample.
            // No positions: laid out like a template; its levels open collapsed like a template's.
            store.replace({ graph: doc.graph, layout: doc.layout, collapsed: defaultCollapsed(doc.graph) });
            setDocWeights({ name: preset.weightsName, bytes: weights, sampling: preset.sampling });
            setSizeWarningHidden(false);
            setShowTemplates(false);
            setShowRun(true);
            fitSoon();
          }}
        />
      )}
    </div>
  );
}

/** The editor of the workspace's active variant, under its tab bar; another tab remounts it with that variant's store. */
export function App({ workspace }: { workspace: WorkspaceStore }) {
  const ws = useSyncExternalStore(workspace.subscribe, workspace.getState);
  const active = ws.doc.active;
  const sticky = useStickyVariantTools();
  return (
    <ReactFlowProvider key={active}>
      <Editor key={active} store={workspace.storeOf(active)} workspace={workspace} ws={ws} sticky={sticky} />
    </ReactFlowProvider>
  );
}
