/**
 * The saved document: `{ format, version, graph, layout, collapsed }`, validated with zod on load, migrated
 * from older versions. Loading never throws anything but `DocumentError`, whose message names the
 * problem; a newer version is refused rather than half-read, and so is a document over the size
 * limits of `./limits` (counted before anything else is read).
 *
 * Each node records the version of its block's parameters (`paramsVersion`, written only once a
 * block has migrations; missing means 1, and every version-1 document is at 1). Opening a document
 * runs each node's block migrations (`BlockDef.migrations`) up to the current version; a node saved
 * by a newer block, or one whose migration fails, is refused with a `DocumentError` naming it.
 */
import { z } from 'zod';
import type { BlockDefinition, Graph, GraphGroup } from './model';
import { DocumentDefinitions, plainDefinition, toDefinition } from './definitions-format';
import type { BlockType } from '../blocks/registry';
import { blockDef, isBlockType } from '../blocks/registry';
import { paramsVersion, type ParamMigration, type SavedParams } from '../blocks/types';
import { documentSizeProblem, MAX_BLOCKS, MAX_GROUPS } from './limits';

export const FORMAT = 'unet-studio-graph';
export const CURRENT_VERSION = 4;

export class DocumentError extends Error {
  override name = 'DocumentError';
}

const ParamValue = z.union([z.number(), z.boolean(), z.string()]);
const PortRef = z.object({ node: z.string().min(1), port: z.string().min(1) }).strict();

const NodeV2 = z
  .object({
    id: z.string().min(1),
    name: z.string(),
    // The type is checked by `validate` (an unknown type is a graph problem, not a file problem),
    // so a file with a block from a newer palette still opens and shows what is wrong.
    type: z.string().min(1),
    /** The version of the block's parameters (see `BlockDef.migrations`); missing: 1. */
    paramsVersion: z.number().int().min(1).optional(),
    params: z.record(z.string(), ParamValue).default({}),
  })
  .strict();
const EdgeV2 = z.object({ id: z.string().min(1), from: PortRef, to: PortRef }).strict();
const Position = z.object({ x: z.number(), y: z.number() }).strict();

export const DocumentV2 = z
  .object({
    format: z.literal(FORMAT),
    version: z.literal(2),
    graph: z
      .object({
        name: z.string(),
        description: z.string().optional(),
        nodes: z.array(NodeV2),
        edges: z.array(EdgeV2),
      })
      .strict(),
    /** Canvas positions by node id (editor-owned; codegen and runtime ignore it). */
    layout: z.record(z.string(), Position).default({}),
  })
  .strict();

/**
 * A group (`GraphGroup`): its structure is checked here, its meaning (members exist, parents come
 * first, names unique) by `validate`, which names the group, like an unknown block type.
 */
const GroupV3 = z
  .object({
    id: z.string().min(1),
    name: z.string(),
    parent: z.string().min(1).optional(),
    nodes: z.array(z.string().min(1)).max(MAX_BLOCKS, { error: `a group holds at most ${MAX_BLOCKS} blocks` }),
  })
  .strict();

/** Version 3: version 2, plus `graph.groups` (absent: flat) and `collapsed`. */
export const DocumentV3 = z
  .object({
    format: z.literal(FORMAT),
    version: z.literal(3),
    graph: z
      .object({
        name: z.string(),
        description: z.string().optional(),
        nodes: z.array(NodeV2),
        edges: z.array(EdgeV2),
        groups: z.array(GroupV3).max(MAX_GROUPS, { error: `at most ${MAX_GROUPS} groups` }).optional(),
      })
      .strict(),
    /** Canvas positions by node id or group id (editor-owned; codegen and runtime ignore it). */
    layout: z.record(z.string(), Position).default({}),
    /** Ids of the groups drawn collapsed (editor-owned view state, like layout). */
    collapsed: z.array(z.string()).max(MAX_GROUPS, { error: `at most ${MAX_GROUPS} collapsed groups` }).default([]),
  })
  .strict();

