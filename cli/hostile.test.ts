/**
 * The CLI against careless and hostile input: any template kwargs (a property: never a crash, an
 * internal error, or exit 0 with an invalid graph), huge graphs, devices and FIFOs as inputs, and
 * outputs that name an input. In-process through `main` (fast); a few runs spawn the real CLI.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { MAX_BLOCKS, MAX_DOCUMENT_BYTES } from '../graph/limits';
import fc from 'fast-check';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, linkSync, mkdtempSync, readFileSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli, noStack } from './test-helpers';
import { analyze, countFlops } from '../graph/analyze';
import { parseDocument } from '../graph/document';
import { FIXTURES } from '../test/util';
import type { GraphEdge, GraphNode } from '../graph/model';
import { table } from './check';
import { writeSafetensorsFile } from '../runtime/safetensors-file';

const dir = mkdtempSync(join(tmpdir(), 'unet-cli-hostile-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const REPO = new URL('..', import.meta.url).pathname;


/** Runs `template` on `config`; checks the property every outcome must have; returns the result. */
async function templateProperty(kind: 'iddpm' | 'vanilla', config: unknown, imageSize?: string) {
  const cfg = join(dir, 'prop-config.json');
  const out = join(dir, 'prop-graph.json');
  writeFileSync(cfg, JSON.stringify(config));
  rmSync(out, { force: true });
  const r = await cli('template', kind, '--config', cfg, ...(imageSize !== undefined ? ['--image-size', imageSize] : []), '-o', out);
  expect([0, 1, 2], r.err).toContain(r.code);
  expect(r.err).not.toMatch(/internal error/);
  noStack(r.err);
  if (r.code === 0) {
    // Exit 0 only with a graph that check accepts.
    const a = analyze(parseDocument(readFileSync(out, 'utf8'), out).graph);
    expect(a.problems.filter((p) => p.severity === 'error').map((p) => p.message)).toEqual([]);
  } else {
    expect(r.err).toMatch(/^unet-studio: \S/);
    expect(existsSync(out)).toBe(false);
  }
  return r;
}

/** Mostly plausible values (so many configs build), sometimes anything at all. */
const junk = fc.oneof(
  fc.constantFrom(null, true, false, 'x', '', -1, 0, 0.5, 1e9, 1e100, -1e-300, [], {}, [1, 'a']),
  fc.integer({ min: -1e7, max: 1e7 }),
  fc.double({ noNaN: true }),
  fc.array(fc.integer({ min: -3, max: 70000 }), { maxLength: 40 }),
);
/** A plausible value 29 times in 30, junk otherwise. */
const often = <T,>(plausible: fc.Arbitrary<T>) => fc.oneof({ weight: 29, arbitrary: plausible }, { weight: 1, arbitrary: junk });
/** Usually in the usual range, sometimes anywhere up to past the limit. */
const ranged = (usual: fc.Arbitrary<number>, wide: fc.Arbitrary<number>) => often(fc.oneof({ weight: 9, arbitrary: usual }, { weight: 1, arbitrary: wide }));
const channels = ranged(fc.constantFrom(32, 64, 96, 128), fc.integer({ min: 1, max: 20000 }));
const mults = often(
  fc.oneof(
    { weight: 12, arbitrary: fc.array(fc.constantFrom(0.5, 1, 2, 3, 4), { minLength: 1, maxLength: 5 }) },
    { weight: 2, arbitrary: fc.array(fc.oneof(fc.integer({ min: 1, max: 100 }), fc.double({ min: 0.001, max: 80, noNaN: true })), { minLength: 0, maxLength: 20 }) },
    { weight: 1, arbitrary: fc.constant(Array.from({ length: 20000 }, () => 1)) },
  ),
);
const resolutions = often(fc.oneof({ weight: 9, arbitrary: fc.array(fc.constantFrom(1, 2, 4, 8, 16), { maxLength: 4 }) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 70000 }) }));
const imageSize = ranged(fc.constantFrom(8, 16, 32, 64), fc.integer({ min: -2, max: 20000 }));

