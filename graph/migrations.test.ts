/**
 * Per-block parameter migrations: a block declaration renames and adds parameters, and documents
 * saved before that change open upgraded, node by node. The changed block is a test's own
 * declaration (DoubleConv with a made-up history), handed to the reader in place of the registry.
 */
import { describe, it, expect } from 'vitest';
import { BLOCK_TYPES, blockDef, isBlockType } from '../blocks/registry';
import { paramsVersion, type BlockDef, type ParamMigration, type SavedParams } from '../blocks/types';
import { DocumentError, FORMAT, parseDocument, serializeDocument, type BlockMigrations } from './document';
import { validate } from './analyze';
import { iddpm, vanilla } from './templates';

/**
 * DoubleConv's made-up history: version 1 called `out_channels` `channels`; version 3 added
 * `mid_channels`, whose default (0: same as out) is what older documents meant.
 */
const history: readonly ParamMigration[] = [
  {
    version: 2,
    description: 'rename channels → out_channels',
    up: ({ channels, ...rest }: SavedParams) => {
      if (channels === undefined) return rest;
      if ('out_channels' in rest) throw new Error('both "channels" and "out_channels" are set');
      return { ...rest, out_channels: channels };
    },
  },
  { version: 3, description: 'add mid_channels', up: (p: SavedParams) => ({ ...p, mid_channels: 0 }) },
];
const DoubleConvV3: BlockDef = { ...blockDef('DoubleConv'), migrations: history };

/** The registry, with DoubleConv replaced by the test's declaration (and `extra` types added). */
const withHistory =
  (extra: Record<string, Pick<BlockDef, 'migrations'>> = {}): BlockMigrations =>
  (type) =>
    type === 'DoubleConv' ? DoubleConvV3 : (extra[type] ?? (isBlockType(type) ? blockDef(type) : undefined));

/** A classic-UNet stage as a version-2 document saved before DoubleConv's changes. */
function oldDocument(nodeExtra: Record<string, unknown> = {}, params: Record<string, unknown> = { channels: 16 }): string {
  return JSON.stringify({
    format: FORMAT,
    version: 2,
    graph: {
      name: 'stage',
      nodes: [
        { id: 'n1', name: 'x', type: 'ImageInput', params: { channels: 3, height: 8, width: 8 } },
        { id: 'n2', name: 'inc', type: 'DoubleConv', params, ...nodeExtra },
        { id: 'n3', name: 'output', type: 'Output', params: {} },
      ],
      edges: [
        { id: 'e1', from: { node: 'n1', port: 'out' }, to: { node: 'n2', port: 'x' } },
        { id: 'e2', from: { node: 'n2', port: 'out' }, to: { node: 'n3', port: 'x' } },
      ],
    },
    layout: { n2: { x: 10, y: 20 } },
  });
}

