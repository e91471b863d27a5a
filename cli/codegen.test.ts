/** `codegen`, `export <target>` and `run --via codegen` through the CLI (moved from codegen/codegen.test.ts: codegen/ imports no cli/). */
import { describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli, noStack } from './test-helpers';
import { quoted } from './common';
import { exportTarget } from './codegen';
import { TARGETS, type ExportDiagnostic, type ExportFile, type ExportTarget } from '../codegen/targets';
import { REPO_ROOT } from '../codegen/targets/tfjs/sources-node';
import { GOLDEN } from '../test/golden/graphs';
import { GraphBuilder } from '../graph/builder';
import { parseDocument, serializeDocument } from '../graph/document';
import { pytorchTarget } from '../codegen/targets/pytorch';
import { parseSafetensors, parseSafetensorsHeader, toFloat32, writeSafetensors, type TensorToWrite } from '../weights/safetensors';
import { closeness, FIXTURES, REFERENCE } from '../test/util';

describe('CLI', () => {
  const dir = mkdtempSync(join(tmpdir(), 'unet-codegen-'));

  it('codegen writes the type-checked module; run --via codegen matches PyTorch on wasm', async () => {
    const g = join(dir, 'g.json');
    expect((await cli('template', 'iddpm', '--config', `${FIXTURES}iddpm-small/config.json`, '-o', g)).code).toBe(0);
    const c = await cli('codegen', g, '-o', join(dir, 'model.ts'));
    expect(c.code, c.err).toBe(0);
    expect(c.err).toMatch(/class Iddpm32ch16x16, \d+ lines, type-checked \(strict\)/);
    expect(readFileSync(join(dir, 'model.ts'), 'utf8')).toContain('export class Iddpm32ch16x16 {');
    const outFile = join(dir, 'out.safetensors');
    const r = await cli('run', g, '--via', 'codegen', '--backend', 'wasm', '--weights', `${FIXTURES}iddpm-small/weights.safetensors`, '--inputs', `${FIXTURES}iddpm-small/io.safetensors`, '--out', outFile);
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(/via the generated Iddpm32ch16x16/);
    const got = toFloat32(parseSafetensors(new Uint8Array(readFileSync(outFile))).tensors.get('out')!);
    const ref = toFloat32(parseSafetensors(new Uint8Array(readFileSync(`${FIXTURES}iddpm-small/io.safetensors`))).tensors.get('out')!);
    expect(closeness(got, ref, 1e-4, 1e-4).ok).toBe(true);
  });
});

