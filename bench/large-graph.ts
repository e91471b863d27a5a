/** Large valid graphs (hundreds to many thousands of blocks) for benchmarks and tests. */
import { iddpm, type IddpmKwargs } from '../graph/templates';
import type { Graph, GraphEdge, GraphGroup, GraphNode } from '../graph/model';

/** One UNet stage: 88 blocks, attention at two levels, time embedding and skip joins. */
const UNIT: IddpmKwargs = {
  in_channels: 3, model_channels: 32, out_channels: 3, num_res_blocks: 2, attention_resolutions: [2, 4],
  channel_mult: [1, 2, 2, 2], num_heads: 4,
};

/**
 * A valid graph of at least `target` blocks: iDDPM UNets in a row, each one's output feeding the
 * next one's first conv, all sharing the timesteps input (so every ResBlock takes the time
 * embedding and every decoder level a skip). Ids are `n1`, `n2`, … and names `u3.input_blocks.1.0`,
 * as in a real document. (Templates bound `num_res_blocks`, so size does not come from one UNet.)
 * With `grouped`, each UNet keeps the template's groups (its levels, and the modules inside them),
 * named `u3.encoder.1`, `u3.input_blocks.4`, … with ids `g1`, `g2`, …
 */
export function largeGraph(target = 1000, grouped = false): Graph {
  const unit = iddpm(UNIT, 32);
  const byType = (t: string) => unit.nodes.filter((n) => n.type === t);
  const [image] = byType('ImageInput');
  const [steps] = byType('TimestepsInput');
  const [output] = byType('Output');
  const last = unit.edges.find((e) => e.to.node === output.id)!.from.node;
  const body = unit.nodes.length - 3;
  const copies = Math.max(1, Math.ceil((target - 3) / body));

  const nodes: GraphNode[] = [];
  const edges: GraphEdge[] = [];
  const groups: GraphGroup[] = [];
  const newId = () => `n${nodes.length + 1}`;
  const add = (n: GraphNode, name: string): string => {
    const id = newId();
    nodes.push({ ...n, id, name, params: { ...n.params } });
    return id;
  };
  const imageId = add(image, 'x');
  const stepsId = add(steps, 'timesteps');
  let prevLast = imageId;
  for (let k = 0; k < copies; k++) {
    const ids = new Map<string, string>([
      [image.id, prevLast],
      [steps.id, stepsId],
    ]);
    for (const n of unit.nodes) {
      if (n === image || n === steps || n === output) continue;
      ids.set(n.id, add(n, `u${k}.${n.name}`));
    }
    for (const e of unit.edges) {
      if (e.to.node === output.id) continue;
      edges.push({ id: `e${edges.length + 1}`, from: { node: ids.get(e.from.node)!, port: e.from.port }, to: { node: ids.get(e.to.node)!, port: e.to.port } });
    }
    if (grouped) {
      const gids = new Map<string, string>();
      for (const g of unit.groups ?? []) gids.set(g.id, `g${groups.length + gids.size + 1}`);
      for (const g of unit.groups ?? []) {
        const members = g.nodes.filter((id) => id !== image.id && id !== steps.id && id !== output.id).map((id) => ids.get(id)!);
        groups.push({ id: gids.get(g.id)!, name: `u${k}.${g.name}`, ...(g.parent !== undefined ? { parent: gids.get(g.parent)! } : {}), nodes: members });
      }
    }
    prevLast = ids.get(last)!;
  }
  const outId = add(output, 'output');
  edges.push({ id: `e${edges.length + 1}`, from: { node: prevLast, port: 'out' }, to: { node: outId, port: 'x' } });
  return { name: `large-${nodes.length}`, nodes, edges, ...(grouped ? { groups } : {}) };
}
