import { describe, expect, it } from 'vitest';
import { GraphBuilder } from './builder';
import { blockCosts, compareRow, compareRows, csvField, markdownCell, sortRows, toCsv, toMarkdown, type CompareRow } from './compare';
import { analyze } from './analyze';
import { convChain, skipGraph } from '../test/compare-graphs';

describe('compareRow: activation memory at batch 1, by hand', () => {
  it('keeps a skip connection alive and counts the running block’s temporaries', () => {
    // float32, batch 1. Tensor sizes: x = 4·8·8·4 B = 1024; conv1 = 8·8·8·4 = 2048; silu = 2048
    // plus its sigmoid temporary 2048 while it runs; conv2 = 1024; add = 1024.
    // Walk in order (live = outputs still to be read), peak = live + output + temporaries:
    //   x:     0    + 1024             = 1024   live 1024          (x: last read by add)
    //   conv1: 1024 + 2048             = 3072   live 3072
    //   silu:  3072 + 2048 + 2048      = 7168   live 5120, conv1 freed → 3072
    //   conv2: 3072 + 1024             = 4096   live 4096, silu freed  → 2048
    //   add:   2048 + 1024             = 3072   live 3072, x and conv2 freed → 1024
    //   output hands add back: nothing new.
    // Peak 7168 B, at silu.
    const row = compareRow({ id: 'a', name: 'skip', graph: skipGraph() });
    expect(row.activationBytes).toBe(7168);
    // Parameters: conv1 4·8·3·3 + 8 = 296; conv2 8·4·3·3 + 4 = 292; 588 in all.
    expect(row.parameters).toBe(588);
    // FLOPs: each conv 2 · in · out · 3·3 · 8·8 = 2·4·8·9·64 = 36864; SiLU and Add count 0.
    expect(row.gflops).toBeCloseTo((2 * 36864) / 1e9, 15);
    expect(row.outputShape).toBe('4×8×8');
    expect(row.problem).toBeNull();
    expect(row.ms).toBeNull();
  });

  it('frees a tensor after its last reader, but never the caller’s input', () => {
    // x = 1024 B (the caller's: alive throughout); conv1, conv2, conv3, add = 8·8·8·4 = 2048 B each.
    // Without the skip:
    //   x:     0 + 1024        = 1024   live 1024
    //   conv1: 1024 + 2048     = 3072   live 3072
    //   conv2: 3072 + 2048     = 5120   live 5120, conv1 freed → 3072
    //   conv3: 3072 + 2048     = 5120   live 5120, conv2 freed → 3072
    // Peak 5120 B.
    expect(compareRow({ id: 'b', name: 'chain', graph: convChain(false) }).activationBytes).toBe(5120);
    // With add(conv1, conv3), conv1 stays alive until add:
    //   conv2: 3072 + 2048     = 5120   live 5120 (conv1 kept)
    //   conv3: 5120 + 2048     = 7168   live 7168, conv2 freed → 5120
    //   add:   5120 + 2048     = 7168   live 7168, conv1 and conv3 freed → 3072
    // Peak 7168 B.
    expect(compareRow({ id: 'c', name: 'skip', graph: convChain(true) }).activationBytes).toBe(7168);
  });

  it('gives a graph with errors no numbers and says why', () => {
    const b = new GraphBuilder();
    const x = b.add('ImageInput', 'x', { channels: 4, height: 8, width: 8 });
    b.add('GroupNorm', 'norm', { groups: 3 }, { x });
    const row = compareRow({ id: 'c', name: 'bad', graph: b.build('bad') });
    expect(row.parameters).toBeNull();
    expect(row.activationBytes).toBeNull();
    expect(row.problem).toMatch(/GroupNorm "norm": 4 channels are not divisible by 3 groups/);
  });

  it('per block: parameters, FLOPs and output bytes', () => {
    const g = skipGraph();
    const costs = blockCosts(analyze(g));
    const by = (name: string) => costs.get(g.nodes.find((n) => n.name === name)!.id)!;
    expect(by('conv1')).toEqual({ parameters: 296, flops: 36864, outputBytes: 2048 });
    expect(by('silu')).toEqual({ parameters: 0, flops: 0, outputBytes: 2048 });
    expect(by('conv2')).toEqual({ parameters: 292, flops: 36864, outputBytes: 1024 });
    expect(by('output').outputBytes).toBe(0);
  });
});

