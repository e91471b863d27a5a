/** The document: nodes, typed edges. Canvas positions live in the editor, not here. */
import type { ParamValue } from '../blocks/types';
import type { BlockType } from '../blocks/registry';

export interface PortRef {
  /** Node id. */
  readonly node: string;
  readonly port: string;
}

export interface GraphNode {
  /** Stable id; never shown, never changes when the node is renamed. */
  readonly id: string;
  /** Unique name: the PyTorch module path (`input_blocks.1.0`); state_dict keys are `${name}.${subkey}`. */
  readonly name: string;
  readonly type: BlockType;
  /** Parameters that differ from the block's defaults may be all that is stored. */
  readonly params: Readonly<Record<string, ParamValue>>;
}

export interface GraphEdge {
  readonly id: string;
  readonly from: PortRef;
  readonly to: PortRef;
}

export interface Graph {
  readonly name: string;
  readonly description?: string;
  readonly nodes: readonly GraphNode[];
  readonly edges: readonly GraphEdge[];
}

export const OUTPUT_PORT = 'out';
