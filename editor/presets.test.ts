/**
 * The trained models of the New… dialog (editor/presets): the files served for each (a graph
 * document and an F16 `.safetensors` whose names and shapes are the graph's), the loader that
 * fetches and checks them, and the run panel's controller taking the weights with the model's
 * sampling settings (in Node, tfjs-cpu, the module generated in-process).
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { useBackend } from '../runtime/backend-node';
import { fingerprint, RuntimeSession } from '../runtime/session';
import { generateModule } from '../codegen/targets/tfjs/generate';
import { readSources } from '../codegen/targets/tfjs/sources-node';
import { transpile } from '../runtime/evaluate';
import { analyze, countParameters } from '../graph/analyze';
import { parseDocument } from '../graph/document';
import { expectedWeights } from '../graph/weights';
import { iddpm } from '../graph/templates';
import type { Graph } from '../graph/model';
import { parseSafetensorsHeader } from '../weights/safetensors';
import { IDDPM_SMALL } from '../bench/configs';
import { FIXTURES } from '../test/util';
import { EMPTY_CODE, type CodeState } from './codegenClient';
import { RunController, type CodeSource, type RunState } from './runController';
import { TRAINED_PRESETS } from './presets';
import { loadTrainedPreset, type FetchBytes } from './presets/load';

const DIR = join(import.meta.dirname, 'presets', 'digits');
const GRAPH_BYTES = new Uint8Array(readFileSync(join(DIR, 'graph.json')));
const WEIGHTS = new Uint8Array(readFileSync(join(DIR, 'weights.safetensors')));
const DIGITS = TRAINED_PRESETS.find((p) => p.id === 'digits')!;
const GRAPH: Graph = parseDocument(new TextDecoder().decode(GRAPH_BYTES)).graph;

/** The served files, by the URLs the preset names (what `fetch` gets in the browser). */
const served = (files: Record<string, Uint8Array>): FetchBytes => async (url) => {
  const f = files[url];
  if (!f) throw new Error('HTTP 404 Not Found');
  return f;
};

describe('the Digits (trained) files', () => {
  it('is listed with the model’s sampling settings and both files as served URLs', () => {
    expect(DIGITS).toMatchObject({ label: 'Digits (trained)', weightsName: 'digits (trained)', sampling: { schedule: 'linear', trainSteps: 1000, steps: 100 } });
    expect(DIGITS.graphUrl).toMatch(/graph\.json/);
    expect(DIGITS.weightsUrl).toMatch(/weights\.safetensors/);
    expect(new Set(TRAINED_PRESETS.map((p) => p.id)).size).toBe(TRAINED_PRESETS.length);
  });

  it('the graph: a valid iDDPM UNet, 1×16×16 in, 10 classes, 756,289 parameters', () => {
    const a = analyze(GRAPH);
    expect(a.problems.filter((p) => p.severity === 'error')).toEqual([]);
    const infos = [...a.info.values()];
    expect(infos.find((i) => i.def.io === 'x')!.out!.dims).toEqual([1, 16, 16]);
    expect(infos.find((i) => i.def.io === 'y')!.out!.numClasses).toBe(10);
    expect(countParameters(a)).toBe(756_289);
  });

  it('the weights: F16, exactly the graph’s expected names and shapes', () => {
    const header = parseSafetensorsHeader(WEIGHTS.length, (o, n) => WEIGHTS.subarray(o, o + n));
    const expected = expectedWeights(analyze(GRAPH));
    expect(header.entries.map((e) => e.dtype).filter((d) => d !== 'F16')).toEqual([]);
    const got = new Map(header.entries.map((e) => [e.name, e.shape]));
    expect([...got.keys()].sort()).toEqual(expected.map((w) => w.fullKey).sort());
    for (const w of expected) expect(got.get(w.fullKey), w.fullKey).toEqual(w.shape);
    // 2 bytes a value, every value stored once, after the header.
    expect(WEIGHTS.length - header.dataStart).toBe(2 * 756_289);
  });
});

describe('loadTrainedPreset', () => {
  it('fetches both files and returns the document and the weights’ bytes', async () => {
    const got = await loadTrainedPreset(DIGITS, served({ [DIGITS.graphUrl]: GRAPH_BYTES, [DIGITS.weightsUrl]: WEIGHTS }));
    expect(got.preset).toBe(DIGITS);
    expect(got.weights).toBe(WEIGHTS);
    expect(got.doc.graph.nodes.map((n) => n.name)).toEqual(GRAPH.nodes.map((n) => n.name));
    expect(got.doc.graph.name).toBe('iddpm-32ch-16x16');
  });

  it('refuses weights that do not fit the graph, naming the keys; a file that cannot be fetched is named', async () => {
    const other = new Uint8Array(readFileSync(`${FIXTURES}iddpm-small/weights.safetensors`));
    await expect(loadTrainedPreset(DIGITS, served({ [DIGITS.graphUrl]: GRAPH_BYTES, [DIGITS.weightsUrl]: other }))).rejects.toThrow(
      /Digits \(trained\) weights does not match the graph:[\s\S]*missing keys \(\d+\):\n {4}label_emb\.weight/,
    );
    await expect(loadTrainedPreset(DIGITS, served({ [DIGITS.graphUrl]: GRAPH_BYTES }))).rejects.toThrow(
      'Digits (trained): could not load its weights (weights.safetensors): HTTP 404 Not Found',
    );
    await expect(loadTrainedPreset(DIGITS, served({ [DIGITS.graphUrl]: new TextEncoder().encode('{"format":"nope"}'), [DIGITS.weightsUrl]: WEIGHTS }))).rejects.toThrow(
      /Digits \(trained\) graph/,
    );
  });
});