/** Now and then a key is missing, or one nobody knows is added. */
const sometimesBroken = (k: Record<string, unknown>) =>
  fc.oneof(
    { weight: 18, arbitrary: fc.constant(k) },
    { weight: 1, arbitrary: junk.map((surprise) => ({ ...k, surprise })) },
    { weight: 1, arbitrary: fc.nat().map((i) => Object.fromEntries(Object.entries(k).filter((_, j) => j !== i % Math.max(1, Object.keys(k).length)))) },
  );

const iddpmKwargs = fc.record(
  {
    image_size: imageSize,
    in_channels: ranged(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: 5000 })),
    model_channels: channels,
    out_channels: ranged(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: 5000 })),
    num_res_blocks: ranged(fc.integer({ min: 0, max: 3 }), fc.oneof(fc.integer({ min: 0, max: 40 }), fc.constantFrom(1e5, 1e6))),
    attention_resolutions: resolutions,
    dropout: often(fc.double({ min: 0, max: 1, noNaN: true })),
    channel_mult: mults,
    num_classes: ranged(fc.constantFrom(10, 1000), fc.integer({ min: 1, max: 2e6 })),
    num_heads: ranged(fc.constantFrom(1, 2, 4), fc.integer({ min: 0, max: 2000 })),
    num_head_channels: ranged(fc.constantFrom(-1, 32), fc.integer({ min: -3, max: 5000 })),
    num_heads_upsample: ranged(fc.constantFrom(-1, 1, 4), fc.integer({ min: -3, max: 3000 })),
    use_scale_shift_norm: often(fc.boolean()),
    resblock_updown: often(fc.boolean()),
    use_new_attention_order: often(fc.boolean()),
    conv_resample: often(fc.boolean()),
    dims: ranged(fc.constant(2), fc.integer({ min: 1, max: 3 })),
  },
  { requiredKeys: ['image_size', 'in_channels', 'model_channels', 'out_channels', 'num_res_blocks', 'attention_resolutions'] },
).chain(sometimesBroken);

const vanillaKwargs = fc.record(
  {
    image_size: imageSize,
    n_channels: ranged(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: 5000 })),
    n_classes: ranged(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: 5000 })),
    widths: often(fc.array(fc.oneof({ weight: 9, arbitrary: fc.constantFrom(8, 16, 32, 64) }, { weight: 1, arbitrary: fc.integer({ min: -1, max: 20000 }) }), { maxLength: 20 })),
    bilinear: often(fc.constant(false)),
  },
  { requiredKeys: ['n_channels', 'n_classes'] },
).chain(sometimesBroken);

/** Wrapped like the fixtures' config.json sometimes, with or without --image-size. */
const wrap = <T,>(kwargs: fc.Arbitrary<T>) =>
  fc.record({
    kwargs,
    wrapped: fc.boolean(),
    outerSize: fc.oneof(fc.constant(undefined), imageSize),
    flag: fc.oneof({ weight: 6, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.constantFrom('16', '32', '30x26', '0', '99999', 'abc', '1e3', '4096x8') }),
  });