describe('codegen --target and export <target>', () => {
  const dir = mkdtempSync(join(tmpdir(), 'unet-export-'));
  const g = join(dir, 'vanilla.json');
  writeFileSync(g, serializeDocument(GOLDEN['vanilla-small']()));
  const golden = readFileSync(`${REPO_ROOT}test/golden/vanilla-small.ts`, 'utf8');

  it('export tfjs writes the file codegen writes, byte for byte (the golden module); -o - and no -o print it', async () => {
    const a = await cli('codegen', g, '-o', join(dir, 'a.ts'));
    expect(a.code, a.err).toBe(0);
    expect(a.err).toBe(`wrote ${join(dir, 'a.ts')}: class VanillaSmall, ${golden.split('\n').length} lines, type-checked (strict)\n`);
    const b = await cli('export', 'tfjs', g, '-o', join(dir, 'b.ts'));
    expect(b.code, b.err).toBe(0);
    expect(b.err).toBe(`wrote ${join(dir, 'b.ts')}: class VanillaSmall, ${golden.split('\n').length} lines, type-checked (strict)\n`);
    expect(readFileSync(join(dir, 'a.ts'), 'utf8')).toBe(golden);
    expect(readFileSync(join(dir, 'b.ts'), 'utf8')).toBe(golden);
    const c = await cli('codegen', '--target', 'tfjs', g, '-o', join(dir, 'c.ts'), '--no-check');
    expect(c.code, c.err).toBe(0);
    expect(c.err).toMatch(/class VanillaSmall, \d+ lines, not checked \(--no-check\)\n$/);
    expect(readFileSync(join(dir, 'c.ts'), 'utf8')).toBe(golden);
    const stdout = await cli('export', 'tfjs', g, '-o', '-');
    expect(stdout.code).toBe(0);
    expect(stdout.out).toBe(golden);
    expect(stdout.err).toBe('');
    expect((await cli('codegen', g)).out).toBe(golden);
  });

  it('an unknown target is a usage error listing the known ids; nothing is written', async () => {
    for (const argv of [
      ['export', 'coreml', g, '-o', join(dir, 'x.onnx')],
      ['codegen', '--target', 'coreml', g, '-o', join(dir, 'x.onnx')],
    ]) {
      const r = await cli(...argv);
      expect(r.code, argv.join(' ')).toBe(2);
      expect(r.err).toMatch(/unknown export target "coreml"; the targets are "tfjs"/);
      noStack(r.err);
    }
    expect(existsSync(join(dir, 'x.onnx'))).toBe(false);
    const none = await cli('export');
    expect(none.code).toBe(2);
    expect(none.err).toContain(`export: say which target: ${quoted(TARGETS.map((t) => t.id))}, then the graph.json`);
    const noOut = await cli('export', 'tfjs', g);
    expect(noOut.code).toBe(2);
    expect(noOut.err).toMatch(/export tfjs: -o PATH is required/);
  });

  it('an invalid graph lists its problems and writes nothing', async () => {
    const b = new GraphBuilder();
    const x = b.add('ImageInput', 'x', { channels: 48, height: 8, width: 8 });
    b.add('Output', 'output', {}, { x: b.add('GroupNorm', 'norm', {}, { x }) });
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, serializeDocument(b.build('bad')));
    const r = await cli('export', 'tfjs', bad, '-o', join(dir, 'bad.ts'));
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/graph "bad" is not valid, so no module was generated:\n {2}GroupNorm "norm": 48 channels are not divisible by 32 groups/);
    expect(existsSync(join(dir, 'bad.ts'))).toBe(false);
  });

  it('export pytorch writes the project folder (model.py, train.py, sample.py, README.md) as the target generates it; an invalid graph writes nothing', async () => {
    const g = join(dir, 'iddpm.json');
    expect((await cli('template', 'iddpm', '--config', `${FIXTURES}iddpm-small/config.json`, '-o', g)).code).toBe(0);
    const out = join(dir, 'proj');
    const r = await cli('export', 'pytorch', g, '-o', out);
    expect(r.code, r.err).toBe(0);
    const graph = parseDocument(readFileSync(g, 'utf8')).graph;
    const want = await pytorchTarget.generate(graph, { platform: 'node', tfjs: () => Promise.reject(new Error('not needed')) });
    expect(readdirSync(out).sort()).toEqual(['README.md', 'model.py', 'sample.py', 'train.py']);
    for (const f of want.files) expect(readFileSync(join(out, f.path), 'utf8')).toBe(f.text);
    expect(readFileSync(join(out, 'model.py'), 'utf8')).toContain('PARAMETER_COUNT: int = 756163');
    const b = new GraphBuilder();
    const x = b.add('ImageInput', 'x', { channels: 48, height: 8, width: 8 });
    b.add('Output', 'output', {}, { x: b.add('GroupNorm', 'norm', {}, { x }) });
    const bad = join(dir, 'bad-py.json');
    writeFileSync(bad, serializeDocument(b.build('bad')));
    const e = await cli('export', 'pytorch', bad, '-o', join(dir, 'bad-proj'));
    expect(e.code).toBe(1);
    expect(e.err).toContain('GroupNorm "norm": 48 channels are not divisible by 32 groups');
    noStack(e.err);
    expect(existsSync(join(dir, 'bad-proj'))).toBe(false);
  });

  it('the usage lists every target of the registry', async () => {
    const help = await cli('help');
    expect(help.code).toBe(0);
    expect(help.out).toContain('  export ID graph.json -o PATH ');
    expect(help.out).toContain('  codegen graph.json [--target ID] [-o model.ts] ');
    expect(help.out).toMatch(/\nexport targets \(codegen --target ID, export ID; default tfjs\):\n/);
    const width = Math.max(...TARGETS.map((t) => t.id.length));
    for (const t of TARGETS) expect(help.out).toContain(`\n  ${t.id.padEnd(width)}  ${t.label}: ${t.description}\n`);
  });

  // A stand-in for a target that writes a folder (the PyTorch project): how the CLI writes several files.
  const folderTarget = (files: ExportFile[], problems: ExportDiagnostic[] = []): ExportTarget => ({
    id: 'folder',
    label: 'Folder',
    description: 'several files',
    language: 'python',
    checkWords: { checking: 'checking…', passed: 'checked', passedDetail: 'compiled', problem: 'problem' },
    generate: () => ({ files, main: files[0].path, className: 'Net', inputs: ['x'] }),
    check: () => problems,
  });
  const project = [
    { path: 'model.py', text: '# model\n' },
    { path: 'train.py', text: '# train\n' },
    { path: 'docs/README.md', text: '# readme\n' },
  ];
  const captured = () => {
    const io = { out: '', err: '', io: { out: (s: string) => void (io.out += s), err: (s: string) => void (io.err += s) } };
    return io;
  };

  it('a multi-file target writes its files under the -o folder (made if missing), other files there stay', async () => {
    const out = join(dir, 'project', 'v1');
    const c = captured();
    expect(await exportTarget(folderTarget(project), g, out, true, c.io)).toBe(0);
    expect(c.err).toBe(`wrote ${out}: model.py, train.py, docs/README.md (class Net), compiled\n`);
    expect(readFileSync(join(out, 'model.py'), 'utf8')).toBe('# model\n');
    expect(readFileSync(join(out, 'train.py'), 'utf8')).toBe('# train\n');
    expect(readFileSync(join(out, 'docs', 'README.md'), 'utf8')).toBe('# readme\n');
    writeFileSync(join(out, 'mine.txt'), 'keep');
    const again = [{ path: 'model.py', text: '# model 2\n' }, ...project.slice(1)];
    expect(await exportTarget(folderTarget(again), g, out, true, captured().io)).toBe(0);
    expect(readFileSync(join(out, 'model.py'), 'utf8')).toBe('# model 2\n');
    expect(readFileSync(join(out, 'mine.txt'), 'utf8')).toBe('keep');
  });

  it('a multi-file target refuses stdout, a file as its folder, unsafe paths and failed checks, writing nothing', async () => {
    await expect(exportTarget(folderTarget(project), g, undefined, true, captured().io)).rejects.toThrow(/folder writes 3 files \(model\.py, train\.py, docs\/README\.md\): give -o FOLDER/);
    await expect(exportTarget(folderTarget(project), g, '-', true, captured().io)).rejects.toThrow(/give -o FOLDER/);
    const file = join(dir, 'plain-file');
    writeFileSync(file, 'x');
    await expect(exportTarget(folderTarget(project), g, file, true, captured().io)).rejects.toThrow(/cannot make the folder .*plain-file.*EEXIST/);
    const escape = join(dir, 'escape');
    await expect(exportTarget(folderTarget([{ path: '../evil.py', text: '' }, ...project]), g, escape, true, captured().io)).rejects.toThrow(
      /file path "..\/evil.py" is not a plain relative path/,
    );
    expect(existsSync(join(dir, 'evil.py')) || existsSync(escape)).toBe(false);
    const failing = join(dir, 'failing');
    const c = captured();
    const problems: ExportDiagnostic[] = [
      { file: 'train.py', line: 3, message: 'undefined name "x"', severity: 'error' },
      { file: 'model.py', line: 0, message: 'unused import', severity: 'warning' },
    ];
    expect(await exportTarget(folderTarget(project, problems), g, failing, true, c.io)).toBe(1);
    expect(c.err).toBe('unet-studio: the generated files have 1 problem(s) (a bug in UNet Studio; please report it):\n  train.py line 3: undefined name "x"\n');
    expect(existsSync(failing)).toBe(false);
    const w = captured();
    expect(await exportTarget(folderTarget(project, problems.slice(1)), g, failing, true, w.io)).toBe(0);
    expect(w.err).toMatch(/^unet-studio: warning: model\.py line 0: unused import\nwrote /);
  });
});

