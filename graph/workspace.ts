/**
 * The workspace file: ordered variants, each a whole document (the `unet-studio-graph` format of
 * `./document`, unchanged inside), one of them active, with an optional `metrics.jsonl` text per
 * variant (attached training results, kept as the user's raw text):
 *
 *   { "format": "unet-studio-workspace", "version": 1, "active": "v2",
 *     "variants": [{ "id": "v1", "name": "64 ch", "document": { …a graph document… }, "metricsText"?: "…" }, …] }
 *
 * Reading accepts a single-graph document too (it becomes a workspace of one variant), so every file
 * saved before workspaces existed still opens. Reading never throws anything but `DocumentError`,
 * whose message names the problem (and the variant, for a problem inside one of its documents).
 */
import { z } from 'zod';
import { DocumentError, FORMAT as DOCUMENT_FORMAT, parseDocumentJson, readDocument, serializeDocument, type BlockMigrations, type Document } from './document';

export const WORKSPACE_FORMAT = 'unet-studio-workspace';
export const WORKSPACE_VERSION = 1;
/** A workspace holds at most this many variants (a sweep of 4 × 4 is 16; comparing more says little). */
export const MAX_VARIANTS = 64;
/** Longest variant name and id, in characters. */
export const MAX_VARIANT_NAME = 200;
export const MAX_VARIANT_ID = 100;
/** Longest attached `metrics.jsonl` text per variant: 16 MiB (a million steps' lines is about 80 MB; people attach summaries). */
export const MAX_METRICS_CHARS = 16 * 1024 * 1024;

export interface WorkspaceVariant {
  /** Stable id (tabs, links, attached metrics); never shown. */
  readonly id: string;
  /** The tab's label; need not be unique. */
  readonly name: string;
  readonly doc: Document;
  /** The raw text of an attached `metrics.jsonl` (parsed only for display). */
  readonly metricsText?: string;
}

export interface Workspace {
  /** Id of the variant shown; always one of `variants`. */
  readonly active: string;
  /** At least one. */
  readonly variants: readonly WorkspaceVariant[];
}

const VariantV1 = z
  .object({
    id: z.string().min(1, { error: 'a variant id may not be empty' }).max(MAX_VARIANT_ID, { error: `a variant id has at most ${MAX_VARIANT_ID} characters` }),
    name: z.string().max(MAX_VARIANT_NAME, { error: `a variant name has at most ${MAX_VARIANT_NAME} characters` }),
    document: z.custom<unknown>((v) => v !== undefined, { error: 'every variant holds its graph document here' }),
    metricsText: z.string().max(MAX_METRICS_CHARS, { error: `attached metrics have at most ${MAX_METRICS_CHARS} characters` }).optional(),
  })
  .strict();

const WorkspaceV1 = z
  .object({
    format: z.literal(WORKSPACE_FORMAT),
    version: z.literal(WORKSPACE_VERSION),
    active: z.string().min(1),
    variants: z
      .array(VariantV1)
      .min(1, { error: 'a workspace holds at least one variant' })
      .max(MAX_VARIANTS, { error: `a workspace holds at most ${MAX_VARIANTS} variants` }),
  })
  .strict();

function describe(err: z.ZodError): string {
  return err.issues
    .slice(0, 8)
    .map((i) => `  ${i.path.length > 0 ? i.path.join('.') : '(root)'}: ${i.message}`)
    .join('\n');
}

function kindOf(raw: unknown): string {
  return Array.isArray(raw) ? 'an array' : raw === null ? 'null' : typeof raw;
}

/** Parses a workspace (or a single-graph document, as a workspace of one variant) from JSON text. */
export function parseWorkspace(text: string, source = 'workspace file', blocks?: BlockMigrations): Workspace {
  return parseWorkspaceFile(text, source, blocks).workspace;
}

/** What a file held: a workspace, and whether the file was a single-graph document (`fromDocument`). */
export interface WorkspaceFile {
  readonly workspace: Workspace;
  readonly fromDocument: boolean;
}

/** `parseWorkspace`, saying whether the text was a single-graph document. */
export function parseWorkspaceFile(text: string, source = 'workspace file', blocks?: BlockMigrations): WorkspaceFile {
  return readWorkspaceFile(parseDocumentJson(text, source), source, blocks);
}

/** Reads a parsed workspace or single-graph document; `DocumentError` naming the problem otherwise. */
export function readWorkspace(raw: unknown, source = 'workspace file', blocks?: BlockMigrations): Workspace {
  return readWorkspaceFile(raw, source, blocks).workspace;
}