/**
 * Version 4: version 3, plus block definitions (`graph.definitions`, "My blocks" the document uses)
 * and instances (a group's `definition` and `overrides`). A new version rather than optional keys in
 * version 3: an app that reads only version 3 refuses unknown keys as "malformed", while a version
 * number tells its user "saved by a newer UNet Studio: update", and an instance edited by an old app
 * that ignored the keys would silently lose its link to the definition.
 */
const GroupV4 = GroupV3.extend({
  definition: z.string().min(1).optional(),
  overrides: z.record(z.string(), z.record(z.string(), ParamValue)).optional(),
}).strict();

export const DocumentV4 = DocumentV3.extend({
  version: z.literal(4),
  graph: DocumentV3.shape.graph.extend({
    groups: z.array(GroupV4).max(MAX_GROUPS, { error: `at most ${MAX_GROUPS} groups` }).optional(),
    definitions: DocumentDefinitions.optional(),
  }).strict(),
}).strict();

/** Version 4's new keys, refused in a version-3 file (as any unknown key would be). */
const V4KeysAbsent = z
  .object({
    graph: z
      .unknown()
      .refine((g) => g === null || typeof g !== 'object' || !('definitions' in g), { error: '"definitions" is not part of version 3 (blocks of your own came with version 4)' })
      .refine(
        (g) => {
          const groups = g !== null && typeof g === 'object' ? (g as { groups?: unknown }).groups : undefined;
          return !Array.isArray(groups) || groups.every((x: unknown) => x === null || typeof x !== 'object' || (!('definition' in x) && !('overrides' in x)));
        },
        { error: 'a group\'s "definition" and "overrides" are not part of version 3 (instances came with version 4)' },
      ),
  })
  .loose();

/** Version 3's new keys, refused in a version-2 file (as any unknown key would be). */
const V3KeysAbsent = z
  .object({
    collapsed: z.never({ error: 'is not part of version 2 (collapsed groups came with version 3)' }).optional(),
    graph: z.unknown().refine((g) => g === null || typeof g !== 'object' || !('groups' in g), { error: '"groups" is not part of version 2 (groups came with version 3)' }),
  })
  .loose();

/**
 * Version 1 (the editor prototype's format): node positions inline on each node, edges React Flow
 * style (`source`, `target`, `targetHandle`) with the output port implied.
 */
const DocumentV1 = z
  .object({
    format: z.literal(FORMAT),
    version: z.literal(1),
    name: z.string(),
    nodes: z.array(
      z
        .object({
          id: z.string().min(1),
          name: z.string(),
          type: z.string().min(1),
          params: z.record(z.string(), ParamValue).default({}),
          position: Position.optional(),
        })
        .strict(),
    ),
    edges: z.array(z.object({ id: z.string().min(1), source: z.string().min(1), target: z.string().min(1), targetHandle: z.string().min(1) }).strict()),
  })
  .strict();

export interface Document {
  readonly graph: Graph;
  readonly layout: Readonly<Record<string, { readonly x: number; readonly y: number }>>;
  /** Ids of the groups drawn collapsed (view state). Reading always fills it in (ids of groups that
   * exist, once each); absent when a caller makes a document without it: none collapsed. */
  readonly collapsed?: readonly string[];
}

/** Migrations: each takes a valid document of version N and returns one of version N + 1. */
const migrations: Record<number, (doc: unknown) => unknown> = {
  1: (raw) => {
    const d = DocumentV1.parse(raw);
    const layout: Record<string, { x: number; y: number }> = {};
    for (const n of d.nodes) if (n.position) layout[n.id] = n.position;
    return {
      format: FORMAT,
      version: 2,
      graph: {
        name: d.name,
        nodes: d.nodes.map((n) => ({ id: n.id, name: n.name, type: n.type, params: n.params })),
        edges: d.edges.map((e) => ({ id: e.id, from: { node: e.source, port: 'out' }, to: { node: e.target, port: e.targetHandle } })),
      },
      layout,
    };
  },
  // Version 3 adds groups and collapsed groups: a version-2 graph is flat, nothing collapsed. The rest
  // is version 3's own check (so a malformed version-2 file reads as before, with the same paths).
  2: (raw) => ({ ...V3KeysAbsent.parse(raw), version: 3, collapsed: [] }),
  // Version 4 adds block definitions and instances: a version-3 document has none.
  3: (raw) => ({ ...V4KeysAbsent.parse(raw), version: 4 }),
};