const row = (over: Partial<CompareRow>): CompareRow => ({
  id: 'r',
  name: 'r',
  parameters: 1,
  gflops: 1,
  activationBytes: 1,
  outputShape: '3×32×32',
  ms: null,
  problem: null,
  ...over,
});

describe('sortRows', () => {
  const rows = [
    row({ id: 'a', name: 'ch96', parameters: 300, ms: 12 }),
    row({ id: 'b', name: 'ch128', parameters: 500, ms: null }),
    row({ id: 'c', name: 'ch64', parameters: 100, ms: 8 }),
    row({ id: 'd', name: 'broken', parameters: null, ms: 5 }),
  ];
  it('sorts numbers both ways with missing values last', () => {
    expect(sortRows(rows, 'parameters').map((r) => r.id)).toEqual(['c', 'a', 'b', 'd']);
    expect(sortRows(rows, 'parameters', 'desc').map((r) => r.id)).toEqual(['b', 'a', 'c', 'd']);
    expect(sortRows(rows, 'ms', 'desc').map((r) => r.id)).toEqual(['a', 'c', 'd', 'b']);
  });
  it('sorts names naturally (ch64 before ch96 before ch128) and leaves the input alone', () => {
    expect(sortRows(rows, 'name').map((r) => r.name)).toEqual(['broken', 'ch64', 'ch96', 'ch128']);
    expect(rows.map((r) => r.id)).toEqual(['a', 'b', 'c', 'd']);
  });
});

describe('export', () => {
  it('quotes CSV fields with commas, quotes and line breaks, and defuses formulas', () => {
    expect(csvField('plain')).toBe('plain');
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField('two\nlines')).toBe('"two\nlines"');
    expect(csvField('=HYPERLINK("x")')).toBe(`"'=HYPERLINK(""x"")"`);
    expect(csvField('-3')).toBe('-3');
    expect(csvField(' padded')).toBe('" padded"');
  });

  it('writes the CSV table with a header and one line per variant', () => {
    const rows = compareRows([
      { id: 'a', name: 'skip, "wide"', graph: skipGraph() },
      { id: 'b', name: 'chain', graph: convChain(false) },
    ], new Map([['b', 3.25]]));
    expect(toCsv(rows)).toBe(
      'variant,parameters,gflop_per_sample,activation_mib_batch1,output_shape,forward_ms,problem\r\n' +
        // 7168 B = 0.0068 MiB → "0.01"; 73728 FLOP = 0.000 GFLOP at three decimals.
        '"skip, ""wide""",588,0.000,0.01,4×8×8,,\r\n' +
        // conv chain: 4·8·9 + 8 + 2 · (8·8·9 + 8) = 296 + 2 · 584 = 1464 parameters; 5120 B; 8×8×8 out.
        'chain,1464,0.000,0.00,8×8×8,3.3,\r\n',
    );
  });

  it('escapes Markdown cells: pipes, backslashes, markup and line breaks', () => {
    expect(markdownCell('a|b')).toBe('a\\|b');
    expect(markdownCell('C:\\x')).toBe('C:\\\\x');
    expect(markdownCell('*bold* _it_ `code` [l](u) <b>')).toBe('\\*bold\\* \\_it\\_ \\`code\\` \\[l\\](u) \\<b\\>');
    expect(markdownCell('one\ntwo\r\nthree')).toBe('one<br>two<br>three');
  });

  it('writes the Markdown table', () => {
    const md = toMarkdown([row({ name: 'a|b\nc', parameters: 1234567, gflops: 2.5, activationBytes: 3 * 2 ** 20, outputShape: '6×32×32', ms: 41.26 })]);
    expect(md).toBe(
      '| Variant | Parameters | GFLOP / sample | Activations (MiB, batch 1) | Output shape | Forward ms | Problem |\n' +
        '| --- | ---: | ---: | ---: | --- | ---: | --- |\n' +
        '| a\\|b<br>c | 1,234,567 | 2.500 | 3.00 | 6×32×32 | 41.3 |  |\n',
    );
  });
});
