/** A ~1,000-node valid graph for checking-speed benchmarks and tests. */
import { iddpm } from '../graph/templates';
import type { Graph } from '../graph/model';

/**
 * An iDDPM UNet deep enough to have about `target` nodes (each res block adds a ResBlock,
 * an Attention at two levels, and a Concat + ResBlock (+ Attention) on the way up).
 */
export function largeGraph(target = 1000): Graph {
  let best: Graph | null = null;
  for (let n = 1; n < 200; n++) {
    const g = iddpm(
      { in_channels: 3, model_channels: 64, out_channels: 3, num_res_blocks: n, attention_resolutions: [2, 4], channel_mult: [1, 2, 2, 2], num_heads: 4 },
      32,
    );
    best = g;
    if (g.nodes.length >= target) break;
  }
  return best!;
}
