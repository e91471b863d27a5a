/**
 * The runtime panel: runs the generated module (the same text "Download .ts" gives) in the page
 * on WebGPU, WebGL, WASM or CPU. The logic lives in runtime/ (RuntimeSession, chooseBackend,
 * diffusion); this file is only the view.
 */
import { useCallback, useEffect, useMemo, useRef, useState, type DragEvent } from 'react';
import * as tf from '@tensorflow/tfjs';
import type { Graph } from '../graph/model';
import { analyze } from '../graph/analyze';
import { BROWSER_BACKENDS, chooseBackend, type BackendChoice, type BrowserBackend } from '../runtime/backend-browser';
import { fingerprint, RuntimeSession, type RunInputs, type TensorStats } from '../runtime/session';
import { readInputsFile, type InputsFile } from '../runtime/inputs';
import { estimateCost, type BackendLimits } from '../graph/estimate';
import { backendLimits, browserMemoryBytes, measureRate } from '../runtime/rate';
import { gateRun, type RunGate } from '../runtime/gate';
import { classifyFailure, type Failure } from '../runtime/failure';
import { parseSafetensors, writeSafetensors } from '../weights/safetensors';
import type { ScheduleName } from '../runtime/diffusion';
import { CodegenClient, EMPTY_CODE, type CodeState } from './codegenClient';

const fmt = (v: number) => (Math.abs(v) >= 100 || v === 0 ? v.toFixed(1) : v.toPrecision(3));

/** Draws `[H, W, C]` values: C = 1 or 3 as an image ([-1, 1] → [0, 255]), else the first 3 channels. Disposes `t`. */
async function drawImage(canvas: HTMLCanvasElement, t: tf.Tensor3D): Promise<void> {
  const img = tf.tidy(() => {
    const c = t.shape[2];
    const rgb = c === 1 || c === 3 ? t : c > 3 ? tf.slice(t, [0, 0, 0], [-1, -1, 3]) : tf.slice(t, [0, 0, 0], [-1, -1, 1]);
    return tf.clipByValue(tf.div(tf.add(rgb, 1), 2), 0, 1) as tf.Tensor3D;
  });
  await tf.browser.toPixels(img, canvas);
  tf.dispose([img, t]);
}

/** A tensor's values on the host, `[H, W, C]`. */
interface HostMap {
  readonly data: Float32Array;
  readonly h: number;
  readonly w: number;
  readonly c: number;
}

/** The first sample of an NHWC tensor (or a vector as a 1×N map), read back asynchronously. */
async function hostMap(t: tf.Tensor): Promise<HostMap> {
  const first = tf.tidy(() => (t.rank === 4 ? tf.squeeze(tf.slice(t, [0, 0, 0, 0], [1, -1, -1, -1]), [0]) : tf.reshape(tf.slice(t, [0, 0], [1, -1]), [1, -1, 1])));
  const data = (await first.data()) as Float32Array;
  const [h, w, c] = first.shape as [number, number, number];
  first.dispose();
  return { data, h, w, c };
}

/** One small heat map per channel (each scaled to its own range), with the range under it. */
function ChannelGrid({ map, label }: { map: HostMap | null; label: string }) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const host = ref.current;
    if (!host) return;
    host.replaceChildren();
    if (!map) return;
    const { h, w, c, data } = map;
    for (let ch = 0; ch < Math.min(c, 32); ch++) {
      let lo = Infinity;
      let hi = -Infinity;
      for (let i = ch; i < data.length; i += c) {
        lo = Math.min(lo, data[i]);
        hi = Math.max(hi, data[i]);
      }
      const cv = document.createElement('canvas');
      cv.width = w;
      cv.height = h;
      const ctx = cv.getContext('2d')!;
      const im = ctx.createImageData(w, h);
      for (let p = 0; p < h * w; p++) {
        const v = hi > lo ? (data[p * c + ch] - lo) / (hi - lo) : 0.5;
        // a blue → yellow ramp
        im.data[4 * p] = Math.round(255 * Math.min(1, 2 * v));
        im.data[4 * p + 1] = Math.round(255 * v);
        im.data[4 * p + 2] = Math.round(255 * (1 - v));
        im.data[4 * p + 3] = 255;
      }
      ctx.putImageData(im, 0, 0);
      const fig = document.createElement('figure');
      const cap = document.createElement('figcaption');
      cap.textContent = `${ch}: ${fmt(lo)}…${fmt(hi)}`;
      fig.append(cv, cap);
      host.append(fig);
    }
  }, [map]);
  return (
    <div>
      <div className="muted">{label}</div>
      <div className="channel-grid" ref={ref} />
    </div>
  );
}