/**
 * Where reading and saving find each block type's parameter migrations: the block registry, or a
 * test's own declarations. `undefined` for a type it does not know (its params are kept as saved).
 */
export type BlockMigrations = (type: string) => { readonly migrations?: readonly ParamMigration[] } | undefined;

const registryMigrations: BlockMigrations = (type) => (isBlockType(type) ? blockDef(type) : undefined);

const Params = z.record(z.string(), ParamValue);

/** One node's parameters, upgraded from the version they were saved at to the block's current one. */
function upgradeParams(
  node: { readonly name: string; readonly type: string; readonly paramsVersion?: number; readonly params: SavedParams },
  blocks: BlockMigrations,
  source: string,
): SavedParams {
  const def = blocks(node.type);
  const saved = node.paramsVersion ?? 1;
  // An unknown type keeps its params as saved: `validate` reports the type by the node's name.
  if (!def) return node.params;
  const current = paramsVersion(def);
  const who = `${node.type} "${node.name}"`;
  if (saved > current) {
    throw new DocumentError(
      `${source}: ${who} has parameters of version ${saved}, saved by a newer UNet Studio (this one knows ${node.type} up to version ${current}): update the app to open it`,
    );
  }
  let params = node.params;
  for (const step of def.migrations ?? []) {
    if (step.version <= saved) continue;
    const fail = (why: string) =>
      new DocumentError(`${source}: ${who}: its parameters (version ${saved}) could not be upgraded to version ${step.version} (${step.description}): ${why}`);
    let next: unknown;
    try {
      next = step.up(params);
    } catch (e) {
      throw fail(e instanceof Error ? e.message : String(e));
    }
    const r = Params.safeParse(next);
    if (!r.success) throw fail(`the migration returned invalid parameters:\n${describe(r.error)}`);
    params = r.data;
  }
  return params;
}

function describe(err: z.ZodError): string {
  return err.issues
    .slice(0, 8)
    .map((i) => `  ${i.path.length > 0 ? i.path.join('.') : '(root)'}: ${i.message}`)
    .join('\n');
}

/** Parses and migrates a document from JSON text. */
export function parseDocument(text: string, source = 'graph file', blocks: BlockMigrations = registryMigrations): Document {
  return readDocument(parseDocumentJson(text, source), source, blocks);
}

/**
 * The JSON of a document or workspace file, size-checked first: text length stands for bytes (JSON
 * is almost all ASCII), checked before anything is parsed. DocumentError names the file.
 */
