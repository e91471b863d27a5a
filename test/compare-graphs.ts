/** Small graphs whose costs graph/compare.test.ts works out by hand; test/compare-runtime.test.ts runs them. */
import { GraphBuilder } from '../graph/builder';
import type { Graph } from '../graph/model';

/**
 * x (4×8×8) → conv1 (3×3, 4→8) → silu → conv2 (3×3, 8→4) → add(x, conv2) → output.
 * x is read by conv1 and by add, so it stays alive across the whole chain (a skip connection).
 */
export function skipGraph(name = 'skip'): Graph {
  const b = new GraphBuilder();
  const x = b.add('ImageInput', 'x', { channels: 4, height: 8, width: 8 });
  const c1 = b.add('Conv2d', 'conv1', { out_channels: 8, kernel_size: 3, padding: 1 }, { x });
  const s = b.add('SiLU', 'silu', {}, { x: c1 });
  const c2 = b.add('Conv2d', 'conv2', { out_channels: 4, kernel_size: 3, padding: 1 }, { x: s });
  const add = b.add('Add', 'add', {}, { a: x, b: c2 });
  b.add('Output', 'output', {}, { x: add });
  return b.build(name);
}

/**
 * x (4×8×8) → conv1 (→ 8) → conv2 (→ 8) → conv3 (→ 8) [→ add(conv1, conv3) when `skip`] → output.
 * Convolutions hold no temporaries besides their output, so only liveness decides the peak.
 */
export function convChain(skip: boolean): Graph {
  const b = new GraphBuilder();
  const x = b.add('ImageInput', 'x', { channels: 4, height: 8, width: 8 });
  const c1 = b.add('Conv2d', 'conv1', { out_channels: 8 }, { x });
  const c2 = b.add('Conv2d', 'conv2', { out_channels: 8 }, { x: c1 });
  const c3 = b.add('Conv2d', 'conv3', { out_channels: 8 }, { x: c2 });
  const last = skip ? b.add('Add', 'add', {}, { a: c1, b: c3 }) : c3;
  b.add('Output', 'output', {}, { x: last });
  return b.build(skip ? 'conv-skip' : 'conv-chain');
}
