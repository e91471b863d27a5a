/**
 * How block definitions ({@link BlockDefinition}, "My blocks") are written: inside documents
 * (`graph.definitions`, document version 4) and in a library file of their own
 * (`{ format: 'unet-studio-blocks', version: 1, definitions: [...] }`). Pure: zod and the block
 * registry only (documents import this; the ops in `./definitions` need the analysis).
 *
 * Names in a definition end up in node names (`${instance}.${relative}`), weight keys and
 * generated code, so they are checked here: printable, trimmed, no empty dotted segment, no
 * `__proto__`-like segment, bounded length. A library is refused whole with a message naming the
 * first problems; a document keeps unknown block types for `validate` to report (as for nodes).
 */
import { z } from 'zod';
import { isBlockType, type BlockType } from '../blocks/registry';
import type { BlockDefinition } from './model';
import { MAX_BLOCKS } from './limits';

export const LIBRARY_FORMAT = 'unet-studio-blocks';
export const LIBRARY_VERSION = 1;
/** A document or a library holds at most this many definitions. */
export const MAX_DEFINITIONS = 1_000;
/** Longest relative node name, port name or label. */
export const MAX_NAME_LENGTH = 200;

export class DefinitionError extends Error {
  override name = 'DefinitionError';
}

const FORBIDDEN_SEGMENTS = new Set(['__proto__', 'prototype', 'constructor']);

/** Why `name` cannot be a relative node name or a port name in a definition, or null. */
export function definitionNameProblem(name: string): string | null {
  if (name === '') return 'is empty';
  if (name.length > MAX_NAME_LENGTH) return `is longer than ${MAX_NAME_LENGTH} characters`;
  // Control characters (C0, DEL, C1) and line/paragraph separators.
  if (/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/.test(name)) return 'contains control characters';
  if (name !== name.trim()) return 'has spaces at either end';
  const segments = name.split('.');
  if (segments.some((s) => s === '')) return 'has an empty dotted segment (a leading, trailing or double ".")';
  const bad = segments.find((s) => FORBIDDEN_SEGMENTS.has(s));
  if (bad !== undefined) return `uses the reserved name ${JSON.stringify(bad)}`;
  return null;
}

/** Why `label` cannot label a definition in "My blocks", or null. */
export function definitionLabelProblem(label: string): string | null {
  if (label.trim() === '') return 'is empty';
  if (label.length > MAX_NAME_LENGTH) return `is longer than ${MAX_NAME_LENGTH} characters`;
  if (/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/.test(label)) return 'contains control characters';
  if (label !== label.trim()) return 'has spaces at either end';
  return null;
}

const SafeName = z.string().superRefine((s, ctx) => {
  const p = definitionNameProblem(s);
  if (p) ctx.addIssue({ code: 'custom', message: `the name ${JSON.stringify(s.slice(0, 60))} ${p}` });
});
const Label = z.string().superRefine((s, ctx) => {
  const p = definitionLabelProblem(s);
  if (p) ctx.addIssue({ code: 'custom', message: `the label ${JSON.stringify(s.slice(0, 60))} ${p}` });
});
const ParamValue = z.union([z.number(), z.boolean(), z.string()]);
const Ref = z.object({ node: SafeName, port: z.string().min(1).max(MAX_NAME_LENGTH) }).strict();
const Kind = z.enum(['feature', 'temb', 'timesteps', 'label', 'context']);
const Port = z.object({ name: SafeName, kind: Kind, targets: z.array(Ref).min(1).max(MAX_BLOCKS) }).strict();

/** A definition's structure; `type` is any string here (see {@link LibraryDefinition} for the strict one). */
function definitionSchema<T extends z.ZodType<string>>(type: T) {
  return z
    .object({
      id: SafeName,
      name: Label,
      nodes: z.array(z.object({ name: SafeName, type, params: z.record(z.string(), ParamValue).default({}) }).strict()).min(1).max(MAX_BLOCKS),
      edges: z.array(z.object({ from: Ref, to: Ref }).strict()).max(4 * MAX_BLOCKS),
      inputs: z.array(Port).max(MAX_BLOCKS),
      outputs: z.array(Port).max(MAX_BLOCKS),
    })
    .strict()
    .superRefine((d, ctx) => {
      const names = new Set<string>();
      d.nodes.forEach((n, i) => {
        if (names.has(n.name)) ctx.addIssue({ code: 'custom', path: ['nodes', i, 'name'], message: `the node name ${JSON.stringify(n.name)} appears twice` });
        names.add(n.name);
      });
      const refs: [string, { node: string }][] = [
        ...d.edges.flatMap((e, i): [string, { node: string }][] => [[`edges.${i}.from`, e.from], [`edges.${i}.to`, e.to]]),
        ...d.inputs.flatMap((p) => p.targets.map((t): [string, { node: string }] => [`input ${JSON.stringify(p.name)}`, t])),
        ...d.outputs.flatMap((p) => p.targets.map((t): [string, { node: string }] => [`output ${JSON.stringify(p.name)}`, t])),
      ];
      for (const [where, r] of refs) {
        if (!names.has(r.node)) ctx.addIssue({ code: 'custom', message: `${where} names ${JSON.stringify(r.node)}, which is not one of the block's nodes` });
      }
      d.outputs.forEach((p, i) => {
        if (p.targets.length !== 1) ctx.addIssue({ code: 'custom', path: ['outputs', i], message: `output ${JSON.stringify(p.name)} must come from exactly one inner node` });
      });
    });
}