describe('export diffusers', () => {
  const dir = mkdtempSync(join(tmpdir(), 'unet-diffusers-'));
  const caseOf = (name: string) => JSON.parse(readFileSync(`${REFERENCE}diffusers/${name}.json`, 'utf8')) as { config_json: string };
  /** A case's file without its io.* tensors: the checkpoint as the Hub would have it. */
  const weightsOf = (name: string): string => {
    const path = join(dir, `${name}.weights.safetensors`);
    if (existsSync(path)) return path;
    const all = parseSafetensors(new Uint8Array(readFileSync(`${REFERENCE}diffusers/${name}.safetensors`)));
    const t: Record<string, TensorToWrite> = {};
    for (const [k, v] of all.tensors) if (!k.startsWith('io.')) t[k] = { dtype: v.dtype as 'F32', shape: v.shape, data: v.data };
    writeFileSync(path, writeSafetensors(t));
    return path;
  };
  const raw = (path: string): Map<string, string> => {
    const b = new Uint8Array(readFileSync(path));
    const h = parseSafetensorsHeader(b.length, (o, l) => b.subarray(o, o + l));
    return new Map(h.entries.map((e) => [e.name, `${e.dtype} ${e.shape.join('x')} ${Buffer.from(b.subarray(h.dataStart + e.begin, h.dataStart + e.end)).toString('base64')}`]));
  };
  const graphOf = async (name: string): Promise<string> => {
    const cfg = join(dir, `${name}.config.json`);
    writeFileSync(cfg, caseOf(name).config_json);
    const g = join(dir, `${name}.graph.json`);
    const r = await cli('template', 'diffusers', '--config', cfg, '-o', g);
    expect(r.code, r.err).toBe(0);
    return g;
  };

  it('template diffusers → export diffusers --weights: the Hub folder, config.json and every tensor byte for byte', async () => {
    const g = await graphOf('df-openai');
    const out = join(dir, 'openai-out');
    const r = await cli('export', 'diffusers', g, '--weights', weightsOf('df-openai'), '-o', out);
    expect(r.code, r.err).toBe(0);
    expect(r.err).toBe(`wrote ${out}: config.json, diffusion_pytorch_model.safetensors (class UNet2DModel), checked (config.json reads back as the graph)\n`);
    expect(readFileSync(join(out, 'config.json'), 'utf8')).toBe(caseOf('df-openai').config_json);
    expect(raw(join(out, 'diffusion_pytorch_model.safetensors'))).toEqual(raw(weightsOf('df-openai')));
  });

  it('legacy attention names are accepted and written under today\'s', async () => {
    const g = await graphOf('df-ddpm');
    const out = join(dir, 'legacy-out');
    const r = await cli('export', 'diffusers', g, '--weights', weightsOf('df-ddpm-legacy-names'), '-o', out);
    expect(r.code, r.err).toBe(0);
    const got = raw(join(out, 'diffusion_pytorch_model.safetensors'));
    expect(got).toEqual(raw(weightsOf('df-ddpm')));
    expect([...got.keys()].filter((k) => /\.(query|key|value|proj_attn)\./.test(k))).toEqual([]);
  });

  it('without --weights: config.json only, and stderr says so; -o - is refused (it is a folder)', async () => {
    const g = await graphOf('df-nomid');
    const out = join(dir, 'nomid-out');
    const r = await cli('export', 'diffusers', g, '-o', out);
    expect(r.code, r.err).toBe(0);
    expect(r.err).toBe(
      `wrote ${out}: config.json (class UNet2DModel), checked (config.json reads back as the graph)\nnote: wrote config.json only (no diffusion_pytorch_model.safetensors: give --weights W.safetensors for it)\n`,
    );
    expect(readFileSync(join(out, 'config.json'), 'utf8')).toBe(caseOf('df-nomid').config_json);
    expect(existsSync(join(out, 'diffusion_pytorch_model.safetensors'))).toBe(false);
    const stdout = await cli('export', 'diffusers', g, '-o', '-');
    expect(stdout.code).toBe(2);
    expect(stdout.err).toMatch(/diffusers writes a folder \(config\.json\): give -o FOLDER \(nothing was written\)/);
  });

  it('weights that do not fit, --weights for a target without weights, a graph diffusers cannot express: clear errors, nothing written', async () => {
    const g = await graphOf('df-ddpm');
    const out = join(dir, 'bad-out');
    const wrong = weightsOf('df-openai');
    const r = await cli('export', 'diffusers', g, '--weights', wrong, '-o', out);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`${wrong} does not match the graph:`);
    expect(r.err).toMatch(/unexpected keys \(\d+\):\n {4}class_embedding\.weight/);
    noStack(r.err);
    const t = await cli('export', 'tfjs', g, '--weights', wrong, '-o', join(dir, 'x.ts'));
    expect(t.code).toBe(2);
    expect(t.err).toMatch(/export tfjs: --weights is only for a target that writes weights \("diffusers" or "onnx"\); tfjs does not/);
    const vanilla = join(dir, 'vanilla.json');
    writeFileSync(vanilla, serializeDocument(GOLDEN['vanilla-small']()));
    const v = await cli('export', 'diffusers', vanilla, '-o', out);
    expect(v.code).toBe(1);
    expect(v.err).toMatch(/the graph has no node "conv_in", which every UNet2DModel has/);
    noStack(v.err);
    expect(existsSync(out) || existsSync(join(dir, 'x.ts'))).toBe(false);
  });
});
