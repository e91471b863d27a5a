/**
 * The runtime panel: runs the generated module (the same text "Download .ts" gives) in the page
 * on WebGPU, WebGL, WASM or CPU. Only the view: the logic lives in `RunController`
 * (./runController, read through `useSyncExternalStore`), pictures of tensors in ./tensorImage, and
 * below that in runtime/ (RuntimeSession, chooseBackend, the run gate, diffusion).
 */
import { useEffect, useRef, useState, useSyncExternalStore, type DragEvent } from 'react';
import type { Graph } from '../graph/model';
import type { NamingConversion } from '../graph/convert';
import { BROWSER_BACKENDS, chooseBackend, type BrowserBackend } from '../runtime/backend-browser';
import { browserMemoryBytes } from '../runtime/rate';
import type { SamplerName, ScheduleName } from '../runtime/diffusion';
import { CodegenClient } from './codegenClient';
import { RunController, type DocumentWeights, type ProfileRow, type RunControllerDeps, type RunState } from './runController';
import { channelImages, fileToPixels, fmt, pixelsToInput, putRgba, type HostMap } from './tensorImage';

const BROWSER_DEPS: RunControllerDeps = {
  chooseBackend,
  backends: BROWSER_BACKENDS,
  makeCode: (onChange) => new CodegenClient(onChange),
  memoryBytes: browserMemoryBytes,
};

type Ctl = { readonly c: RunController };

const useRun = (c: RunController): RunState => useSyncExternalStore(c.subscribe, c.getState);

/**
 * `weights`: the document's own weights (a trained model from New…), handed to each controller the
 * panel makes (once per new object: reopening the panel hands them again).
 */
export function RuntimePanel({
  graph,
  probeName,
  weights = null,
  conversion = null,
  onClose,
  onProfile,
}: {
  graph: Graph;
  probeName: string | null;
  weights?: DocumentWeights | null;
  /** The latest naming conversion of the graph: the weights file in use follows it. */
  conversion?: NamingConversion | null;
  onClose: () => void;
  /** Each new per-block profile (Time each block), for the canvas's "last measured time" colouring. */
  onProfile?: (rows: readonly ProfileRow[]) => void;
}) {
  const [c, setC] = useState<RunController | null>(null);
  const first = useRef(graph);
  // One controller per mounted panel (made in the effect, so React's development double effects dispose the first).
  useEffect(() => {
    const ctl = new RunController(BROWSER_DEPS, first.current);
    setC(ctl);
    void ctl.start('webgpu');
    return () => {
      ctl.dispose();
      setC(null);
    };
  }, []);
  useEffect(() => c?.setGraph(graph), [c, graph]);
  useEffect(() => c?.setProbeTarget(probeName), [c, probeName]);
  useEffect(() => {
    if (c && weights) void c.openDocumentWeights(weights);
  }, [c, weights]);
  useEffect(() => {
    if (c && conversion) void c.convertNaming(conversion);
  }, [c, conversion]);
  const profileSink = useRef(onProfile);
  profileSink.current = onProfile;
  useEffect(() => {
    if (!c) return;
    let last = c.getState().profile;
    return c.subscribe(() => {
      const rows = c.getState().profile;
      if (rows !== last) {
        last = rows;
        if (rows) profileSink.current?.(rows);
      }
    });
  }, [c]);
  if (!c) return <section className="runtime-panel">loading the runtime…</section>;
  return <RunView c={c} onClose={onClose} />;
}

function RunView({ c, onClose }: Ctl & { onClose: () => void }) {
  const graphOk = useRun(c).graphOk;
  const onDrop = (e: DragEvent) => {
    e.preventDefault();
    const f = e.dataTransfer.files[0];
    if (f && f.name.endsWith('.safetensors')) void c.openWeights(f.name, f.arrayBuffer());
  };
  return (
    <section className="runtime-panel" data-testid="runtime-panel" onDragOver={(e) => e.preventDefault()} onDrop={onDrop}>
      <Header c={c} onClose={onClose} />
      <div className="runtime-body">
        <Notices c={c} />
        {!graphOk && <p className="muted">Fix the graph’s errors to run it.</p>}
        <Weights c={c} />
        <Inputs c={c} />
        <RunRow c={c} />
        <Timing c={c} />
        <Output c={c} />
        <Probe c={c} />
        <Sampling c={c} />
        <Profile c={c} />
        <ModuleLine c={c} />
      </div>
    </section>
  );
}