describe('the run panel takes a document’s weights', () => {
  const modules = new Map<Graph, CodeState>();
  const inProcessCode = (onChange: (s: CodeState) => void): CodeSource => {
    let latest = 0;
    return {
      request(graph: Graph) {
        const id = ++latest;
        onChange({ ...EMPTY_CODE, status: 'generating' });
        setTimeout(() => {
          if (id !== latest) return;
          let code = modules.get(graph);
          if (!code) {
            const mod = generateModule(graph, readSources());
            code = { ...EMPTY_CODE, status: 'ok', text: mod.text, js: transpile(mod.text), className: mod.className, inputs: mod.inputs };
            modules.set(graph, code);
          }
          onChange(code);
        }, 0);
      },
      dispose() {},
    };
  };
  const until = (c: RunController, pred: (s: RunState) => boolean, what: string): Promise<RunState> =>
    new Promise((resolve, reject) => {
      let off = () => {};
      const timer = setTimeout(() => (off(), reject(new Error(`timed out waiting for ${what}`))), 30_000);
      const check = () => {
        if (!pred(c.getState())) return;
        off();
        clearTimeout(timer);
        resolve(c.getState());
      };
      off = c.subscribe(check);
      check();
    });
  let c: RunController | null = null;
  beforeAll(async () => {
    await useBackend('cpu');
  });
  afterEach(() => {
    c?.dispose();
    c = null;
  });

  it('opened while the panel still has the previous graph: named once the new module is loaded, with the model’s settings; Sample uses them', async () => {
    const before = iddpm(IDDPM_SMALL, 8);
    c = new RunController(
      {
        chooseBackend: async () => {
          await useBackend('cpu');
          return { backend: 'cpu', notice: '' };
        },
        backends: ['cpu'],
        makeCode: inProcessCode,
        memoryBytes: () => 8 * 2 ** 30,
        measureRate: async () => 1000,
        codeDelayMs: 0,
        liveDelayMs: 0,
        breathe: async () => {},
      },
      before,
    );
    const ctl = c;
    await ctl.start('cpu');
    await until(ctl, (s) => s.moduleCurrent && s.rate !== null, 'the first module');
    expect(ctl.getState()).toMatchObject({ weightsLabel: 'random (seed 0)', weightsFromFile: false });

    // What App does on New… → Digits (trained): the new graph, then its weights, before its module exists.
    ctl.setGraph(GRAPH);
    await ctl.openDocumentWeights({ name: DIGITS.weightsName, bytes: WEIGHTS, sampling: DIGITS.sampling });
    const s = await until(ctl, (x) => x.moduleCurrent && x.code.className !== '' && modules.has(GRAPH) && x.mismatch === null, 'the digits module');
    expect(s).toMatchObject({ weightsLabel: 'digits (trained)', weightsFromFile: true, mismatch: null, schedule: 'linear', trainSteps: 1000, steps: 100, label: DIGITS.sampling.label, numClasses: 10 });

    // Undo back to the old graph: the file does not fit it; redo: it is used again.
    ctl.setGraph(before);
    const off = await until(ctl, (x) => x.mismatch !== null, 'the mismatch');
    expect(off.weightsLabel).toBe('random (seed 0): digits (trained) does not fit');
    ctl.setGraph(GRAPH);
    await until(ctl, (x) => x.mismatch === null && x.moduleCurrent, 'the digits module again');
    expect(ctl.getState().weightsLabel).toBe('digits (trained)');

    // Sample (3 steps of the model’s linear 1000-step schedule, its class label) = the session’s own sampler with those settings.
    ctl.setSteps(3);
    await ctl.sample();
    const got = ctl.getState();
    expect(got.failure).toBeNull();
    expect(got.image).toMatchObject({ width: 16, height: 16 });
    const direct = new RuntimeSession();
    direct.setWeights({ kind: 'file', name: 'w', bytes: WEIGHTS });
    const code = modules.get(GRAPH)!;
    direct.setModule(GRAPH, code.js, code.className, code.inputs);
    const want = await direct.sample({ schedule: 'linear', trainSteps: 1000, steps: 3, seed: 0, label: DIGITS.sampling.label, batch: 1, learnedSigma: false });
    expect(got.checksum).toBe(fingerprint((await want!.data()) as Float32Array));
    // (Not compared with another label: the test must hold for any weights, and PyTorch-default ones ignore the label.)
    want!.dispose();
    direct.dispose();
  });
});