function readWorkspaceFile(raw: unknown, source: string, blocks?: BlockMigrations): WorkspaceFile {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new DocumentError(`${source} must hold a JSON object, not ${kindOf(raw)}`);
  }
  const head = raw as { format?: unknown; version?: unknown };
  if (head.format === DOCUMENT_FORMAT) {
    const doc = readDocument(raw, source, blocks);
    return { workspace: { active: 'v1', variants: [{ id: 'v1', name: doc.graph.name || 'Variant 1', doc }] }, fromDocument: true };
  }
  if (head.format !== WORKSPACE_FORMAT) {
    throw new DocumentError(
      `${source} is not a UNet Studio graph or workspace (its "format" is ${JSON.stringify(head.format) ?? 'missing'}, expected "${DOCUMENT_FORMAT}" or "${WORKSPACE_FORMAT}")`,
    );
  }
  if (typeof head.version !== 'number' || !Number.isInteger(head.version) || head.version < 1) {
    throw new DocumentError(`${source} has no valid "version" (got ${JSON.stringify(head.version) ?? 'nothing'})`);
  }
  if (head.version > WORKSPACE_VERSION) {
    throw new DocumentError(
      `${source} was saved by a newer UNet Studio (workspace version ${head.version}; this one reads up to ${WORKSPACE_VERSION}): update the app to open it`,
    );
  }
  const r = WorkspaceV1.safeParse(raw);
  if (!r.success) throw new DocumentError(`${source} is a malformed workspace:\n${describe(r.error)}`);
  const seen = new Set<string>();
  const variants: WorkspaceVariant[] = [];
  for (const [i, v] of r.data.variants.entries()) {
    const who = `variant ${i + 1} ("${v.name}")`;
    if (seen.has(v.id)) throw new DocumentError(`${source}: ${who} has the id "${v.id}" of an earlier variant; variant ids must be unique`);
    seen.add(v.id);
    const doc = readDocument(v.document, `${source}, ${who}`, blocks);
    variants.push({ id: v.id, name: v.name, doc, ...(v.metricsText !== undefined ? { metricsText: v.metricsText } : {}) });
  }
  if (!seen.has(r.data.active)) {
    throw new DocumentError(`${source}: the active variant "${r.data.active}" is not one of its variants (${[...seen].map((id) => `"${id}"`).join(', ')})`);
  }
  return { workspace: { active: r.data.active, variants }, fromDocument: false };
}

/** Each document's text, by document object: an autosave of ten variants re-serialises only the one edited. */
const docText = new WeakMap<Document, string>();
function documentText(doc: Document, blocks?: BlockMigrations): string {
  if (blocks) return serializeDocument(doc.graph, doc.layout, blocks, doc.collapsed);
  let t = docText.get(doc);
  if (t === undefined) docText.set(doc, (t = serializeDocument(doc.graph, doc.layout, undefined, doc.collapsed)));
  return t;
}

/**
 * Serialises a workspace: deterministic, two-space indent, trailing newline, each variant's
 * `document` exactly as `serializeDocument` writes it (so the text equals `JSON.stringify(…, null, 2)`
 * of the same object). Refuses (DocumentError) a workspace that could not be read back.
 */
export function serializeWorkspace(ws: Workspace, blocks?: BlockMigrations): string {
  if (ws.variants.length === 0) throw new DocumentError('a workspace holds at least one variant');
  if (!ws.variants.some((v) => v.id === ws.active)) throw new DocumentError(`the active variant "${ws.active}" is not one of the workspace's variants`);
  const q = (s: string) => JSON.stringify(s);
  const parts = ws.variants.map((v) => {
    const doc = documentText(v.doc, blocks).trimEnd().replace(/\n/g, '\n      ');
    const metrics = v.metricsText !== undefined ? `      "metricsText": ${q(v.metricsText)},\n` : '';
    return `    {\n      "id": ${q(v.id)},\n      "name": ${q(v.name)},\n${metrics}      "document": ${doc}\n    }`;
  });
  return `{\n  "format": ${q(WORKSPACE_FORMAT)},\n  "version": ${WORKSPACE_VERSION},\n  "active": ${q(ws.active)},\n  "variants": [\n${parts.join(',\n')}\n  ]\n}\n`;
}

/** An id not in `taken`: `v1`, `v2`, … */
export function freshVariantId(taken: ReadonlySet<string>): string {
  for (let i = 1; ; i++) if (!taken.has(`v${i}`)) return `v${i}`;
}

/** `name`, or `name (2)`, `name (3)`, … : the first not in `taken`. */
export function uniqueVariantName(name: string, taken: ReadonlySet<string>): string {
  const base = name.trim() || 'Variant';
  if (!taken.has(base)) return base;
  for (let i = 2; ; i++) if (!taken.has(`${base} (${i})`)) return `${base} (${i})`;
}
