/** Appends nodes and edges with readable code; used by templates and tests. */
import type { ParamValue } from '../blocks/types';
import type { BlockType } from '../blocks/registry';
import type { Graph, GraphEdge, GraphNode } from './model';
import { OUTPUT_PORT } from './model';

export class GraphBuilder {
  private readonly nodes: GraphNode[] = [];
  private readonly edges: GraphEdge[] = [];

  /** Adds a node; `inputs` maps each input port to the id of the node feeding it. Returns the new id. */
  add(type: BlockType, name: string, params: Record<string, ParamValue> = {}, inputs: Record<string, string> = {}): string {
    const id = `n${this.nodes.length + 1}`;
    this.nodes.push({ id, name, type, params });
    for (const [port, from] of Object.entries(inputs)) this.connect(from, id, port);
    return id;
  }

  connect(from: string, to: string, port: string): void {
    this.edges.push({ id: `e${this.edges.length + 1}`, from: { node: from, port: OUTPUT_PORT }, to: { node: to, port } });
  }

  build(name: string, description?: string): Graph {
    return { name, ...(description ? { description } : {}), nodes: [...this.nodes], edges: [...this.edges] };
  }
}