describe('template: any kwargs', () => {
  it('iddpm: never a crash, an internal error, or exit 0 with an invalid graph', async () => {
    let built = 0;
    await fc.assert(
      fc.asyncProperty(wrap(iddpmKwargs), async ({ kwargs, wrapped, outerSize, flag }) => {
        const config = wrapped ? { kwargs, ...(outerSize !== undefined ? { image_size: outerSize } : {}) } : kwargs;
        const r = await templateProperty('iddpm', config, flag);
        if (r.code === 0) built++;
      }),
      { numRuns: 250, seed: 8 },
    );
    // The property is worth something only if many configs are accepted, and many refused.
    expect(built).toBeGreaterThan(10);
    expect(built).toBeLessThan(240);
  });

  it('vanilla: the same', async () => {
    let built = 0;
    await fc.assert(
      fc.asyncProperty(wrap(vanillaKwargs), async ({ kwargs, wrapped, outerSize, flag }) => {
        const config = wrapped ? { kwargs, ...(outerSize !== undefined ? { image_size: outerSize } : {}) } : kwargs;
        if ((await templateProperty('vanilla', config, flag)).code === 0) built++;
      }),
      { numRuns: 150, seed: 8 },
    );
    expect(built).toBeGreaterThan(10);
  });

  const base = { in_channels: 3, model_channels: 64, out_channels: 3, num_res_blocks: 2, attention_resolutions: [2], channel_mult: [1, 2, 2] };
  it("the issue's cases: each refused with the key and the limit", async () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ num_res_blocks: 1_000_000 }, /num_res_blocks: must be at most 32/],
      [{ num_res_blocks: 100_000 }, /num_res_blocks: must be at most 32/],
      [{ channel_mult: Array.from({ length: 20_000 }, () => 1) }, /channel_mult: must have at most 16 entries/],
      [{ model_channels: 1e9 }, /model_channels: must be at most 16384/],
      [{ channel_mult: [1, 2, 1e6] }, /channel_mult\.2: must be at most 64/],
      [{ attention_resolutions: Array.from({ length: 100 }, () => 2) }, /attention_resolutions: must have at most 16 entries/],
      [{ num_classes: 1e7 }, /num_classes: must be at most 100000/],
      [{ model_channels: 'many' }, /model_channels: must be a number, got "many"/],
    ];
    for (const [extra, re] of cases) {
      const r = await templateProperty('iddpm', { ...base, ...extra, image_size: 32 });
      expect(r.code, JSON.stringify(extra).slice(0, 80)).toBe(1);
      expect(r.err).toMatch(/UNetModel kwargs are invalid:/);
      expect(r.err).toMatch(re);
    }
  });

  it('a graph that would not validate is not written: exit 1 with every problem', async () => {
    const r = await templateProperty('iddpm', { ...base, model_channels: 48, image_size: 32 });
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/these kwargs give a graph that is not valid \(nothing was written\)/);
    expect(r.err).toMatch(/error: ResBlock "input_blocks\.1\.0": 48 output channels are not divisible by 32 groups/);
    expect(r.err).toMatch(/fix: /);
    const odd = await templateProperty('iddpm', { ...base, image_size: 30, channel_mult: [1, 1, 1, 1, 1] });
    expect(odd.code).toBe(1);
    expect(odd.err).toMatch(/problems?:/);
    // The published 512×512 config still builds, far inside the limits.
    const published = JSON.parse(readFileSync(join(REPO, 'test/reference/published-configs.json'), 'utf8')) as { configs: { name: string; kwargs: unknown; image_size: number }[] };
    const c512 = published.configs.find((c) => c.name === 'guided-diffusion/512x512_diffusion')!;
    expect((await templateProperty('iddpm', { kwargs: c512.kwargs, image_size: c512.image_size })).code).toBe(0);
  });
});

/** A chain input → n SiLUs → output, as a document. */
function chain(n: number): { nodes: GraphNode[]; edges: GraphEdge[] } {
  const nodes: GraphNode[] = [{ id: 'x', name: 'x', type: 'ImageInput', params: { channels: 3, height: 4, width: 4 } }];
  const edges: GraphEdge[] = [];
  let prev = 'x';
  for (let i = 0; i < n; i++) {
    nodes.push({ id: `s${i}`, name: `act.${i}`, type: 'SiLU', params: {} });
    edges.push({ id: `e${i}`, from: { node: prev, port: 'out' }, to: { node: `s${i}`, port: 'x' } });
    prev = `s${i}`;
  }
  nodes.push({ id: 'o', name: 'output', type: 'Output', params: {} });
  edges.push({ id: 'eo', from: { node: prev, port: 'out' }, to: { node: 'o', port: 'x' } });
  return { nodes, edges };
}

