/** The document size policy: what is refused (with the limit named), what opens with a warning. */
import { describe, expect, it } from 'vitest';
import { DocumentError, FORMAT, parseDocument, serializeDocument } from './document';
import { MAX_BLOCKS, MAX_DOCUMENT_BYTES, MAX_EDGES, WARN_BLOCKS, documentSizeProblem, documentSizeWarning } from './limits';
import type { Graph, GraphEdge, GraphNode } from './model';

/** A valid chain: image → `n - 2` SiLUs → output. */
function chain(n: number): Graph {
  const nodes: GraphNode[] = [{ id: 'n1', name: 'x', type: 'ImageInput', params: {} }];
  const edges: GraphEdge[] = [];
  for (let i = 2; i <= n; i++) {
    nodes.push({ id: `n${i}`, name: i === n ? 'output' : `act_${i}`, type: i === n ? 'Output' : 'SiLU', params: {} });
    edges.push({ id: `e${i - 1}`, from: { node: `n${i - 1}`, port: 'out' }, to: { node: `n${i}`, port: 'x' } });
  }
  return { name: `chain-${n}`, nodes, edges };
}

const refusal = (text: string): string => {
  try {
    parseDocument(text, 'big.json');
  } catch (e) {
    expect(e).toBeInstanceOf(DocumentError);
    return (e as Error).message;
  }
  throw new Error('the document was not refused');
};

describe('document size limits', () => {
  it('opens a graph of exactly MAX_BLOCKS blocks', () => {
    const d = parseDocument(serializeDocument(chain(MAX_BLOCKS)));
    expect(d.graph.nodes.length).toBe(MAX_BLOCKS);
    expect(d.graph.edges.length).toBe(MAX_BLOCKS - 1);
  });

  it('refuses one block more, naming the count and the limit, before validating anything', () => {
    // Not even valid nodes: the count alone decides.
    const nodes = Array.from({ length: MAX_BLOCKS + 1 }, () => ({ bogus: true }));
    const text = JSON.stringify({ format: FORMAT, version: 2, graph: { name: 'x', nodes, edges: [] } });
    expect(refusal(text)).toBe('big.json has 10,001 blocks; UNet Studio opens graphs of at most 10,000 blocks (the largest published UNets have about 100)');
  });

  it('counts version-1 documents too (blocks at the top level)', () => {
    const nodes = Array.from({ length: 110_000 }, (_, i) => ({ id: `n${i}`, name: `b${i}`, type: 'SiLU' }));
    expect(refusal(JSON.stringify({ format: FORMAT, version: 1, name: 'old', nodes, edges: [] }))).toMatch(/^big\.json has 110,000 blocks; .* at most 10,000 blocks/);
  });

  it('refuses too many edges', () => {
    const edges = Array.from({ length: MAX_EDGES + 1 }, () => 0);
    const text = JSON.stringify({ format: FORMAT, version: 2, graph: { name: 'x', nodes: [], edges } });
    expect(refusal(text)).toBe('big.json has 40,001 connections; UNet Studio opens graphs of at most 40,000 connections');
  });

  it('refuses text over MAX_DOCUMENT_BYTES without parsing it', () => {
    // Not JSON at all: the size is checked first.
    expect(refusal('x'.repeat(MAX_DOCUMENT_BYTES + 1))).toBe(
      'big.json is 64 MiB (67,108,865 bytes); UNet Studio opens documents of at most 64 MiB (a UNet of 10,000 blocks takes about 6 MiB)',
    );
    expect(documentSizeProblem({ bytes: 200 * 1024 * 1024 }, 'f.json')).toMatch(/^f\.json is 200 MiB \(209,715,200 bytes\); /);
    expect(documentSizeProblem({ bytes: MAX_DOCUMENT_BYTES, blocks: MAX_BLOCKS, edges: MAX_EDGES })).toBeNull();
  });

  it('warns from WARN_BLOCKS blocks on', () => {
    expect(documentSizeWarning(WARN_BLOCKS - 1)).toBeNull();
    expect(documentSizeWarning(WARN_BLOCKS)).toMatch(/^This graph has 5,000 blocks, far more than any published UNet/);
    expect(documentSizeWarning(MAX_BLOCKS)).toContain('Graphs of more than 10,000 blocks are not opened.');
  });
});
