/**
 * The workspace file: round trips (text stable, every variant's document and metrics kept), the
 * single-graph fallback, and every kind of malformed file, each a `DocumentError` naming the problem.
 */
import { describe, expect, it } from 'vitest';
import { DocumentError, FORMAT, parseDocument, serializeDocument, type Document } from './document';
import { GraphBuilder } from './builder';
import {
  MAX_VARIANTS,
  WORKSPACE_FORMAT,
  freshVariantId,
  parseWorkspace,
  parseWorkspaceFile,
  serializeWorkspace,
  uniqueVariantName,
  type Workspace,
} from './workspace';

function doc(name: string, channels: number): Document {
  const b = new GraphBuilder();
  const x = b.add('ImageInput', 'x', { channels: 3, height: 8, width: 8 });
  const c = b.add('Conv2d', 'conv', { out_channels: channels }, { x });
  b.add('Output', 'output', {}, { x: c });
  const graph = b.build(name);
  const layout: Record<string, { x: number; y: number }> = {};
  graph.nodes.forEach((n, i) => (layout[n.id] = { x: 10 * i + 1, y: -5 * i - 2 }));
  return { graph, layout, collapsed: [] };
}

const two = (): Workspace => ({
  active: 'b',
  variants: [
    { id: 'a', name: '32 ch', doc: doc('unet-32', 32) },
    { id: 'b', name: '64 ch "wide" </script>', doc: doc('unet-64', 64), metricsText: '{"step":1,"loss":0.5}\n{"step":2,"loss":0.25}\n' },
  ],
});