function Header({ c, onClose }: Ctl & { onClose: () => void }) {
  const { choice } = useRun(c);
  const label = choice ? `${choice.backend}${choice.threads ? ` · ${choice.threads} threads` : ''}` : 'starting…';
  return (
    <header>
      <strong>Run</strong>
      <select value={choice?.backend ?? 'webgpu'} onChange={(e) => void c.startBackend(e.target.value as BrowserBackend)} data-testid="backend-select" aria-label="Backend">
        {BROWSER_BACKENDS.map((b) => (
          <option key={b} value={b}>
            {b}
          </option>
        ))}
      </select>
      <span data-testid="backend">{label}</span>
      <span className="spacer" />
      <button onClick={onClose} aria-label="Close run panel">
        ×
      </button>
    </header>
  );
}

/** The backend's notice, the estimate and the gate's verdict, a question, weights in the making, a failure. */
function Notices({ c }: Ctl) {
  const { choice, estimate, gate, refused, confirm, preparing, failure } = useRun(c);
  return (
    <>
      {choice?.notice && (
        <p className="notice" data-testid="backend-notice">
          {choice.notice}
        </p>
      )}
      {estimate && (
        <p className="muted" data-testid="estimate">
          {gate ? gate.summary : 'measuring the backend…'}
        </p>
      )}
      {gate?.kind === 'refuse' && !refused && (
        <p className="notice" data-testid="estimate-problems">
          {choice?.backend ?? 'This backend'} cannot run this model: {gate.problems.join('; ')}.
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
          <button onClick={() => c.confirmStart()} data-testid="confirm-run">
            Start
          </button>
          <button onClick={() => c.confirmCancel()} data-testid="confirm-cancel">
            Cancel
          </button>
        </div>
      )}
      {preparing && (
        <div className="row" data-testid="prepare">
          <span>making the weights…</span>
          <progress max={preparing.total} value={preparing.done} data-testid="prepare-progress" />
          <button onClick={() => c.cancelPrepare()} data-testid="cancel-prepare">
            Cancel
          </button>
        </div>
      )}
      {failure && (
        <div className="runtime-error" data-testid="runtime-error">
          <pre>{failure.message}</pre>
          {failure.advice && <p data-testid="failure-advice">{failure.advice}</p>}
          {failure.tryBackends.map((b) => (
            <button key={b} onClick={() => void c.startBackend(b as BrowserBackend)} data-testid={`try-backend-${b}`}>
              Try {b}
            </button>
          ))}
        </div>
      )}
    </>
  );
}

function Weights({ c }: Ctl) {
  const { weightsLabel, seed, mismatch, weightsFromFile, checkpointNote } = useRun(c);
  return (
    <fieldset>
      <legend>Weights</legend>
      <div className="row">
        <span data-testid="weights-label">{weightsLabel}</span>
      </div>
      {checkpointNote && (
        <p className="muted small" data-testid="checkpoint-note">
          {checkpointNote}
        </p>
      )}
      {weightsFromFile && (
        <p className="muted" data-testid="weights-note">
          Weights stay in this tab only: autosave keeps the graph, not its weights.
        </p>
      )}
      <div className="row">
        <label>
          seed <input type="number" value={seed} onChange={(e) => c.setSeed(Number(e.target.value))} style={{ width: 70 }} data-testid="seed" />
        </label>
        <button onClick={() => c.randomWeights()} data-testid="random-init">
          Random init
        </button>
        <label className="file-button">
          Open .safetensors…
          <input
            type="file"
            accept=".safetensors"
            hidden
            data-testid="weights-input"
            onChange={(e) => {
              const f = e.target.files?.[0];
              if (f) void c.openWeights(f.name, f.arrayBuffer());
            }}
          />
        </label>
      </div>
      {mismatch && (
        <pre className="mismatch" data-testid="mismatch">
          {mismatch}
        </pre>
      )}
    </fieldset>
  );
}