describe('check on huge graphs', () => {
  it('the table of 200,000 rows is made with loops (Math.max(...rows) overflowed the stack from ~125k)', () => {
    const rows = [['name', 'block', 'output', 'params']];
    for (let i = 0; i < 200_000; i++) rows.push([`act.${i}`, 'SiLU', '3×4×4', String(i % 7)]);
    rows.push(['a'.repeat(500), 'x', 'y', '1']);
    const lines = table(rows);
    expect(lines).toHaveLength(200_004);
    expect(lines[0]).toBe(`name${' '.repeat(64 - 4)}  block  output  params`);
    expect(lines[1]).toBe('─'.repeat(64 + 2 + 5 + 2 + 6 + 2 + 6));
    expect(lines[200_000]).toBe(`act.199998${' '.repeat(64 - 10)}  SiLU   3×4×4        1`);
    // An overlong name overflows its column (capped at 64) instead of widening every line.
    expect(lines[200_002]).toBe(`${'a'.repeat(500)}  x      y            1`);
  });

  it('check on a 150,000-block document: refused with a message naming the limit (then one at the limit checks), never an overflow', async () => {
    const huge = join(dir, 'huge.json');
    writeFileSync(huge, JSON.stringify({ format: 'unet-studio-graph', version: 2, graph: { name: 'huge', ...chain(150_000) } }));
    const r = await cli('check', huge);
    noStack(r.err);
    expect(r.err).not.toMatch(/internal error|call stack/);
    // graph/limits.ts caps documents for the editor and the CLI alike.
    expect(r.err).toMatch(new RegExp(`^unet-studio: .*huge\\.json has 150,002 blocks; UNet Studio opens graphs of at most ${MAX_BLOCKS.toLocaleString('en-US')} blocks`));
    expect(r.code).toBe(1);
    const atLimit = join(dir, 'limit.json');
    writeFileSync(atLimit, JSON.stringify({ format: 'unet-studio-graph', version: 2, graph: { name: 'limit', ...chain(MAX_BLOCKS - 2) } }));
    const ok = await cli('check', atLimit);
    expect(ok.err).toBe('');
    expect(ok.code).toBe(0);
    expect(ok.out).toContain(`Blocks: ${MAX_BLOCKS}   Edges: ${MAX_BLOCKS - 1}`);
  });
  it('a graph file over the document limit is refused before it is read', async () => {
    const big = join(dir, 'big.json');
    writeFileSync(big, '');
    truncateSync(big, MAX_DOCUMENT_BYTES + 1); // sparse: nothing to read, so a read would show as time and memory
    const r = await cli('check', big);
    noStack(r.err);
    expect(r.code).not.toBe(0);
    expect(r.err).toMatch(/big\.json" is 64\.0 MiB; the limit is 64\.0 MiB/);
  });
});

describe('inputs that are not regular files', () => {
  const fifo = join(dir, 'fifo');
  const graph = join(dir, 'iddpm.json');
  const W = `${FIXTURES}iddpm-small/weights.safetensors`;
  const IO = `${FIXTURES}iddpm-small/io.safetensors`;

  it('/dev/zero, a FIFO and a folder as --inputs, --weights, the graph or --config: a clear message and exit 1', async () => {
    execFileSync('mkfifo', [fifo]);
    expect((await cli('template', 'iddpm', '--config', `${FIXTURES}iddpm-small/config.json`, '-o', graph)).code).toBe(0);
    const out = join(dir, 'o.safetensors');
    for (const bad of ['/dev/zero', fifo, dir]) {
      const kind = bad === '/dev/zero' ? 'a character device' : bad === fifo ? 'a FIFO \\(named pipe\\)' : 'a directory';
      const cases: [string[], string][] = [
        [['run', graph, '--weights', W, '--inputs', bad, '--out', out], 'safetensors file'],
        [['run', graph, '--weights', bad, '--inputs', IO, '--out', out], 'safetensors file'],
        [['check', bad], 'graph'],
        [['codegen', bad], 'graph'],
        [['template', 'iddpm', '--config', bad], 'config'],
      ];
      for (const [argv, what] of cases) {
        const r = await cli(...argv);
        expect(r.code, argv.join(' ')).toBe(1);
        expect(r.err).toMatch(new RegExp(`^unet-studio: cannot read ${what} "${bad.replace(/[/.]/g, '\\$&')}": it is ${kind}, not a regular file\\n$`));
        expect(existsSync(out)).toBe(false);
      }
    }
  });

  it('the real CLI returns at once on a FIFO (it never waits for a writer)', () => {
    // Without O_NONBLOCK the open itself would block until the 60 s timeout kills the process.
    const r = spawnSync('npx', ['unet-studio', 'run', graph, '--weights', fifo, '--inputs', IO, '--out', join(dir, 'o2.safetensors')], { cwd: REPO, encoding: 'utf8', timeout: 60_000 });
    expect(r.signal).toBeNull();
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/cannot read safetensors file ".*fifo": it is a FIFO \(named pipe\), not a regular file/);
  });
});

