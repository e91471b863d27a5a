/** The document: nodes, typed edges. Canvas positions live in the editor, not here. */
import type { ParamValue, PortKind } from '../blocks/types';
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

/**
 * A named group of blocks: a PyTorch module that holds modules (`input_blocks.4` holding
 * `input_blocks.4.0` and `input_blocks.4.1`), or a level of a template. Groups only organise: nodes
 * keep their full names and every consumer that computes (validation, shapes, weights, numerics)
 * reads the flat `nodes` and `edges`, so a grouped graph and the same graph flat have the same
 * weights and outputs. Whether a group is collapsed on the canvas is view state (the document's
 * layout), not part of the graph.
 */
export interface GraphGroup {
  /** Stable id, distinct from every node id; never shown. */
  readonly id: string;
  /** Shown on the canvas and in generated code; unique among groups. A module path when every
   * member's name starts with `${name}.` (then the PyTorch export can make it a module). */
  readonly name: string;
  /** The enclosing group's id; absent at the top level. */
  readonly parent?: string;
  /** Direct member node ids (a node belongs to at most one group: its innermost). */
  readonly nodes: readonly string[];
  /** Set when the group is an instance of a block definition ({@link BlockDefinition}, by id in
   * `Graph.definitions`): its members (at any depth) match the definition's nodes and edges. */
  readonly definition?: string;
  /** Per-instance parameter values that differ from the definition: relative node name → param → value. */
  readonly overrides?: Readonly<Record<string, Readonly<Record<string, ParamValue>>>>;
}

/** A node of a block definition: its name relative to the instance (`0` for `input_blocks.4.0` in `input_blocks.4`). */
export interface DefinitionNode {
  readonly name: string;
  readonly type: BlockType;
  readonly params: Readonly<Record<string, ParamValue>>;
}

/** A port of a node inside a definition, by relative node name. */
export interface DefinitionPortRef {
  readonly node: string;
  readonly port: string;
}

export interface DefinitionEdge {
  readonly from: DefinitionPortRef;
  readonly to: DefinitionPortRef;
}

/** A definition's port: what `groupPorts` derives for the saved group (shapes are not part of it). */
export interface DefinitionPort {
  readonly name: string;
  readonly kind: PortKind;
  /** An input: the inner inputs it feeds. An output: the one inner output it carries (one entry). */
  readonly targets: readonly DefinitionPortRef[];
}

/**
 * A block of the user's own ("Save as block"): a saved group, reusable as one. Instances are groups
 * whose `definition` is this id; editing the definition updates every instance.
 */
export interface BlockDefinition {
  /** Stable id, unique among a document's (and a library's) definitions. */
  readonly id: string;
  /** Its label in "My blocks". */
  readonly name: string;
  readonly nodes: readonly DefinitionNode[];
  /** Edges between its nodes. */
  readonly edges: readonly DefinitionEdge[];
  readonly inputs: readonly DefinitionPort[];
  readonly outputs: readonly DefinitionPort[];
}

export interface Graph {
  readonly name: string;
  readonly description?: string;
  readonly nodes: readonly GraphNode[];
  readonly edges: readonly GraphEdge[];
  /** Groups (see {@link GraphGroup}); absent or empty: a flat graph. Parents come before children. */
  readonly groups?: readonly GraphGroup[];
  /** The block definitions its instances use (see {@link BlockDefinition}); absent or empty: none. */
  readonly definitions?: readonly BlockDefinition[];
}

export const OUTPUT_PORT = 'out';
