/** Which weights a graph owns: every node's PyTorch state_dict entries, by full key. */
import type { WeightSpec } from '../blocks/types';
import { nodeWeights, type Analysis } from './analyze';

export interface ExpectedWeight extends WeightSpec {
  /** `${node name}.${key}` */
  readonly fullKey: string;
  readonly node: string;
}

/** Every weight the graph owns, in graph order. */
export function expectedWeights(a: Analysis): ExpectedWeight[] {
  const out: ExpectedWeight[] = [];
  for (const id of a.order) {
    const inf = a.info.get(id)!;
    for (const w of nodeWeights(inf)) out.push({ ...w, fullKey: `${inf.node.name}.${w.key}`, node: inf.node.name });
  }
  return out;
}