describe('an output that names an input is refused, the input untouched', () => {
  it('run --out, codegen -o, template -o: same path, a symlink or a hard link', async () => {
    const W = join(dir, 'w.safetensors');
    const IO = join(dir, 'io.safetensors');
    const cfg = join(dir, 'cfg.json');
    const graph = join(dir, 'g.json');
    copyFileSync(`${FIXTURES}iddpm-small/weights.safetensors`, W);
    copyFileSync(`${FIXTURES}iddpm-small/io.safetensors`, IO);
    copyFileSync(`${FIXTURES}iddpm-small/config.json`, cfg);
    expect((await cli('template', 'iddpm', '--config', cfg, '-o', graph)).code).toBe(0);
    const linkW = join(dir, 'w-link.safetensors');
    symlinkSync(W, linkW);
    const hardIO = join(dir, 'io-hard.safetensors');
    linkSync(IO, hardIO);
    const before = new Map([W, IO, cfg, graph].map((p) => [p, readFileSync(p)]));
    const cases: [string[], RegExp][] = [
      [['run', graph, '--weights', W, '--inputs', IO, '--out', W], /--out ".*w\.safetensors" is the same file as --weights ".*w\.safetensors"; writing it would destroy the input/],
      [['run', graph, '--weights', W, '--inputs', IO, '--out', linkW], /--out ".*w-link\.safetensors" is the same file as --weights/],
      [['run', graph, '--weights', W, '--inputs', IO, '--out', hardIO], /--out ".*io-hard\.safetensors" is the same file as --inputs ".*io\.safetensors"/],
      [['run', graph, '--weights', W, '--inputs', IO, '--out', `${dir}/./g.json`], /--out .* is the same file as the graph/],
      [['codegen', graph, '-o', graph], /-o ".*g\.json" is the same file as the graph ".*g\.json"/],
      [['template', 'iddpm', '--config', cfg, '-o', cfg], /-o ".*cfg\.json" is the same file as --config/],
    ];
    for (const [argv, re] of cases) {
      const r = await cli(...argv);
      expect(r.code, argv.join(' ')).toBe(2);
      expect(r.err).toMatch(re);
      expect(r.err).toMatch(/nothing was written/);
    }
    for (const [p, bytes] of before) expect(readFileSync(p).equals(bytes), p).toBe(true);
  });

  it('run refuses an output it could not write before computing anything', async () => {
    const r = await cli('run', join(dir, 'g.json'), '--weights', join(dir, 'w.safetensors'), '--inputs', join(dir, 'io.safetensors'), '--out', join(dir, 'no-such-folder', 'o.safetensors'));
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/cannot write ".*no-such-folder\/o\.safetensors": ENOENT/);
    const dev = await cli('run', join(dir, 'g.json'), '--weights', join(dir, 'w.safetensors'), '--inputs', join(dir, 'io.safetensors'), '--out', '/dev/null');
    expect(dev.code).toBe(1);
    expect(dev.err).toMatch(/cannot write "\/dev\/null": it is a character device, not a regular file/);
  });
});

