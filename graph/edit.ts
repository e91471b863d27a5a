/** Pure edits of a graph (each returns a new graph). */
import type { Graph } from './model';

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
