/**
 * The saved document: byte-stable round trips, hostile strings, every kind of bad file (always a
 * `DocumentError` naming the problem), the version 1 → 2 and 2 → 3 migrations, and groups (version 3).
 */
import { describe, it, expect } from 'vitest';
import { CURRENT_VERSION, DocumentError, FORMAT, parseDocument, readDocument, serializeDocument, type Document } from './document';
import { GraphBuilder } from './builder';
import { validate } from './analyze';
import { iddpm, vanilla } from './templates';
import type { Graph, GraphNode } from './model';
import { MAX_GROUPS } from './limits';

// ---------------------------------------------------------------------------------------------
// helpers

function docError(text: string, source?: string): DocumentError {
  let caught: unknown;
  try {
    if (source === undefined) parseDocument(text);
    else parseDocument(text, source);
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(DocumentError);
  expect(caught).toBeInstanceOf(Error);
  const err = caught as DocumentError;
  expect(err.name).toBe('DocumentError');
  return err;
}

/** A version-2 document around the given graph parts, as JSON text. */
const v2 = (graph: unknown, extra: Record<string, unknown> = {}): string => JSON.stringify({ format: FORMAT, version: 2, graph, ...extra });

function smallGraph(): { graph: Graph; layout: Document['layout'] } {
  const b = new GraphBuilder();
  const x = b.add('ImageInput', 'x', { channels: 3, height: 16, width: 16 });
  const c = b.add('Conv2d', 'input_blocks.0.0', { out_channels: 32, kernel_size: 3, stride: 1, padding: 1, bias: true, zero_init: false }, { x });
  const n = b.add('GroupNorm', 'out.0', { groups: 32, eps: 1e-5 }, { x: c });
  const cat = b.add('Concat', 'cat', { order: 'skip_first', pad_to_match: true }, { x: n, skip: c });
  b.add('Output', 'output', {}, { x: cat });
  const graph = b.build('small', 'a small graph');
  const layout = { n1: { x: 0, y: 0 }, n2: { x: 120.5, y: -40 }, n3: { x: 1e6, y: 0.1 }, n5: { x: -3, y: 7 } };
  return { graph, layout };
}

// ---------------------------------------------------------------------------------------------

describe('serializeDocument / parseDocument round trip', () => {
  it('keeps nodes, edges, params and layout exactly', () => {
    const { graph, layout } = smallGraph();
    const text = serializeDocument(graph, layout);
    const doc = parseDocument(text);
    expect(doc.graph).toEqual(graph);
    expect(doc.layout).toEqual(layout);
    expect(doc.graph.nodes.map((n) => n.params)).toEqual(graph.nodes.map((n) => n.params));
    expect(doc.graph.edges).toEqual([
      { id: 'e1', from: { node: 'n1', port: 'out' }, to: { node: 'n2', port: 'x' } },
      { id: 'e2', from: { node: 'n2', port: 'out' }, to: { node: 'n3', port: 'x' } },
      { id: 'e3', from: { node: 'n3', port: 'out' }, to: { node: 'n4', port: 'x' } },
      { id: 'e4', from: { node: 'n2', port: 'out' }, to: { node: 'n4', port: 'skip' } },
      { id: 'e5', from: { node: 'n4', port: 'out' }, to: { node: 'n5', port: 'x' } },
    ]);
    expect(validate(doc.graph)).toEqual([]);
  });

  it('is byte-stable: serialize(parse(serialize(g))) === serialize(g)', () => {
    const { graph, layout } = smallGraph();
    const text = serializeDocument(graph, layout);
    const again = parseDocument(text);
    expect(serializeDocument(again.graph, again.layout)).toBe(text);
    // and for the templates
    for (const g of [iddpm({ in_channels: 3, model_channels: 32, out_channels: 3, num_res_blocks: 1, attention_resolutions: [2], channel_mult: [1, 2] }, 16), vanilla({ n_channels: 3, n_classes: 2, widths: [8, 16] }, 32)]) {
      const t = serializeDocument(g);
      const d = parseDocument(t);
      expect(d.graph).toEqual(g);
      expect(d.layout).toEqual({});
      expect(serializeDocument(d.graph, d.layout)).toBe(t);
    }
  });

  it('writes a stable key order, two-space indent and a trailing newline', () => {
    const b = new GraphBuilder();
    const x = b.add('ImageInput', 'x', { width: 8, height: 4, channels: 1 });
    b.add('Output', 'output', {}, { x });
    const text = serializeDocument(b.build('g'), { n1: { x: 1, y: 2 } });
    expect(text).toBe(
      [
        '{',
        '  "format": "unet-studio-graph",',
        '  "version": 4,',
        '  "graph": {',
        '    "name": "g",',
        '    "nodes": [',
        '      {',
        '        "id": "n1",',
        '        "name": "x",',
        '        "type": "ImageInput",',
        '        "params": {',
        '          "width": 8,',
        '          "height": 4,',
        '          "channels": 1',
        '        }',
        '      },',
        '      {',
        '        "id": "n2",',
        '        "name": "output",',
        '        "type": "Output",',
        '        "params": {}',
        '      }',
        '    ],',
        '    "edges": [',
        '      {',
        '        "id": "e1",',
        '        "from": {',
        '          "node": "n1",',
        '          "port": "out"',
        '        },',
        '        "to": {',
        '          "node": "n2",',
        '          "port": "x"',
        '        }',
        '      }',
        '    ]',
        '  },',
        '  "layout": {',
        '    "n1": {',
        '      "x": 1,',
        '      "y": 2',
        '    }',
        '  },',
        '  "collapsed": []',
        '}',
        '',
      ].join('\n'),
    );
    expect(CURRENT_VERSION).toBe(4);
  });

  it('a missing description stays missing; an empty one stays empty', () => {
    const g: Graph = { name: 'g', nodes: [], edges: [] };
    const d1 = parseDocument(serializeDocument(g));
    expect(d1.graph).toEqual(g);
    expect('description' in d1.graph).toBe(false);
    const d2 = parseDocument(serializeDocument({ ...g, description: '' }));
    expect(d2.graph.description).toBe('');
  });

  it('missing params and layout default to empty', () => {
    const doc = parseDocument(v2({ name: 'g', nodes: [{ id: 'a', name: 'act', type: 'SiLU' }], edges: [] }));
    expect(doc.graph.nodes).toEqual([{ id: 'a', name: 'act', type: 'SiLU', params: {} }]);
    expect(doc.layout).toEqual({});
  });

  it('hostile names survive a round trip unchanged', () => {
    const hostile = [
      'a"b',
      "it's",
      'back`tick`',
      '*/ alert(1) /*',
      '${process.exit(1)}',
      'line\nbreak\r\n\ttab',
      'sep\u2028para\u2029',
      '🦄 emoji 🧪',
      '__proto__',
      'constructor',
      'toString',
      'back\\slash',
      'nul\u0000char',
      'lone \ud800 surrogate',
      '</script><script>',
      '',
    ];
    const nodes: GraphNode[] = hostile.map((name, i) => ({ id: `id-${i}-${name === '' ? 'empty' : 'x'}`, name, type: 'SiLU', params: {} }));
    const graph: Graph = { name: hostile.join('|'), description: '*/ ${x} `y` \u2028', nodes, edges: [] };
    const layout = { constructor: { x: 1, y: 2 }, toString: { x: 3, y: 4 }, 'a"b\n': { x: 5, y: 6 } };
    const text = serializeDocument(graph, layout);
    const doc = parseDocument(text);
    expect(doc.graph.nodes.map((n) => n.name)).toEqual(hostile);
    expect(doc.graph.name).toBe(graph.name);
    expect(doc.graph.description).toBe(graph.description);
    expect(doc.graph).toEqual(graph);
    expect(doc.layout).toEqual(layout);
    expect(Object.keys(doc.layout)).toEqual(['constructor', 'toString', 'a"b\n']);
    expect(serializeDocument(doc.graph, doc.layout)).toBe(text);
  });

  it('hostile ids and string param values survive too', () => {
    const graph: Graph = {
      name: 'g',
      nodes: [
        { id: 'constructor', name: 'x', type: 'ImageInput', params: {} },
        { id: '"; drop', name: 'cat', type: 'Concat', params: { order: '`${1}`', pad_to_match: false } },
      ],
      edges: [{ id: 'e\u2028', from: { node: 'constructor', port: 'out' }, to: { node: '"; drop', port: 'x' } }],
    };
    const doc = parseDocument(serializeDocument(graph, { constructor: { x: 0, y: 0 } }));
    expect(doc.graph).toEqual(graph);
    expect(doc.layout).toEqual({ constructor: { x: 0, y: 0 } });
  });
});

describe('bad files: always a DocumentError that names the problem', () => {
  it('malformed JSON', () => {
    expect(docError('{"format": "unet-studio-graph",').message).toMatch(/^graph file is not valid JSON: /);
    expect(docError('', 'model.json').message).toMatch(/^model\.json is not valid JSON: /);
  });

  it('a JSON array, null, or a scalar', () => {
    expect(docError('[]').message).toBe('graph file must hold a JSON object, not an array');
    expect(docError('null').message).toBe('graph file must hold a JSON object, not null');
    expect(docError('"text"').message).toBe('graph file must hold a JSON object, not string');
    expect(docError('42').message).toBe('graph file must hold a JSON object, not number');
  });

  it('wrong or missing format field', () => {
    expect(docError('{"format": "tfjs-layers-model", "version": 2}').message).toBe(
      'graph file is not a UNet Studio graph (its "format" is "tfjs-layers-model", expected "unet-studio-graph")',
    );
    expect(docError('{"version": 2}').message).toBe('graph file is not a UNet Studio graph (its "format" is missing, expected "unet-studio-graph")');
  });

  it('missing or invalid version', () => {
    expect(docError('{"format": "unet-studio-graph"}').message).toBe('graph file has no valid "version" (got nothing)');
    expect(docError('{"format": "unet-studio-graph", "version": "2"}').message).toBe('graph file has no valid "version" (got "2")');
    expect(docError('{"format": "unet-studio-graph", "version": 1.5}').message).toBe('graph file has no valid "version" (got 1.5)');
    expect(docError('{"format": "unet-studio-graph", "version": 0}').message).toBe('graph file has no valid "version" (got 0)');
  });

  it('a newer version is refused, naming both versions', () => {
    const m = docError('{"format": "unet-studio-graph", "version": 99, "whatever": {"future": true}}').message;
    expect(m).toContain('newer');
    expect(m).toContain('99');
    expect(m).toContain(String(CURRENT_VERSION));
    expect(m).toBe('graph file was saved by a newer UNet Studio (format version 99; this one reads up to 4): update the app to open it');
  });

  it('a node without id names the path', () => {
    const m = docError(v2({ name: 'g', nodes: [{ name: 'a', type: 'SiLU' }], edges: [] })).message;
    expect(m).toMatch(/^graph file is malformed:\n/);
    expect(m).toContain('graph.nodes.0.id');
  });

  it('an edge without `to` names the path', () => {
    const m = docError(v2({ name: 'g', nodes: [{ id: 'a', name: 'a', type: 'SiLU' }], edges: [{ id: 'e', from: { node: 'a', port: 'out' } }] })).message;
    expect(m).toMatch(/^graph file is malformed:\n/);
    expect(m).toContain('graph.edges.0.to');
  });

  it('a param with an object value names the path', () => {
    const m = docError(v2({ name: 'g', nodes: [{ id: 'a', name: 'a', type: 'Conv2d', params: { out_channels: { value: 8 } } }], edges: [] })).message;
    expect(m).toContain('graph.nodes.0.params.out_channels');
  });

  it('other structural errors: extra keys, empty port, bad layout, non-array nodes', () => {
    expect(docError(v2({ name: 'g', nodes: [], edges: [] }, { extra: 1 })).message).toContain('Unrecognized key: "extra"');
    expect(docError(v2({ name: 'g', nodes: [{ id: 'a', name: 'a', type: 'SiLU', position: { x: 0, y: 0 } }], edges: [] })).message).toContain('graph.nodes.0');
    expect(
      docError(v2({ name: 'g', nodes: [], edges: [{ id: 'e', from: { node: 'a', port: '' }, to: { node: 'b', port: 'x' } }] })).message,
    ).toContain('graph.edges.0.from.port');
    expect(docError(v2({ name: 'g', nodes: [], edges: [] }, { layout: { a: { x: '1', y: 2 } } })).message).toContain('layout.a.x');
    expect(docError(v2({ name: 'g', nodes: {}, edges: [] })).message).toContain('graph.nodes');
    expect(docError(v2({ name: 'g', nodes: [{ id: 'a', name: 'a', type: '' }], edges: [] })).message).toContain('graph.nodes.0.type');
  });

  it('readDocument takes parsed values with the same checks', () => {
    expect(() => readDocument(undefined)).toThrow(DocumentError);
    expect(() => readDocument(undefined)).toThrow('graph file must hold a JSON object, not undefined');
    expect(() => readDocument([1], 'clipboard')).toThrow('clipboard must hold a JSON object, not an array');
    const doc = readDocument({ format: FORMAT, version: 2, graph: { name: 'g', nodes: [], edges: [] } });
    expect(doc).toEqual({ graph: { name: 'g', nodes: [], edges: [] }, layout: {}, collapsed: [] });
  });
});

describe('version 1 → 2 migration', () => {
  const V1 = {
    format: 'unet-studio-graph',
    version: 1,
    name: 'prototype',
    nodes: [
      { id: 'n1', name: 'x', type: 'ImageInput', params: { channels: 3, height: 8, width: 8 }, position: { x: 10, y: 20 } },
      { id: 'n2', name: 'conv', type: 'Conv2d', params: { out_channels: 4 }, position: { x: 200, y: -5.5 } },
      { id: 'n3', name: 'add', type: 'Add', params: {} },
      { id: 'n4', name: 'output', type: 'Output', position: { x: 400, y: 20 } },
    ],
    edges: [
      { id: 'e1', source: 'n1', target: 'n2', targetHandle: 'x' },
      { id: 'e2', source: 'n2', target: 'n3', targetHandle: 'a' },
      { id: 'e3', source: 'n2', target: 'n3', targetHandle: 'b' },
      { id: 'e4', source: 'n3', target: 'n4', targetHandle: 'x' },
    ],
  };

  it('moves positions into layout and edges into {from: {node, port: out}, to: {node, port}}', () => {
    const doc = parseDocument(JSON.stringify(V1));
    expect(doc.graph).toEqual({
      name: 'prototype',
      nodes: [
        { id: 'n1', name: 'x', type: 'ImageInput', params: { channels: 3, height: 8, width: 8 } },
        { id: 'n2', name: 'conv', type: 'Conv2d', params: { out_channels: 4 } },
        { id: 'n3', name: 'add', type: 'Add', params: {} },
        { id: 'n4', name: 'output', type: 'Output', params: {} },
      ],
      edges: [
        { id: 'e1', from: { node: 'n1', port: 'out' }, to: { node: 'n2', port: 'x' } },
        { id: 'e2', from: { node: 'n2', port: 'out' }, to: { node: 'n3', port: 'a' } },
        { id: 'e3', from: { node: 'n2', port: 'out' }, to: { node: 'n3', port: 'b' } },
        { id: 'e4', from: { node: 'n3', port: 'out' }, to: { node: 'n4', port: 'x' } },
      ],
    });
    expect(doc.layout).toEqual({ n1: { x: 10, y: 20 }, n2: { x: 200, y: -5.5 }, n4: { x: 400, y: 20 } });
    expect(validate(doc.graph)).toEqual([]);
  });

  it('re-saves as the current version (4), and that file reads back the same', () => {
    const doc = parseDocument(JSON.stringify(V1));
    const text = serializeDocument(doc.graph, doc.layout);
    expect(JSON.parse(text)).toMatchObject({ format: FORMAT, version: 4, collapsed: [] });
    expect(text).not.toContain('targetHandle');
    expect(text).not.toContain('"position"');
    expect(parseDocument(text)).toEqual(doc);
  });

  it('a malformed version-1 file names the version and the path', () => {
    const bad = { ...V1, edges: [{ id: 'e1', source: 'n1', target: 'n2' }] };
    const m = docError(JSON.stringify(bad)).message;
    expect(m).toMatch(/^graph file \(version 1\) is malformed:\n/);
    expect(m).toContain('edges.0.targetHandle');
    const noId = { ...V1, nodes: [{ name: 'x', type: 'ImageInput' }] };
    expect(docError(JSON.stringify(noId)).message).toContain('nodes.0.id');
  });
});

describe('unknown block types', () => {
  it('load (the file is fine), then validate reports unknown-type with the node name', () => {
    const text = v2({
      name: 'from the future',
      nodes: [
        { id: 'n1', name: 'x', type: 'ImageInput', params: {} },
        { id: 'n2', name: 'mid.attn', type: 'FlashAttention', params: { heads: 8 } },
        { id: 'n3', name: 'output', type: 'Output', params: {} },
      ],
      edges: [
        { id: 'e1', from: { node: 'n1', port: 'out' }, to: { node: 'n2', port: 'x' } },
        { id: 'e2', from: { node: 'n2', port: 'out' }, to: { node: 'n3', port: 'x' } },
      ],
    });
    const doc = parseDocument(text);
    expect(doc.graph.nodes[1]).toEqual({ id: 'n2', name: 'mid.attn', type: 'FlashAttention', params: { heads: 8 } });
    const ps = validate(doc.graph);
    const unknown = ps.filter((p) => p.code === 'unknown-type');
    expect(unknown).toHaveLength(1);
    expect(unknown[0]).toMatchObject({ severity: 'error', code: 'unknown-type', node: 'mid.attn', nodeId: 'n2', message: 'Block "mid.attn": unknown block type "FlashAttention"' });
    // It still saves byte-for-byte as it was read.
    expect(serializeDocument(doc.graph, doc.layout)).toBe(serializeDocument(JSON.parse(text).graph as Graph, {}));
  });
});

describe('version 3: groups and collapsed groups', () => {
  const grouped = (): Graph => {
    const { graph } = smallGraph();
    return {
      ...graph,
      groups: [
        { id: 'g1', name: 'stem', nodes: ['n2'] },
        { id: 'g2', name: 'head', parent: 'g1', nodes: ['n3', 'n4'] },
      ],
    };
  };

  it('saves groups (parent only where there is one) and collapsed ids, and reads them back exactly', () => {
    const g = grouped();
    const layout = { n1: { x: 0, y: 0 }, g1: { x: 10, y: 20 } };
    const text = serializeDocument(g, layout, undefined, ['g2']);
    const saved = JSON.parse(text) as { version: number; graph: { groups: unknown }; collapsed: unknown };
    expect(saved.version).toBe(4);
    expect(saved.graph.groups).toEqual([
      { id: 'g1', name: 'stem', nodes: ['n2'] },
      { id: 'g2', name: 'head', parent: 'g1', nodes: ['n3', 'n4'] },
    ]);
    expect(text).toContain('"collapsed": [\n    "g2"\n  ]\n}\n');
    const doc = parseDocument(text);
    expect(doc).toEqual({ graph: g, layout, collapsed: ['g2'] });
    expect(validate(doc.graph)).toEqual([]);
    expect(serializeDocument(doc.graph, doc.layout, undefined, doc.collapsed)).toBe(text);
  });

  it('a flat graph saves no groups key; collapsed ids of missing groups are dropped, repeats kept once', () => {
    const { graph } = smallGraph();
    expect(Object.keys((JSON.parse(serializeDocument(graph)) as { graph: object }).graph)).toEqual(['name', 'description', 'nodes', 'edges']);
    const text = JSON.stringify({ format: FORMAT, version: 3, graph: grouped(), collapsed: ['g2', 'gone', 'g2', 'g1'] });
    expect(parseDocument(text).collapsed).toEqual(['g2', 'g1']);
  });

  it('opens a version-2 file as a flat graph with nothing collapsed', () => {
    const { graph, layout } = smallGraph();
    const doc = parseDocument(v2(graph, { layout }));
    expect(doc).toEqual({ graph, layout, collapsed: [] });
    expect('groups' in doc.graph).toBe(false);
  });

  it('refuses version-3 keys in a version-2 file, and malformed groups, naming the path', () => {
    const { graph } = smallGraph();
    expect(docError(v2({ ...graph, groups: [] })).message).toBe('graph file (version 2) is malformed:\n  graph: "groups" is not part of version 2 (groups came with version 3)');
    expect(docError(v2(graph, { collapsed: [] })).message).toContain('collapsed: is not part of version 2');
    const v3 = (g: unknown, extra: Record<string, unknown> = {}) => JSON.stringify({ format: FORMAT, version: 3, graph: g, ...extra });
    expect(docError(v3({ ...graph, groups: [{ id: '', name: 'a', nodes: [] }] })).message).toMatch(/^graph file is malformed:\n {2}graph\.groups\.0\.id: /);
    expect(docError(v3({ ...graph, groups: [{ id: 'g1', name: 'a', nodes: [1] }] })).message).toContain('graph.groups.0.nodes.0');
    expect(docError(v3({ ...graph, groups: [{ id: 'g1', name: 'a', nodes: [], open: true }] })).message).toContain('graph.groups.0');
    expect(docError(v3(graph, { collapsed: 'g1' })).message).toContain('collapsed');
  });

  it('bad group structure inside a well-formed file opens, and validate names the group', () => {
    const g = { ...grouped(), groups: [{ id: 'g1', name: 'stem', nodes: ['n2', 'n99'] }] };
    const doc = parseDocument(JSON.stringify({ format: FORMAT, version: 3, graph: g }));
    expect(validate(doc.graph).map((p) => [p.code, p.message])).toEqual([['group', 'group "stem": its member "n99" is not a block of the graph']]);
  });

  it('refuses more than MAX_GROUPS groups before reading them, naming the limit', () => {
    const groups = Array.from({ length: MAX_GROUPS + 1 }, () => 0);
    expect(docError(JSON.stringify({ format: FORMAT, version: 3, graph: { name: 'g', nodes: [], edges: [], groups } }), 'big.json').message).toBe(
      'big.json has 10,001 groups; UNet Studio opens graphs of at most 10,000 groups',
    );
  });
});
