/** Appends nodes, edges and groups with readable code; used by templates and tests. */
import type { ParamValue } from '../blocks/types';
import type { BlockType } from '../blocks/registry';
import type { Graph, GraphEdge, GraphGroup, GraphNode } from './model';
import { OUTPUT_PORT } from './model';

interface OpenGroup {
  readonly id: string;
  readonly name: string;
  readonly parent?: string;
  readonly nodes: string[];
  /** Dissolved into its parent when it ends up holding one block and no group. */
  readonly onlyIfMany: boolean;
}

export class GraphBuilder {
  private readonly nodes: GraphNode[] = [];
  private readonly edges: GraphEdge[] = [];
  private readonly groups: OpenGroup[] = [];
  /** The group nodes are added to now (see {@link group}). */
  private current: OpenGroup | undefined;

  /** Adds a node; `inputs` maps each input port to the id of the node feeding it. Returns the new id. */
  add(type: BlockType, name: string, params: Record<string, ParamValue> = {}, inputs: Record<string, string> = {}): string {
    const id = `n${this.nodes.length + 1}`;
    this.nodes.push({ id, name, type, params });
    this.current?.nodes.push(id);
    for (const [port, from] of Object.entries(inputs)) this.connect(from, id, port);
    return id;
  }

  connect(from: string, to: string, port: string): void {
    this.edges.push({ id: `e${this.edges.length + 1}`, from: { node: from, port: OUTPUT_PORT }, to: { node: to, port } });
  }

  /**
   * Runs `fn` with the nodes it adds (and the groups it opens) inside a new group `name`, nested in
   * the group open now; returns `fn`'s result. Group ids are `g1`, `g2`, … in the order groups open.
   * With `onlyIfMany`, a group that holds a single block and no group is dissolved at `build` (its
   * block goes to the parent): `input_blocks.N` only where it holds more than one module. Groups left
   * empty are dropped.
   */
  group<T>(name: string, fn: () => T, opts: { readonly onlyIfMany?: boolean } = {}): T {
    const g: OpenGroup = { id: `g${this.groups.length + 1}`, name, ...(this.current ? { parent: this.current.id } : {}), nodes: [], onlyIfMany: opts.onlyIfMany ?? false };
    this.groups.push(g);
    const outer = this.current;
    this.current = g;
    try {
      return fn();
    } finally {
      this.current = outer;
    }
  }

  build(name: string, description?: string): Graph {
    const graph: Graph = { name, ...(description ? { description } : {}), nodes: [...this.nodes], edges: [...this.edges] };
    const groups = this.finishGroups();
    return groups.length > 0 ? { ...graph, groups } : graph;
  }

  /** Dissolves single-block `onlyIfMany` groups and drops empty ones, children before parents. */
  private finishGroups(): GraphGroup[] {
    const order = new Map(this.nodes.map((n, i) => [n.id, i]));
    const members = new Map(this.groups.map((g) => [g.id, [...g.nodes]]));
    const children = new Map<string, number>();
    const keep = new Set<string>();
    for (let i = this.groups.length - 1; i >= 0; i--) {
      const g = this.groups[i];
      const nodes = members.get(g.id)!;
      const kids = children.get(g.id) ?? 0;
      if (g.onlyIfMany && kids === 0 && nodes.length === 1 && g.parent !== undefined) {
        members.get(g.parent)!.push(nodes[0]);
        continue;
      }
      if (g.onlyIfMany && kids === 0 && nodes.length === 1) continue; // a top-level single: the block stays at the top
      if (nodes.length === 0 && kids === 0) continue;
      keep.add(g.id);
      if (g.parent !== undefined) children.set(g.parent, (children.get(g.parent) ?? 0) + 1);
    }
    return this.groups
      .filter((g) => keep.has(g.id))
      .map((g) => ({
        id: g.id,
        name: g.name,
        ...(g.parent !== undefined ? { parent: g.parent } : {}),
        nodes: members.get(g.id)!.sort((a, b) => order.get(a)! - order.get(b)!),
      }));
  }
}
