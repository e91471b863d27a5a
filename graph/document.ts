/**
 * The saved document: `{ format, version, graph, layout }`, validated with zod on load, migrated
 * from older versions. Loading never throws anything but `DocumentError`, whose message names the
 * problem; a newer version is refused rather than half-read, and so is a document over the size
 * limits of `./limits` (counted before anything else is read).
 */
import { z } from 'zod';
import type { Graph } from './model';
import type { BlockType } from '../blocks/registry';
import { documentSizeProblem } from './limits';

export const FORMAT = 'unet-studio-graph';
export const CURRENT_VERSION = 2;

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
};

function describe(err: z.ZodError): string {
  return err.issues
    .slice(0, 8)
    .map((i) => `  ${i.path.length > 0 ? i.path.join('.') : '(root)'}: ${i.message}`)
    .join('\n');
}

/** Parses and migrates a document from JSON text. */
export function parseDocument(text: string, source = 'graph file'): Document {
  // Text length stands for bytes (JSON is almost all ASCII); checked before parsing anything.
  const tooBig = documentSizeProblem({ bytes: text.length }, source);
  if (tooBig) throw new DocumentError(tooBig);
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new DocumentError(`${source} is not valid JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
  return readDocument(raw, source);
}

export function readDocument(raw: unknown, source = 'graph file'): Document {
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
  const count = (key: 'nodes' | 'edges') => {
    const list = body !== null && typeof body === 'object' ? (body as Record<string, unknown>)[key] : undefined;
    return Array.isArray(list) ? list.length : undefined;
  };
  const tooBig = documentSizeProblem({ blocks: count('nodes'), edges: count('edges') }, source);
  if (tooBig) throw new DocumentError(tooBig);
  let doc: unknown = raw;
  try {
    for (let v = head.version; v < CURRENT_VERSION; v++) doc = migrations[v](doc);
  } catch (e) {
    if (e instanceof z.ZodError) throw new DocumentError(`${source} (version ${head.version}) is malformed:\n${describe(e)}`);
    throw e;
  }
  const r = DocumentV2.safeParse(doc);
  if (!r.success) throw new DocumentError(`${source} is malformed:\n${describe(r.error)}`);
  const g = r.data.graph;
  return {
    graph: {
      name: g.name,
      ...(g.description !== undefined ? { description: g.description } : {}),
      // Unknown types are reported by `validate` with the node's name.
      nodes: g.nodes.map((n) => ({ id: n.id, name: n.name, type: n.type as BlockType, params: n.params })),
      edges: g.edges,
    },
    layout: r.data.layout,
  };
}

/** Serialises a document: stable key order, two-space indent, trailing newline. */
export function serializeDocument(graph: Graph, layout: Document['layout'] = {}): string {
  const doc = {
    format: FORMAT,
    version: CURRENT_VERSION,
    graph: {
      name: graph.name,
      ...(graph.description !== undefined ? { description: graph.description } : {}),
      nodes: graph.nodes.map((n) => ({ id: n.id, name: n.name, type: n.type, params: n.params })),
      edges: graph.edges.map((e) => ({ id: e.id, from: e.from, to: e.to })),
    },
    layout,
  };
  return `${JSON.stringify(doc, null, 2)}\n`;
}