function wsError(text: string, source?: string): string {
  let caught: unknown;
  try {
    parseWorkspace(text, source);
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(DocumentError);
  return (caught as Error).message;
}

const valid = () => JSON.parse(serializeWorkspace(two())) as { variants: Record<string, unknown>[] } & Record<string, unknown>;

describe('workspace format', () => {
  it('round trips: same text again, each variant with its document, name, id and metrics', () => {
    const ws = two();
    const text = serializeWorkspace(ws);
    const back = parseWorkspace(text);
    expect(back.active).toBe('b');
    expect(back.variants.map((v) => [v.id, v.name])).toEqual([
      ['a', '32 ch'],
      ['b', '64 ch "wide" </script>'],
    ]);
    expect(back.variants[0].metricsText).toBeUndefined();
    expect(back.variants[1].metricsText).toBe('{"step":1,"loss":0.5}\n{"step":2,"loss":0.25}\n');
    expect(back.variants[1].doc.graph.nodes.find((n) => n.name === 'conv')?.params.out_channels).toBe(64);
    expect(back.variants[0].doc.layout).toEqual(ws.variants[0].doc.layout);
    expect(serializeWorkspace(back)).toBe(text);
  });

  it('writes plain indented JSON with each document exactly as a document file holds it', () => {
    const ws = two();
    const text = serializeWorkspace(ws);
    const obj = JSON.parse(text) as { format: string; version: number; active: string; variants: { document: unknown }[] };
    expect(text).toBe(`${JSON.stringify(obj, null, 2)}\n`);
    expect(obj.format).toBe('unet-studio-workspace');
    expect(obj.version).toBe(1);
    expect(obj.active).toBe('b');
    expect(obj.variants[0].document).toEqual(JSON.parse(serializeDocument(ws.variants[0].doc.graph, ws.variants[0].doc.layout)));
  });

  it('opens a single-graph document file as a workspace of one variant named after its graph', () => {
    const d = doc('my-unet', 16);
    const text = serializeDocument(d.graph, d.layout);
    const ws = parseWorkspace(text);
    expect(ws.active).toBe('v1');
    expect(ws.variants).toHaveLength(1);
    expect(ws.variants[0].id).toBe('v1');
    expect(ws.variants[0].name).toBe('my-unet');
    expect(ws.variants[0].doc).toEqual(parseDocument(text));
    expect(parseWorkspaceFile(text).fromDocument).toBe(true);
    expect(parseWorkspaceFile(serializeWorkspace(two())).fromDocument).toBe(false);
    // An older document version is migrated as when opened alone.
    const v1 = JSON.stringify({ format: FORMAT, version: 1, name: '', nodes: [{ id: 'n1', name: 'x', type: 'ImageInput', params: {} }], edges: [] });
    const old = parseWorkspace(v1);
    expect(old.variants[0].name).toBe('Variant 1');
    expect(old.variants[0].doc.graph.nodes.map((n) => n.name)).toEqual(['x']);
  });

  it.each<[string, (w: ReturnType<typeof valid>) => unknown, RegExp]>([
    ['not an object', () => [1, 2], /^workspace file must hold a JSON object, not an array$/],
    ['another format', (w) => ({ ...w, format: 'something-else' }), /is not a UNet Studio graph or workspace \(its "format" is "something-else", expected "unet-studio-graph" or "unet-studio-workspace"\)/],
    ['no version', (w) => ({ ...w, version: '1' }), /has no valid "version" \(got "1"\)/],
    ['a newer version', (w) => ({ ...w, version: 2 }), /saved by a newer UNet Studio \(workspace version 2; this one reads up to 1\): update the app/],
    ['no variants', (w) => ({ ...w, variants: [] }), /malformed workspace:\n {2}variants: a workspace holds at least one variant/],
    ['an unknown key', (w) => ({ ...w, extra: 1 }), /malformed workspace:\n {2}\(root\): .*"extra"/],
    ['a variant without a name', (w) => ({ ...w, variants: [{ ...w.variants[0], name: undefined }, w.variants[1]] }), /malformed workspace:\n {2}variants\.0\.name: /],
    ['metrics that are not text', (w) => ({ ...w, variants: [w.variants[0], { ...w.variants[1], metricsText: 3 }] }), /malformed workspace:\n {2}variants\.1\.metricsText: /],
    ['a variant without a document', (w) => ({ ...w, variants: [w.variants[0], { ...w.variants[1], document: undefined }] }), /malformed workspace:\n {2}variants\.1\.document: every variant holds its graph document here$/],
    ['two variants with one id', (w) => ({ ...w, variants: [w.variants[0], { ...w.variants[1], id: 'a' }] }), /variant 2 \(.*\) has the id "a" of an earlier variant; variant ids must be unique/],
    ['an active id that is no variant', (w) => ({ ...w, active: 'zz' }), /the active variant "zz" is not one of its variants \("a", "b"\)/],
    [
      'a bad document inside',
      (w) => ({ ...w, variants: [w.variants[0], { ...w.variants[1], document: { ...(w.variants[1].document as object), layout: { n1: { x: 'a', y: 0 } } } }] }),
      /^workspace file, variant 2 \("64 ch "wide" <\/script>"\) is malformed:\n {2}layout\.n1\.x: /,
    ],
    [
      'a document of a newer version inside',
      (w) => ({ ...w, variants: [{ ...w.variants[0], document: { ...(w.variants[0].document as object), version: 99 } }, w.variants[1]] }),
      /^workspace file, variant 1 \("32 ch"\) was saved by a newer UNet Studio \(format version 99/,
    ],
  ])('refuses %s with a message naming the problem', (_, change, message) => {
    expect(wsError(JSON.stringify(change(valid())))).toMatch(message);
  });

  it('refuses text that is not JSON, and too many variants, naming the source', () => {
    expect(wsError('{"format": "unet-studio-workspace",', 'my.json')).toMatch(/^my\.json is not valid JSON: /);
    const w = valid();
    const many = { ...w, variants: Array.from({ length: MAX_VARIANTS + 1 }, (_, i) => ({ ...w.variants[0], id: `x${i}` })), active: 'x0' };
    expect(wsError(JSON.stringify(many))).toMatch(new RegExp(`variants: a workspace holds at most ${MAX_VARIANTS} variants`));
    expect(WORKSPACE_FORMAT).toBe('unet-studio-workspace');
  });

  it('will not write a workspace it could not read back', () => {
    expect(() => serializeWorkspace({ active: 'a', variants: [] })).toThrow(/at least one variant/);
    expect(() => serializeWorkspace({ ...two(), active: 'nope' })).toThrow(/the active variant "nope" is not one of/);
  });

  it('makes fresh ids and unique names', () => {
    expect(freshVariantId(new Set(['v1', 'v3']))).toBe('v2');
    expect(freshVariantId(new Set())).toBe('v1');
    expect(uniqueVariantName('a', new Set(['a', 'a (2)']))).toBe('a (3)');
    expect(uniqueVariantName('  ', new Set())).toBe('Variant');
    expect(uniqueVariantName('b', new Set(['a']))).toBe('b');
  });
});