/** Reads an image file and resizes / normalises it to the input's C×H×W in [-1, 1]. */
async function imageToInput(file: File, c: number, h: number, w: number): Promise<Float32Array> {
  const bitmap = await createImageBitmap(file);
  const cv = document.createElement('canvas');
  cv.width = w;
  cv.height = h;
  const ctx = cv.getContext('2d')!;
  ctx.drawImage(bitmap, 0, 0, w, h);
  const px = ctx.getImageData(0, 0, w, h).data;
  const out = new Float32Array(c * h * w);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const p = 4 * (y * w + x);
      const gray = (px[p] + px[p + 1] + px[p + 2]) / 3;
      for (let ch = 0; ch < c; ch++) out[ch * h * w + y * w + x] = (ch < 3 && c >= 3 ? px[p + ch] : gray) / 127.5 - 1;
    }
  return out;
}

export function RuntimePanel({ graph, probeName, onClose }: { graph: Graph; probeName: string | null; onClose: () => void }) {
  const session = useRef<RuntimeSession | null>(null);
  const [code, setCode] = useState<CodeState>(EMPTY_CODE);
  const client = useRef<CodegenClient | null>(null);
  const [choice, setChoice] = useState<BackendChoice | null>(null);
  const [failure, setFailure] = useState<Failure | null>(null);
  /** An error outside a run (starting a backend, reading a file): the message, and advice only when it is known. */
  const setError = useCallback((e: unknown) => {
    if (e === null) return setFailure(null);
    const f = classifyFailure(e, { backend: 'none', backends: [] });
    setFailure(f.kind === 'unknown' ? { ...f, advice: '' } : f);
  }, []);
  // The backend's limits and measured rate (GFLOP/s), for the estimate and the run gate.
  const [limits, setLimits] = useState<BackendLimits | null>(null);
  const [rate, setRate] = useState<number | null>(null);
  const ratePromise = useRef<Promise<number | null>>(Promise.resolve(null));
  /** Why the last action did not start (the backend cannot hold it). */
  const [refused, setRefused] = useState<readonly string[] | null>(null);
  /** A slow action waiting for the user's yes. */
  const [confirm, setConfirm] = useState<{ question: string; go: () => void } | null>(null);
  /** Weights being made (values done / total), and how to stop it. */
  const [preparing, setPreparing] = useState<{ done: number; total: number } | null>(null);
  const stopPrepare = useRef<AbortController | null>(null);
  const [checksum, setChecksum] = useState<string | null>(null);
  const [mismatch, setMismatch] = useState<string | null>(null);
  const [weightsLabel, setWeightsLabel] = useState('random (seed 0)');
  const [seed, setSeed] = useState(0);
  const [timestep, setTimestep] = useState(500);
  const [label, setLabel] = useState(0);
  const [image, setImage] = useState<Float32Array | null>(null);
  const [fileInputs, setFileInputs] = useState<{ name: string; inputs: InputsFile } | null>(null);
  const [live, setLive] = useState(false);
  const [busy, setBusy] = useState(false);
  const [moduleReady, setModuleReady] = useState(0);
  const [result, setResult] = useState<{ ms: number; first: boolean; stats: TensorStats; steady: number | null; runs: number } | null>(null);
  const [firstMs, setFirstMs] = useState<number | null>(null);
  const [output, setOutput] = useState<tf.Tensor4D | null>(null);
  const [outputMap, setOutputMap] = useState<HostMap | null>(null);
  const [probe, setProbe] = useState<{ name: string; map: HostMap; stats: TensorStats } | null>(null);
  const [profile, setProfile] = useState<{ name: string; type: string; ms: number }[] | null>(null);
  // tf.memory() needs a backend, which starts asynchronously: zeros until then.
  const [memory, setMemory] = useState<{ numTensors: number; numBytes: number }>({ numTensors: 0, numBytes: 0 });
  const [schedule, setSchedule] = useState<ScheduleName>('linear');
  const [steps, setSteps] = useState(50);
  const [progress, setProgress] = useState<{ done: number; total: number } | null>(null);
  const cancel = useRef(false);
  const canvas = useRef<HTMLCanvasElement>(null);
  const analysis = analyze(graph);
  const xInfo = [...analysis.info.values()].find((i) => i.def.io === 'x');
  const yInfo = [...analysis.info.values()].find((i) => i.def.io === 'y');
  const outDims = [...analysis.info.values()].find((i) => i.def.io === 'output')?.inputs.x?.shape?.dims;
  const inDims = xInfo?.out?.dims;
  const learnedSigma = !!inDims && !!outDims && outDims[0] === 2 * inDims[0];
  const estimate = useMemo(() => (analysis.ok ? estimateCost(analysis, 1) : null), [analysis]);
  /** What Run would do now: start, ask (slow) or refuse (beyond the backend's limits). */
  const gateNow: RunGate | null = estimate && limits ? gateRun(estimate, limits, rate) : null;

  // Backend first, then the code worker (no type-check needed to run).
  const startBackend = useCallback(async (b: BrowserBackend) => {
    setError(null);
    try {
      const c = await chooseBackend(b);
      setChoice(c);
      setMemory(tf.memory());
      session.current?.backendChanged();
      setFirstMs(null);
      setRefused(null);
      setConfirm(null);
      setLimits(backendLimits(browserMemoryBytes()));
      setRate(null);
      // A small conv, timed once per backend (asynchronous: the page stays responsive).
      const measured = measureRate().then(
        (r) => (setRate(r), r),
        () => null,
      );
      ratePromise.current = measured;
    } catch (e) {
      setError(e);
    }
  }, [setError]);

  useEffect(() => {
    session.current = new RuntimeSession();
    const c = new CodegenClient(setCode);
    client.current = c;
    void startBackend('webgpu');
    return () => {
      c.dispose();
      session.current?.dispose();
      session.current = null;
      setOutput((old) => {
        old?.dispose();
        return null;
      });
    };
  }, [startBackend]);

  useEffect(() => {
    if (!analysis.ok) return;
    const t = setTimeout(() => client.current?.request(graph, false), 200);
    return () => clearTimeout(t);
  }, [graph, analysis.ok]);

  // A new module: hand it to the session (weights stay when keys and shapes do).
  useEffect(() => {
    const s = session.current;
    if (!s || !code.js || !choice) return;
    try {
      s.setModule(graph, code.js, code.className, code.inputs);
      setMismatch(s.mismatch ? s.mismatch.message : null);
      setModuleReady((n) => n + 1);
    } catch (e) {
      setError(e);
    }
    // The module text follows the graph.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [code.js, code.className, code.inputs, choice]);

  const runInputs = useCallback(
    (): RunInputs => ({
      batch: 1,
      noiseSeed: seed,
      values: { timesteps: timestep, y: label },
      ...(image ? { samples: { x: image } } : {}),
      ...(fileInputs ? { file: fileInputs.inputs } : {}),
    }),
    [seed, timestep, label, image, fileInputs],
  );

  const showOutput = useCallback(async (out: tf.Tensor4D) => {
    setOutput((old) => {
      old?.dispose();
      return out;
    });
    setChecksum(fingerprint((await out.data()) as Float32Array));
    setOutputMap(await hostMap(out));
    if (canvas.current) await drawImage(canvas.current, tf.tidy(() => tf.squeeze(tf.slice(out, [0, 0, 0, 0], [1, -1, -1, -1]), [0])) as tf.Tensor3D);
  }, []);

  const failed = useCallback(
    (e: unknown) => {
      const need = estimate ? { weightBytes: estimate.weightBytes, totalBytes: estimate.weightBytes + estimate.peakActivationBytes } : {};
      setFailure(classifyFailure(e, { backend: choice?.backend ?? 'unknown', backends: BROWSER_BACKENDS, ...need }));
    },
    [estimate, choice],
  );

  /**
   * Whether an action of `passes` forward passes may start: refused (and why) when the backend
   * cannot hold it, asked first when slow (`again` re-runs it once the user says yes). `quiet`
   * (live mode, probes) never asks: it only starts what would start at once.
   */
  const admit = useCallback(
    async (action: string, passes: number, again: (() => void) | null, quiet = false): Promise<boolean> => {
      if (!estimate || !limits) return true;
      const g = gateRun(estimate, limits, await ratePromise.current, { passes, action });
      if (g.kind === 'refuse') {
        if (!quiet) setRefused(g.problems);
        return false;
      }
      setRefused(null);
      if (g.kind === 'confirm') {
        if (again && !quiet) setConfirm({ question: g.question, go: again });
        return false;
      }
      return true;
    },
    [estimate, limits],
  );

  /** Makes the weights if they are not made yet, with progress and Cancel. */
  const prepareWeights = useCallback(async (s: RuntimeSession) => {
    if (s.prepared) return;
    const stop = new AbortController();
    stopPrepare.current = stop;
    setPreparing({ done: 0, total: 1 });
    try {
      await s.prepare({ signal: stop.signal, onProgress: (done, total) => setPreparing({ done, total }) });
    } finally {
      stopPrepare.current = null;
      setPreparing(null);
    }
  }, []);

  const run = useCallback(async (confirmed = false, quiet = false) => {
    const s = session.current;
    if (!s || !s.ready || busy) return;
    setBusy(true);
    try {
      if (!confirmed && !(await admit('Run', 1, () => void runRef.current(true), quiet))) return;
      setChecksum(null);
      await prepareWeights(s);
      const r = await s.run(runInputs());
      if (r.first) setFirstMs(r.ms);
      setResult({ ms: r.ms, first: r.first, stats: r.stats, steady: s.steadyMs, runs: s.runCount });
      await showOutput(r.out);
      setError(null);
    } catch (e) {
      failed(e);
    } finally {
      setBusy(false);
      setMemory(tf.memory());
    }
  }, [busy, runInputs, showOutput, failed, admit, prepareWeights]);
  const runRef = useRef(run);
  runRef.current = run;

  // Live mode: re-run after every valid edit (the module changes) and input change, debounced.
  useEffect(() => {
    if (!live || moduleReady === 0) return;
    const t = setTimeout(() => void run(false, true), 250);
    return () => clearTimeout(t);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [live, moduleReady, seed, timestep, label, image, fileInputs]);

  // Probe the selected node.
  useEffect(() => {
    const s = session.current;
    if (!s || !s.ready || !probeName || moduleReady === 0) return;
    // A probe never makes weights a run would have to ask for (or could not hold).
    if (!s.prepared && gateNow?.kind !== 'go') return;
    let stale = false;
    void s
      .probe(probeName, runInputs())
      .then(async (p) => {
        const map = await hostMap(p.out);
        p.out.dispose();
        if (!stale) setProbe({ name: probeName, map, stats: p.stats });
      })
      .catch(failed);
    return () => {
      stale = true;
    };
    // gateNow is read for its kind only, when the probe target or the module changes.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [probeName, moduleReady, runInputs, failed]);

  const onWeightsFile = async (f: File) => {
    const s = session.current;
    if (!s) return;
    try {
      const bytes = new Uint8Array(await f.arrayBuffer());
      s.setWeights({ kind: 'file', name: f.name, bytes });
      setMismatch(s.mismatch ? s.mismatch.message : null);
      setWeightsLabel(s.mismatch ? `random (seed 0): ${f.name} does not fit` : f.name);
      setFirstMs(null);
      setError(null);
      setModuleReady((n) => n + 1);
    } catch (e) {
      failed(e);
    }
  };

  const onInputsFile = async (f: File) => {
    try {
      const file = parseSafetensors(new Uint8Array(await f.arrayBuffer()), { source: f.name });
      setFileInputs({ name: f.name, inputs: readInputsFile(file, f.name) });
      setError(null);
    } catch (e) {
      failed(e);
    }
  };

  const onDrop = (e: DragEvent) => {
    e.preventDefault();
    const f = e.dataTransfer.files[0];
    if (f && f.name.endsWith('.safetensors')) void onWeightsFile(f);
  };

  const doSample = async (confirmed = false) => {
    const s = session.current;
    if (!s || !s.ready || busy) return;
    cancel.current = false;
    setBusy(true);
    try {
      if (!confirmed && !(await admit(`Sampling (${steps} steps)`, steps, () => void doSampleRef.current(true)))) return;
      await prepareWeights(s);
      setProgress({ done: 0, total: steps });
      const out = await s.sample({
        schedule,
        trainSteps: 1000,
        steps,
        seed,
        label,
        batch: 1,
        learnedSigma,
        onStep: async (done, total, x) => {
          setProgress({ done, total });
          if (canvas.current && (done % 5 === 0 || done === total)) await drawImage(canvas.current, tf.tidy(() => tf.squeeze(x, [0])) as tf.Tensor3D);
          await new Promise((r) => setTimeout(r, 0)); // let the page breathe between steps
          return !cancel.current;
        },
      });
      if (out) await showOutput(out);
    } catch (e) {
      failed(e);
    } finally {
      setBusy(false);
      setProgress(null);
      setMemory(tf.memory());
    }
  };
  const doSampleRef = useRef(doSample);
  doSampleRef.current = doSample;

  const doProfile = async (confirmed = false) => {
    const s = session.current;
    if (!s || !s.ready || busy) return;
    setBusy(true);
    try {
      if (!confirmed && !(await admit('Profiling', 1, () => void doProfileRef.current(true)))) return;
      await prepareWeights(s);
      setProfile(await s.profile(runInputs()));
    } catch (e) {
      failed(e);
    } finally {
      setBusy(false);
      setMemory(tf.memory());
    }
  };
  const doProfileRef = useRef(doProfile);
  doProfileRef.current = doProfile;

  const backendLabel = choice ? `${choice.backend}${choice.threads ? ` · ${choice.threads} threads` : ''}` : 'starting…';
  const moduleCurrent = code.status !== 'generating' && moduleReady > 0;

  return (
    <section className="runtime-panel" data-testid="runtime-panel" onDragOver={(e) => e.preventDefault()} onDrop={onDrop}>
      <header>
        <strong>Run</strong>
        <select
          value={choice?.backend ?? 'webgpu'}
          onChange={(e) => void startBackend(e.target.value as BrowserBackend)}
          data-testid="backend-select"
          aria-label="Backend"
        >
          {BROWSER_BACKENDS.map((b) => (
            <option key={b} value={b}>
              {b}
            </option>
          ))}
        </select>
        <span data-testid="backend">{backendLabel}</span>
        <span className="spacer" />
        <button onClick={onClose} aria-label="Close run panel">
          ×
        </button>
      </header>
      <div className="runtime-body">
        {choice?.notice && (
          <p className="notice" data-testid="backend-notice">
            {choice.notice}
          </p>
        )}
        {estimate && (
          <p className="muted" data-testid="estimate">
            {gateNow ? gateNow.summary : 'measuring the backend…'}
          </p>
        )}
        {gateNow?.kind === 'refuse' && !refused && (
          <p className="notice" data-testid="estimate-problems">
            {choice?.backend ?? 'This backend'} cannot run this model: {gateNow.problems.join('; ')}.
          </p>
        )}
        {refused && (
          <div className="runtime-error" data-testid="run-refused">
            <pre>Not started: {refused.join('; ')}.</pre>
          </div>
        )}
        {confirm && (
          <div className="notice" data-testid="run-confirm">
            <span>{confirm.question}</span>{' '}
            <button
              onClick={() => {
                const go = confirm.go;
                setConfirm(null);
                go();
              }}
              data-testid="confirm-run"
            >
              Start
            </button>
            <button onClick={() => setConfirm(null)} data-testid="confirm-cancel">
              Cancel
            </button>
          </div>
        )}
        {preparing && (
          <div className="row" data-testid="prepare">
            <span>making the weights…</span>
            <progress max={preparing.total} value={preparing.done} data-testid="prepare-progress" />
            <button onClick={() => stopPrepare.current?.abort()} data-testid="cancel-prepare">
              Cancel
            </button>
          </div>
        )}
        {failure && (
          <div className="runtime-error" data-testid="runtime-error">
            <pre>{failure.message}</pre>
            {failure.advice && <p data-testid="failure-advice">{failure.advice}</p>}
            {failure.tryBackends.map((b) => (
              <button key={b} onClick={() => void startBackend(b as BrowserBackend)} data-testid={`try-backend-${b}`}>
                Try {b}
              </button>
            ))}
          </div>
        )}
        {!analysis.ok && <p className="muted">Fix the graph’s errors to run it.</p>}

        <fieldset>
          <legend>Weights</legend>
          <div className="row">
            <span data-testid="weights-label">{weightsLabel}</span>
          </div>
          <div className="row">
            <label>
              seed <input type="number" value={seed} onChange={(e) => setSeed(Number(e.target.value) | 0)} style={{ width: 70 }} data-testid="seed" />
            </label>
            <button
              onClick={() => {
                session.current?.setWeights({ kind: 'random', seed });
                setWeightsLabel(`random (seed ${seed})`);
                setMismatch(null);
                setModuleReady((n) => n + 1);
              }}
              data-testid="random-init"
            >
              Random init
            </button>
            <label className="file-button">
              Open .safetensors…
              <input type="file" accept=".safetensors" hidden data-testid="weights-input" onChange={(e) => e.target.files?.[0] && void onWeightsFile(e.target.files[0])} />
            </label>
          </div>
          {mismatch && (
            <pre className="mismatch" data-testid="mismatch">
              {mismatch}
            </pre>
          )}
        </fieldset>

        <fieldset>
          <legend>Inputs</legend>
          <div className="row">
            <label className="file-button">
              Image…
              <input
                type="file"
                accept="image/*"
                hidden
                onChange={async (e) => {
                  const f = e.target.files?.[0];
                  if (f && inDims) setImage(await imageToInput(f, inDims[0], inDims[1], inDims[2]));
                }}
              />
            </label>
            {image && <button onClick={() => setImage(null)}>Use noise</button>}
            <label className="file-button">
              Inputs .safetensors…
              <input type="file" accept=".safetensors" hidden data-testid="inputs-input" onChange={(e) => e.target.files?.[0] && void onInputsFile(e.target.files[0])} />
            </label>
            {fileInputs && (
              <span data-testid="inputs-label">
                {fileInputs.name} <button onClick={() => setFileInputs(null)}>×</button>
              </span>
            )}
          </div>
          <div className="row">
            <label>
              t = {timestep}
              <input type="range" min={0} max={999} value={timestep} onChange={(e) => setTimestep(Number(e.target.value))} data-testid="timestep" />
            </label>
            {yInfo && (
              <label>
                class{' '}
                <input type="number" min={0} max={(yInfo.out?.numClasses ?? 1) - 1} value={label} onChange={(e) => setLabel(Number(e.target.value) | 0)} style={{ width: 60 }} />
              </label>
            )}
          </div>
        </fieldset>

        <div className="row">
          <button className="primary" onClick={() => void run()} disabled={!analysis.ok || !moduleCurrent || busy} data-testid="run">
            Run
          </button>
          <label>
            <input type="checkbox" checked={live} onChange={(e) => setLive(e.target.checked)} data-testid="live" /> live
          </label>
          <button
            disabled={!output}
            onClick={async () => {
              if (!output) return;
              const nchw = tf.transpose(output, [0, 3, 1, 2]);
              const data = (await nchw.data()) as Float32Array;
              const bytes = writeSafetensors({ out: { dtype: 'F32', shape: nchw.shape, data } }, { producer: 'unet-studio runtime panel', backend: choice?.backend ?? '' });
              nchw.dispose();
              const url = URL.createObjectURL(new Blob([bytes as BlobPart], { type: 'application/octet-stream' }));
              const a = document.createElement('a');
              a.href = url;
              a.download = 'out.safetensors';
              a.click();
              setTimeout(() => URL.revokeObjectURL(url), 1000);
            }}
            data-testid="download-out"
          >
            Save output
          </button>
        </div>

        <div className="timing" data-testid="timing">
          <span>
            first run: <b data-testid="first-ms">{firstMs === null ? '–' : `${firstMs.toFixed(0)} ms`}</b>
          </span>
          <span>
            steady: <b data-testid="steady-ms">{result?.steady != null ? `${result.steady.toFixed(1)} ms` : '–'}</b>
          </span>
          <span>
            runs: <b data-testid="run-count">{result?.runs ?? 0}</b>
          </span>
          <span>
            tensors: <b data-testid="num-tensors">{memory.numTensors}</b> · {(memory.numBytes / 1e6).toFixed(1)} MB
          </span>
        </div>
        {checksum && (
          <div className="muted">
            output fingerprint <code data-testid="out-checksum">{checksum}</code>
          </div>
        )}
        {result && (
          <div className="muted" data-testid="out-stats">
            out min {fmt(result.stats.min)} · max {fmt(result.stats.max)} · mean {fmt(result.stats.mean)} · std {fmt(result.stats.std)}
          </div>
        )}
        <canvas ref={canvas} className="output-image" data-testid="output-image" />
        <ChannelGrid map={outputMap} label="output channels" />

        {probe && (
          <div data-testid="probe">
            <div className="muted">
              probe {JSON.stringify(probe.name)}: min {fmt(probe.stats.min)} · max {fmt(probe.stats.max)} · mean {fmt(probe.stats.mean)} · std {fmt(probe.stats.std)}
            </div>
            <ChannelGrid map={probe.map} label="" />
          </div>
        )}

        <fieldset>
          <legend>Sampling (DDPM)</legend>
          <div className="row">
            <select value={schedule} onChange={(e) => setSchedule(e.target.value as ScheduleName)} aria-label="Schedule">
              <option value="linear">linear</option>
              <option value="cosine">cosine</option>
            </select>
            <label>
              steps <input type="number" min={1} max={1000} value={steps} onChange={(e) => setSteps(Math.max(1, Math.min(1000, Number(e.target.value) | 0)))} style={{ width: 70 }} />
            </label>
            <span className="muted">{learnedSigma ? 'learned σ' : 'fixed σ'}</span>
            {progress ? (
              <button onClick={() => (cancel.current = true)} data-testid="cancel-sample">
                Cancel
              </button>
            ) : (
              <button onClick={() => void doSample()} disabled={!analysis.ok || !moduleCurrent || busy} data-testid="sample">
                Sample
              </button>
            )}
          </div>
          {progress && <progress max={progress.total} value={progress.done} data-testid="sample-progress" />}
        </fieldset>

        <fieldset>
          <legend>Profile</legend>
          <button
            disabled={!moduleCurrent || busy}
            onClick={() => void doProfile()}
            data-testid="profile"
          >
            Time each block
          </button>
          {profile && (
            <table className="profile" data-testid="profile-table">
              <tbody>
                {[...profile]
                  .sort((a, b) => b.ms - a.ms)
                  .slice(0, 15)
                  .map((r) => (
                    <tr key={r.name}>
                      <td>{r.name}</td>
                      <td>{r.type}</td>
                      <td>{r.ms.toFixed(2)} ms</td>
                    </tr>
                  ))}
              </tbody>
            </table>
          )}
        </fieldset>
        <div className="muted">{code.status === 'error' ? `code: ${code.message}` : code.className ? `module ${code.className}` : 'generating the module…'}</div>
      </div>
    </section>
  );
}