describe('run: an estimate first, then progress', () => {
  it('prints the estimate before computing and a progress line per block with --progress-every 0', async () => {
    const graph = join(dir, 'est.json');
    expect((await cli('template', 'iddpm', '--config', `${FIXTURES}iddpm-small/config.json`, '-o', graph)).code).toBe(0);
    const out = join(dir, 'est-out.safetensors');
    const r = await cli('run', graph, '--weights', `${FIXTURES}iddpm-small/weights.safetensors`, '--inputs', `${FIXTURES}iddpm-small/io.safetensors`, '--out', out, '--progress-every', '0');
    expect(r.code, r.err).toBe(0);
    const lines = r.err.trimEnd().split('\n');
    // 756,163 parameters (the PyTorch count), batch 2 of the fixture: 2 × 0.133 GFLOP per sample.
    const flops = 2 * countFlops(analyze(parseDocument(readFileSync(graph, 'utf8')).graph));
    expect(lines[0]).toMatch(
      new RegExp(`^estimate: 756,163 parameters · weights 2\\.88 MiB · peak activations [\\d.]+ [KM]iB · ${(flops / 1e9).toFixed(2)} GFLOP · about [\\d.]+ m?s on cpu \\(measured [\\d.]+ GFLOP/s\\), batch 2$`),
    );
    const progress = lines.filter((l) => l.startsWith('progress: '));
    expect(progress).toHaveLength(26); // every block but the last (27 blocks)
    expect(progress[0]).toMatch(/^progress: block 1\/27 "x", 0\.0% of 0\.27 GFLOP, \d+ ms so far$/);
    expect(progress[25]).toMatch(/^progress: block 26\/27 "out\.2", 100\.0% of 0\.27 GFLOP, [\d.]+ m?s so far, about \d+ ms left$/);
    expect(lines.at(-1)).toMatch(/^out \[2, 3, 16, 16\] on cpu in [\d.]+ ms → /);
    expect(existsSync(out)).toBe(true);
  });

  it('refuses before loading weights a run the backend cannot hold (wasm: 4 GiB)', async () => {
    // 3 → 16384 channels at 256×256: the conv's output alone is 4 GiB, past WASM's heap.
    const g = join(dir, 'wide.json');
    const nodes = [
      { id: 'x', name: 'x', type: 'ImageInput', params: { channels: 3, height: 256, width: 256 } },
      { id: 'c', name: 'conv', type: 'Conv2d', params: { out_channels: 16384, kernel_size: 3, stride: 1, padding: 1, bias: true } },
      { id: 'o', name: 'output', type: 'Output', params: {} },
    ];
    const edges = [
      { id: 'e1', from: { node: 'x', port: 'out' }, to: { node: 'c', port: 'x' } },
      { id: 'e2', from: { node: 'c', port: 'out' }, to: { node: 'o', port: 'x' } },
    ];
    writeFileSync(g, JSON.stringify({ format: 'unet-studio-graph', version: 2, graph: { name: 'wide', nodes, edges } }));
    const W = join(dir, 'wide-w.safetensors');
    writeSafetensorsFile(W, { 'conv.weight': { dtype: 'F32', shape: [16384, 3, 3, 3], data: new Float32Array(16384 * 27) }, 'conv.bias': { dtype: 'F32', shape: [16384], data: new Float32Array(16384) } });
    const IO = join(dir, 'wide-io.safetensors');
    writeSafetensorsFile(IO, { x: { dtype: 'F32', shape: [1, 3, 256, 256], data: new Float32Array(3 * 256 * 256) } });
    const out = join(dir, 'wide-out.safetensors');
    const r = await cli('run', g, '--weights', W, '--inputs', IO, '--backend', 'wasm', '--out', out);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^estimate: 458,752 parameters · weights 1\.75 MiB · peak activations 4\.\d+ GiB · [\d.]+ GFLOP · about .* on wasm/);
    expect(r.err).toMatch(/unet-studio: this run cannot be done on wasm:\n {2}weights \(1\.75 MiB\) and activations \(4\.\d+ GiB\) need 4\.\d+ GiB, more than wasm can hold here \(4\.00 GiB\)/);
    expect(r.err).not.toMatch(/progress:/);
    expect(existsSync(out)).toBe(false);
  });
});