function documentError(run: () => unknown): string {
  let caught: unknown;
  try {
    run();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(DocumentError);
  return (caught as DocumentError).message;
}

describe('the registry', () => {
  it("numbers every block's migrations 2, 3, … in order", () => {
    for (const type of BLOCK_TYPES) {
      const steps = blockDef(type).migrations ?? [];
      expect(steps.map((m) => m.version), type).toEqual(steps.map((_, i) => i + 2));
      expect(paramsVersion(blockDef(type)), type).toBe(steps.length + 1);
    }
  });

  it('documents saved today carry no paramsVersion while no block has migrations', () => {
    for (const g of [iddpm({ in_channels: 3, model_channels: 32, out_channels: 3, num_res_blocks: 1, attention_resolutions: [2], channel_mult: [1, 2] }, 16), vanilla({ n_channels: 3, n_classes: 2, widths: [8, 16] }, 32)]) {
      const text = serializeDocument(g);
      if (g.nodes.every((n) => paramsVersion(blockDef(n.type)) === 1)) expect(text).not.toContain('paramsVersion');
      expect(parseDocument(text).graph).toEqual(g);
    }
  });
});

describe('a block that renamed a parameter and added one', () => {
  it('opens a version-2 document saved before the change with its params upgraded', () => {
    const doc = parseDocument(oldDocument(), 'stage.json', withHistory());
    expect(doc.graph.nodes.map((n) => [n.name, n.params])).toEqual([
      ['x', { channels: 3, height: 8, width: 8 }],
      ['inc', { out_channels: 16, mid_channels: 0 }],
      ['output', {}],
    ]);
    expect(doc.layout).toEqual({ n2: { x: 10, y: 20 } });
    // The upgraded params are valid for today's DoubleConv.
    expect(validate(doc.graph)).toEqual([]);
  });

  it('opens a version-1 (prototype) document the same way', () => {
    const v1 = {
      format: FORMAT,
      version: 1,
      name: 'prototype',
      nodes: [
        { id: 'n1', name: 'x', type: 'ImageInput', params: { channels: 3, height: 8, width: 8 } },
        { id: 'n2', name: 'inc', type: 'DoubleConv', params: { channels: 5 }, position: { x: 1, y: 2 } },
      ],
      edges: [{ id: 'e1', source: 'n1', target: 'n2', targetHandle: 'x' }],
    };
    const doc = parseDocument(JSON.stringify(v1), 'proto.json', withHistory());
    expect(doc.graph.nodes[1].params).toEqual({ out_channels: 5, mid_channels: 0 });
  });

  it('runs only the steps after the version a node was saved at', () => {
    // Saved at version 2: already renamed, mid_channels not yet there.
    const doc = parseDocument(oldDocument({ paramsVersion: 2 }, { out_channels: 7 }), 'stage.json', withHistory());
    expect(doc.graph.nodes[1].params).toEqual({ out_channels: 7, mid_channels: 0 });
    // Saved at version 3: nothing runs (a stale "channels" would be reported by validate, not renamed).
    const now = parseDocument(oldDocument({ paramsVersion: 3 }, { out_channels: 7, mid_channels: 4 }), 'stage.json', withHistory());
    expect(now.graph.nodes[1].params).toEqual({ out_channels: 7, mid_channels: 4 });
  });

  it('saves the current version on the nodes of blocks with migrations, and reads it back unchanged', () => {
    const doc = parseDocument(oldDocument(), 'stage.json', withHistory());
    const text = serializeDocument(doc.graph, doc.layout, withHistory());
    const saved = JSON.parse(text) as { version: number; graph: { nodes: Record<string, unknown>[] } };
    expect(saved.version).toBe(4);
    expect(saved.graph.nodes.map((n) => n.paramsVersion)).toEqual([undefined, 3, undefined]);
    expect(Object.keys(saved.graph.nodes[1])).toEqual(['id', 'name', 'type', 'paramsVersion', 'params']);
    const again = parseDocument(text, 'stage.json', withHistory());
    expect(again).toEqual(doc);
    expect(serializeDocument(again.graph, again.layout, withHistory())).toBe(text);
  });

  it('refuses a node saved by a newer version of its block, naming the node and both versions', () => {
    const m = documentError(() => parseDocument(oldDocument({ paramsVersion: 4 }, { out_channels: 7 }), 'stage.json', withHistory()));
    expect(m).toBe(
      'stage.json: DoubleConv "inc" has parameters of version 4, saved by a newer UNet Studio (this one knows DoubleConv up to version 3): update the app to open it',
    );
    // Today's registry knows DoubleConv at version 1 only.
    expect(documentError(() => parseDocument(oldDocument({ paramsVersion: 3 }, { out_channels: 7 }), 'stage.json'))).toContain(
      'DoubleConv "inc" has parameters of version 3, saved by a newer UNet Studio (this one knows DoubleConv up to version 1)',
    );
  });

  it('refuses a node whose migration cannot apply, naming the node, the step and why', () => {
    const m = documentError(() => parseDocument(oldDocument({}, { channels: 16, out_channels: 8 }), 'stage.json', withHistory()));
    expect(m).toBe(
      'stage.json: DoubleConv "inc": its parameters (version 1) could not be upgraded to version 2 (rename channels → out_channels): both "channels" and "out_channels" are set',
    );
  });

  it('refuses a migration that returns something that is not parameters', () => {
    const broken: Pick<BlockDef, 'migrations'> = {
      migrations: [{ version: 2, description: 'nest', up: (p) => ({ ...p, nested: { a: 1 } as unknown as number }) }],
    };
    const text = JSON.stringify({ format: FORMAT, version: 2, graph: { name: 'g', nodes: [{ id: 'a', name: 'act', type: 'SiLU', params: {} }], edges: [] } });
    const m = documentError(() => parseDocument(text, 'g.json', withHistory({ SiLU: broken })));
    expect(m).toMatch(/^g\.json: SiLU "act": its parameters \(version 1\) could not be upgraded to version 2 \(nest\): the migration returned invalid parameters:\n/);
    expect(m).toContain('nested');
  });

  it('keeps the params of an unknown block type as saved (validate reports the type)', () => {
    const text = JSON.stringify({
      format: FORMAT,
      version: 2,
      graph: { name: 'g', nodes: [{ id: 'a', name: 'attn', type: 'FlashAttention', paramsVersion: 5, params: { heads: 8 } }], edges: [] },
    });
    const doc = parseDocument(text, 'g.json', withHistory());
    expect(doc.graph.nodes[0].params).toEqual({ heads: 8 });
    expect(validate(doc.graph).map((p) => p.code)).toContain('unknown-type');
  });

  it('a paramsVersion that is not a whole number from 1 up is a malformed file', () => {
    for (const bad of [0, 1.5, '2']) {
      expect(documentError(() => parseDocument(oldDocument({ paramsVersion: bad }), 'stage.json', withHistory()))).toContain('graph.nodes.1.paramsVersion');
    }
  });
});