function Inputs({ c }: Ctl) {
  const { inputDims, hasImage, inputsName, timestep, numClasses, label } = useRun(c);
  return (
    <fieldset>
      <legend>Inputs</legend>
      <div className="row">
        <label className="file-button">
          Image…
          <input
            type="file"
            accept="image/*"
            hidden
            onChange={(e) => {
              const f = e.target.files?.[0];
              if (f && inputDims) {
                const [ch, h, w] = inputDims;
                void c.setImage(fileToPixels(f, h, w).then((px) => pixelsToInput(px, ch, h, w)));
              }
            }}
          />
        </label>
        {hasImage && <button onClick={() => void c.setImage(null)}>Use noise</button>}
        <label className="file-button">
          Inputs .safetensors…
          <input
            type="file"
            accept=".safetensors"
            hidden
            data-testid="inputs-input"
            onChange={(e) => {
              const f = e.target.files?.[0];
              if (f) void c.openInputs(f.name, f.arrayBuffer());
            }}
          />
        </label>
        {inputsName !== null && (
          <span data-testid="inputs-label">
            {inputsName} <button onClick={() => c.clearInputs()}>×</button>
          </span>
        )}
      </div>
      <div className="row">
        <label>
          t = {timestep}
          <input type="range" min={0} max={999} value={timestep} onChange={(e) => c.setTimestep(Number(e.target.value))} data-testid="timestep" />
        </label>
        {numClasses !== null && (
          <label>
            class{' '}
            <input type="number" min={0} max={(numClasses || 1) - 1} value={label} onChange={(e) => c.setLabel(Number(e.target.value))} style={{ width: 60 }} data-testid="label" />
          </label>
        )}
      </div>
    </fieldset>
  );
}

function RunRow({ c }: Ctl) {
  const { graphOk, moduleCurrent, busy, live, hasOutput } = useRun(c);
  const save = async () => {
    const bytes = await c.outputSafetensors();
    if (!bytes) return;
    const url = URL.createObjectURL(new Blob([bytes as BlobPart], { type: 'application/octet-stream' }));
    const a = document.createElement('a');
    a.href = url;
    a.download = 'out.safetensors';
    a.click();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  };
  return (
    <div className="row">
      <button className="primary" onClick={() => void c.run()} disabled={!graphOk || !moduleCurrent || busy} data-testid="run">
        Run
      </button>
      <label>
        <input type="checkbox" checked={live} onChange={(e) => c.setLive(e.target.checked)} data-testid="live" /> live
      </label>
      <button disabled={!hasOutput} onClick={() => void save()} data-testid="download-out">
        Save output
      </button>
    </div>
  );
}

function Timing({ c }: Ctl) {
  const { firstMs, result, memory } = useRun(c);
  return (
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
  );
}

/** The output's fingerprint and statistics, its picture (or the sampler's latest step) and its channels. */
function Output({ c }: Ctl) {
  const { checksum, result, image, outputMap, latent } = useRun(c);
  const canvas = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    if (image && canvas.current) putRgba(canvas.current, image);
  }, [image]);
  return (
    <>
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
      {/* A latent (4 channels, no VAE here) has no RGB picture: each channel as a small grey image instead. */}
      <canvas ref={canvas} className="output-image" data-testid="output-image" hidden={latent} />
      <ChannelGrid map={outputMap} label={latent ? 'latent channels (no VAE: each channel in grey, scaled to its range)' : 'output channels'} grey={latent} />
    </>
  );
}

/** One small heat map per channel (each scaled to its own range), with the range under it. */
function ChannelGrid({ map, label, grey = false }: { map: HostMap | null; label: string; grey?: boolean }) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const host = ref.current;
    if (!host) return;
    host.replaceChildren();
    if (!map) return;
    for (const { channel, lo, hi, image } of channelImages(map, grey)) {
      const cv = document.createElement('canvas');
      putRgba(cv, image);
      const fig = document.createElement('figure');
      const cap = document.createElement('figcaption');
      cap.textContent = `${channel}: ${fmt(lo)}…${fmt(hi)}`;
      fig.append(cv, cap);
      host.append(fig);
    }
  }, [map, grey]);
  return (
    <div>
      <div className="muted">{label}</div>
      <div className="channel-grid" ref={ref} />
    </div>
  );
}

function Probe({ c }: Ctl) {
  const { probe } = useRun(c);
  if (!probe) return null;
  const s = probe.stats;
  return (
    <div data-testid="probe">
      <div className="muted">
        probe {JSON.stringify(probe.name)}: min {fmt(s.min)} · max {fmt(s.max)} · mean {fmt(s.mean)} · std {fmt(s.std)}
      </div>
      <ChannelGrid map={probe.map} label="" />
    </div>
  );
}

