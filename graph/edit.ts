/** Pure edits of a graph (each returns a new graph). */
import type { Graph } from './model';
import { pruneGroups } from './groups';

/**
 * The same graph for another input resolution: the Image input's height and width replaced.
 * Fully convolutional UNets run at any size their down/up path allows; `validate` says which.
 */
export function withImageSize(graph: Graph, height: number, width: number): Graph {
  return {
    ...graph,
    nodes: graph.nodes.map((n) => (n.type === 'ImageInput' ? { ...n, params: { ...n.params, height, width } } : n)),
  };
}

/**
 * Removes nodes (with every edge touching them) and the edges listed, keeping the groups consistent:
 * the removed nodes leave their groups and groups left empty go ({@link pruneGroups}). Pasted and
 * duplicated nodes join no group, so adding nodes needs nothing more.
 */
export function removeNodes(graph: Graph, nodeIds: Iterable<string>, edgeIds: Iterable<string> = []): Graph {
  const nodes = new Set(nodeIds);
  const edges = new Set(edgeIds);
  return pruneGroups({
    ...graph,
    nodes: graph.nodes.filter((n) => !nodes.has(n.id)),
    edges: graph.edges.filter((e) => !edges.has(e.id) && !nodes.has(e.from.node) && !nodes.has(e.to.node)),
  });
}