/** A definition inside a document: a block type the app does not know is kept (an instance using it is reported by `validate`). */
export const DocumentDefinition = definitionSchema(z.string().min(1));

/** A definition in a library file: every block type must be known. */
export const LibraryDefinition = definitionSchema(
  z.string().refine(isBlockType, { error: (i) => `unknown block type ${JSON.stringify(String(i.input).slice(0, 60))}` }),
);

const DefinitionList = <T extends z.ZodType>(def: T) =>
  z
    .array(def)
    .max(MAX_DEFINITIONS, { error: `at most ${MAX_DEFINITIONS} block definitions` })
    .superRefine((list, ctx) => {
      const seen = new Set<string>();
      (list as { id: string }[]).forEach((d, i) => {
        if (seen.has(d.id)) ctx.addIssue({ code: 'custom', path: [i, 'id'], message: `the id ${JSON.stringify(d.id)} is used by two definitions` });
        seen.add(d.id);
      });
    });

export const DocumentDefinitions = DefinitionList(DocumentDefinition);

const Library = z
  .object({
    format: z.literal(LIBRARY_FORMAT),
    version: z.literal(LIBRARY_VERSION),
    definitions: DefinitionList(LibraryDefinition),
  })
  .strict();

/** A parsed definition as the graph model types it (types as saved: a document may hold unknown ones). */
export function toDefinition(d: z.infer<typeof DocumentDefinition>): BlockDefinition {
  return {
    id: d.id,
    name: d.name,
    nodes: d.nodes.map((n) => ({ name: n.name, type: n.type as BlockType, params: n.params })),
    edges: d.edges,
    inputs: d.inputs,
    outputs: d.outputs,
  };
}

function describe(err: z.ZodError): string {
  return err.issues
    .slice(0, 8)
    .map((i) => `  ${i.path.length > 0 ? i.path.join('.') : '(root)'}: ${i.message}`)
    .join('\n');
}

/** Reads a "My blocks" library file; anything wrong is a {@link DefinitionError} naming it. */
export function parseLibrary(text: string, source = 'block library'): BlockDefinition[] {
  if (text.length > 64 * 1024 * 1024) throw new DefinitionError(`${source} is larger than 64 MiB`);
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new DefinitionError(`${source} is not valid JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new DefinitionError(`${source} must hold a JSON object, not ${Array.isArray(raw) ? 'an array' : raw === null ? 'null' : typeof raw}`);
  }
  const head = raw as { format?: unknown; version?: unknown };
  if (head.format !== LIBRARY_FORMAT) {
    throw new DefinitionError(`${source} is not a UNet Studio block library (its "format" is ${JSON.stringify(head.format) ?? 'missing'}, expected "${LIBRARY_FORMAT}")`);
  }
  if (typeof head.version === 'number' && head.version > LIBRARY_VERSION) {
    throw new DefinitionError(`${source} was saved by a newer UNet Studio (library version ${head.version}; this one reads ${LIBRARY_VERSION}): update the app to open it`);
  }
  const r = Library.safeParse(raw);
  if (!r.success) throw new DefinitionError(`${source} is malformed:\n${describe(r.error)}`);
  return r.data.definitions.map(toDefinition);
}

/** Writes a library file: stable key order, two-space indent, trailing newline. */
export function serializeLibrary(definitions: readonly BlockDefinition[]): string {
  const doc = { format: LIBRARY_FORMAT, version: LIBRARY_VERSION, definitions: definitions.map(plainDefinition) };
  return `${JSON.stringify(doc, null, 2)}\n`;
}

/** A definition with its keys in the written order (documents and libraries write the same). */
export function plainDefinition(d: BlockDefinition): BlockDefinition {
  return {
    id: d.id,
    name: d.name,
    nodes: d.nodes.map((n) => ({ name: n.name, type: n.type, params: n.params })),
    edges: d.edges.map((e) => ({ from: { node: e.from.node, port: e.from.port }, to: { node: e.to.node, port: e.to.port } })),
    inputs: d.inputs.map((p) => ({ name: p.name, kind: p.kind, targets: p.targets.map((t) => ({ node: t.node, port: t.port })) })),
    outputs: d.outputs.map((p) => ({ name: p.name, kind: p.kind, targets: p.targets.map((t) => ({ node: t.node, port: t.port })) })),
  };
}