export function parseDocumentJson(text: string, source: string): unknown {
  const tooBig = documentSizeProblem({ bytes: text.length }, source);
  if (tooBig) throw new DocumentError(tooBig);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new DocumentError(`${source} is not valid JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
}

export function readDocument(raw: unknown, source = 'graph file', blocks: BlockMigrations = registryMigrations): Document {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new DocumentError(`${source} must hold a JSON object, not ${Array.isArray(raw) ? 'an array' : raw === null ? 'null' : typeof raw}`);
  }
  const head = raw as { format?: unknown; version?: unknown };
  if (head.format !== FORMAT) {
    throw new DocumentError(`${source} is not a UNet Studio graph (its "format" is ${JSON.stringify(head.format) ?? 'missing'}, expected "${FORMAT}")`);
  }
  if (typeof head.version !== 'number' || !Number.isInteger(head.version) || head.version < 1) {
    throw new DocumentError(`${source} has no valid "version" (got ${JSON.stringify(head.version) ?? 'nothing'})`);
  }
  if (head.version > CURRENT_VERSION) {
    throw new DocumentError(
      `${source} was saved by a newer UNet Studio (format version ${head.version}; this one reads up to ${CURRENT_VERSION}): update the app to open it`,
    );
  }
  // Counted before validation, so a huge document is refused at once, not after seconds of checking.
  const body = head.version === 1 ? raw : (raw as { graph?: unknown }).graph;
  const count = (key: 'nodes' | 'edges' | 'groups') => {
    const list = body !== null && typeof body === 'object' ? (body as Record<string, unknown>)[key] : undefined;
    return Array.isArray(list) ? list.length : undefined;
  };
  const tooBig = documentSizeProblem({ blocks: count('nodes'), edges: count('edges'), groups: head.version >= 3 ? count('groups') : undefined }, source);
  if (tooBig) throw new DocumentError(tooBig);
  let doc: unknown = raw;
  try {
    for (let v = head.version; v < CURRENT_VERSION; v++) doc = migrations[v](doc);
  } catch (e) {
    if (e instanceof z.ZodError) throw new DocumentError(`${source} (version ${head.version}) is malformed:\n${describe(e)}`);
    throw e;
  }
  const r = DocumentV4.safeParse(doc);
  if (!r.success) throw new DocumentError(`${source} is malformed:\n${describe(r.error)}`);
  const g = r.data.graph;
  const groups: GraphGroup[] = (g.groups ?? []).map((x) => ({
    id: x.id,
    name: x.name,
    ...(x.parent !== undefined ? { parent: x.parent } : {}),
    nodes: x.nodes,
    ...(x.definition !== undefined ? { definition: x.definition } : {}),
    ...(x.overrides !== undefined ? { overrides: x.overrides } : {}),
  }));
  const definitions: BlockDefinition[] = (g.definitions ?? []).map(toDefinition);
  const groupIds = new Set(groups.map((x) => x.id));
  // Collapsed ids of groups that do not exist say nothing (as positions of missing nodes); each once.
  const collapsed = [...new Set(r.data.collapsed)].filter((id) => groupIds.has(id));
  return {
    graph: {
      name: g.name,
      ...(g.description !== undefined ? { description: g.description } : {}),
      // Unknown types are reported by `validate` with the node's name.
      nodes: g.nodes.map((n) => ({ id: n.id, name: n.name, type: n.type as BlockType, params: upgradeParams(n, blocks, source) })),
      edges: g.edges,
      ...(groups.length > 0 ? { groups } : {}),
      ...(definitions.length > 0 ? { definitions } : {}),
    },
    layout: r.data.layout,
    collapsed,
  };
}

/**
 * Serialises a document: stable key order, two-space indent, trailing newline. A node whose block
 * has migrations records its parameters' current version (the params are today's: the editor and
 * templates only make current ones, and opening upgrades older ones). `groups` is written when the
 * graph has any; `collapsed` (ids of groups drawn collapsed) always.
 */
export function serializeDocument(
  graph: Graph,
  layout: Document['layout'] = {},
  blocks: BlockMigrations = registryMigrations,
  collapsed: readonly string[] = [],
): string {
  const doc = {
    format: FORMAT,
    version: CURRENT_VERSION,
    graph: {
      name: graph.name,
      ...(graph.description !== undefined ? { description: graph.description } : {}),
      nodes: graph.nodes.map((n) => {
        const def = blocks(n.type);
        const version = def ? paramsVersion(def) : 1;
        return { id: n.id, name: n.name, type: n.type, ...(version > 1 ? { paramsVersion: version } : {}), params: n.params };
      }),
      edges: graph.edges.map((e) => ({ id: e.id, from: e.from, to: e.to })),
      ...(graph.groups && graph.groups.length > 0
        ? {
            groups: graph.groups.map((x) => ({
              id: x.id,
              name: x.name,
              ...(x.parent !== undefined ? { parent: x.parent } : {}),
              nodes: x.nodes,
              ...(x.definition !== undefined ? { definition: x.definition } : {}),
              ...(x.overrides !== undefined ? { overrides: x.overrides } : {}),
            })),
          }
        : {}),
      ...(graph.definitions && graph.definitions.length > 0 ? { definitions: graph.definitions.map(plainDefinition) } : {}),
    },
    layout,
    collapsed,
  };
  return `${JSON.stringify(doc, null, 2)}\n`;
}