function Sampling({ c }: Ctl) {
  const { schedule, steps, trainSteps, learnedSigma, sampling, graphOk, moduleCurrent, busy, sampler, eta, guidance, condInputs, uncondValue, uncondName, uncondSources, numClasses, fileCond, inputsName } = useRun(c);
  const guided = condInputs.length > 0 && guidance !== 1;
  return (
    <fieldset>
      <legend>Sampling</legend>
      <div className="row">
        <select value={sampler} onChange={(e) => c.setSampler(e.target.value as SamplerName)} aria-label="Sampler" data-testid="sampler">
          <option value="ddpm">DDPM</option>
          <option value="ddim">DDIM</option>
        </select>
        <select value={schedule} onChange={(e) => c.setSchedule(e.target.value as ScheduleName)} aria-label="Schedule">
          <option value="linear">linear</option>
          <option value="cosine">cosine</option>
        </select>
        <label>
          steps <input type="number" min={1} max={1000} value={steps} onChange={(e) => c.setSteps(Number(e.target.value))} style={{ width: 70 }} data-testid="sample-steps" />
        </label>
        <span className="muted" data-testid="train-steps">
          of {trainSteps}
        </span>
        {sampler === 'ddim' && (
          <label title="0: deterministic; 1: as much noise as DDPM">
            η <input type="number" min={0} max={1} step={0.1} value={eta} onChange={(e) => c.setEta(Number(e.target.value))} style={{ width: 60 }} data-testid="eta" />
          </label>
        )}
        <span className="muted">{learnedSigma ? 'learned σ' : 'fixed σ'}</span>
        {sampling ? (
          <button onClick={() => c.cancelSample()} data-testid="cancel-sample">
            Cancel
          </button>
        ) : (
          <button onClick={() => void c.sample()} disabled={!graphOk || !moduleCurrent || busy} data-testid="sample">
            Sample
          </button>
        )}
      </div>
      {condInputs.length > 0 && (
        <div className="row" data-testid="guidance-row">
          <label title="classifier-free guidance: ε = ε_uncond + s·(ε_cond − ε_uncond); 1 is no guidance (other values run the model on twice the batch)">
            guidance{' '}
            <input type="number" min={0} max={50} step={0.5} value={guidance} onChange={(e) => c.setGuidance(Number(e.target.value))} style={{ width: 60 }} data-testid="guidance" />
          </label>
          {guided && uncondSources.some((u) => u.source !== 'file' && u.role === 'y') && (
            <label title="the label the model was trained to read as 'no class'">
              null {condInputs.find((i) => i.role === 'y')?.label ?? 'label'}{' '}
              <input type="number" min={0} max={Math.max(0, (numClasses || 1) - 1)} value={uncondValue} onChange={(e) => c.setUncondValue(Number(e.target.value))} style={{ width: 60 }} data-testid="uncond-value" />
            </label>
          )}
          {guided && (
            <label className="file-button">
              Unconditional .safetensors…
              <input
                type="file"
                accept=".safetensors"
                hidden
                data-testid="uncond-input"
                onChange={(e) => {
                  const f = e.target.files?.[0];
                  if (f) void c.openUncondInputs(f.name, f.arrayBuffer());
                }}
              />
            </label>
          )}
          {guided && uncondName !== null && (
            <span data-testid="uncond-label">
              {uncondName} <button onClick={() => c.clearUncondInputs()}>×</button>
            </span>
          )}
        </div>
      )}
      {/* Where the conditional inputs come from: the inputs file, else the label above or noise from the seed (as a run makes them). */}
      {condInputs
        .filter((i) => i.role !== 'y' || fileCond.some((f) => f.role === i.role))
        .map((i) => (
          <p key={i.role} className="muted" data-testid={`cond-note-${i.role}`}>
            {fileCond.some((f) => f.role === i.role) ? `Conditional ${i.label}: from ${inputsName ?? 'the inputs file'}.` : `Conditional ${i.label}: random, from the seed (an inputs .safetensors can give it).`}
          </p>
        ))}
      {guided &&
        uncondSources
          .filter((u) => u.source === 'zeros' || u.source === 'missing')
          .map((u) => (
            <p key={u.role} className={u.source === 'missing' ? 'notice' : 'muted'} data-testid={`uncond-note-${u.role}`}>
              {u.source === 'zeros'
                ? `Unconditional ${u.label}: zeros (no unconditional file given).`
                : `Guidance needs an unconditional ${u.label}: give its null value or an unconditional file.`}
            </p>
          ))}
      {sampling && <progress max={sampling.total} value={sampling.done} data-testid="sample-progress" />}
    </fieldset>
  );
}

function Profile({ c }: Ctl) {
  const { profile, moduleCurrent, busy } = useRun(c);
  return (
    <fieldset>
      <legend>Profile</legend>
      <button disabled={!moduleCurrent || busy} onClick={() => void c.profile()} data-testid="profile">
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
  );
}

function ModuleLine({ c }: Ctl) {
  const { code } = useRun(c);
  return <div className="muted">{code.status === 'error' ? `code: ${code.message}` : code.className ? `module ${code.className}` : 'generating the module…'}</div>;
}
