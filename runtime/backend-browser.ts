/**
 * Picking a tfjs backend in the browser: WebGPU when the browser gives an adapter, otherwise WebGL,
 * then WASM, then CPU, with the reason for each fallback. WASM files are served by the app itself
 * (Vite `?url` assets) and use as many threads as the machine offers when the page is
 * cross-origin isolated.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-webgpu';
import { getThreadsCount, setThreadsCount, setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import wasmUrl from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimdUrl from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import wasmThreadedUrl from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';

export const BROWSER_BACKENDS = ['webgpu', 'webgl', 'wasm', 'cpu'] as const;
export type BrowserBackend = (typeof BROWSER_BACKENDS)[number];

export interface BackendChoice {
  readonly backend: BrowserBackend;
  /** Why a preferred backend was skipped, e.g. "no WebGPU adapter: using WebGL". Empty when none was. */
  readonly notice: string;
  /** WASM threads in use (1 without cross-origin isolation). */
  readonly threads?: number;
}

setWasmPaths({
  'tfjs-backend-wasm.wasm': wasmUrl,
  'tfjs-backend-wasm-simd.wasm': wasmSimdUrl,
  'tfjs-backend-wasm-threaded-simd.wasm': wasmThreadedUrl,
});

const LABEL: Record<BrowserBackend, string> = { webgpu: 'WebGPU', webgl: 'WebGL', wasm: 'WASM', cpu: 'CPU' };

/** Why a backend cannot start here, or null when it can try. */
async function unavailable(b: BrowserBackend): Promise<string | null> {
  if (b === 'webgpu') {
    const gpu = (navigator as Navigator & { gpu?: { requestAdapter(): Promise<unknown> } }).gpu;
    if (!gpu) return 'no WebGPU in this browser';
    try {
      return (await gpu.requestAdapter()) ? null : 'no WebGPU adapter';
    } catch {
      return 'no WebGPU adapter';
    }
  }
  if (b === 'webgl') {
    const c = document.createElement('canvas');
    return c.getContext('webgl2') || c.getContext('webgl') ? null : 'no WebGL';
  }
  return null;
}

async function start(b: BrowserBackend): Promise<number | undefined> {
  if (b !== 'wasm') {
    if (!(await tf.setBackend(b))) throw new Error(`${LABEL[b]} failed to initialise`);
    await tf.ready();
    return undefined;
  }
  // tfjs-backend-wasm sizes its thread pool at hardwareConcurrency / 2; report twice the cores
  // while it starts so every core gets a thread (measured: 2 threads on a 2-core machine, 1.7×).
  const cores = navigator.hardwareConcurrency || 1;
  setThreadsCount(cores);
  // An own property on the instance shadows the prototype's getter until it is deleted.
  Object.defineProperty(navigator, 'hardwareConcurrency', { value: cores * 2, configurable: true });
  try {
    if (!(await tf.setBackend('wasm'))) throw new Error('WASM failed to initialise');
    await tf.ready();
  } finally {
    delete (navigator as { hardwareConcurrency?: number }).hardwareConcurrency;
  }
  return getThreadsCount();
}

let queue: Promise<unknown> = Promise.resolve();

/**
 * Starts `preferred` (default WebGPU) or the next one that works, in the order WebGPU, WebGL,
 * WASM, CPU. The notice says what was skipped and why. Calls are queued: tfjs drops a backend
 * whose initialisation overlaps another's (its "pending init" counter), so two overlapping
 * switches (React's development double effects, a quick second click) would leave the engine on
 * one backend and the kernels on another.
 */
export function chooseBackend(preferred: BrowserBackend = 'webgpu'): Promise<BackendChoice> {
  const run = queue.then(() => chooseNow(preferred));
  queue = run.catch(() => undefined);
  return run;
}

async function chooseNow(preferred: BrowserBackend): Promise<BackendChoice> {
  const order = BROWSER_BACKENDS.slice(BROWSER_BACKENDS.indexOf(preferred));
  const skipped: string[] = [];
  for (const b of order) {
    const why = await unavailable(b);
    if (why) {
      skipped.push(why);
      continue;
    }
    try {
      const threads = await start(b);
      const notice = skipped.length > 0 ? `${skipped.join('; ')}: using ${LABEL[b]}` : '';
      return threads === undefined ? { backend: b, notice } : { backend: b, notice, threads };
    } catch (e) {
      skipped.push(`${LABEL[b]} failed (${e instanceof Error ? e.message : String(e)})`);
    }
  }
  throw new Error(`no tfjs backend could start: ${skipped.join('; ')}`);
}
