/**
 * What the current tfjs backend can do, measured or read before a big run: its convolution rate
 * (GFLOP/s, from a small 3×3 conv like the ones that dominate a UNet) and its known limits (WebGL's
 * texture size, WebGPU's largest buffer, WASM's 4 GiB address space). With `graph/estimate.ts` this
 * gives an expected time and refuses what cannot run, instead of freezing the tab or the process.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { BackendLimits } from '../graph/estimate';
import { WASM_MAX_BYTES } from './failure';

/**
 * Probes: 3×3 convs of 64 → 64 channels (the op that dominates a UNet) at 16×16 (18.9 MFLOP) and,
 * when that is quick, at 32×32 (75.5 MFLOP), which keeps fast backends' figures from being set by
 * call overhead while the slow ones (tfjs-cpu, ~0.5 GFLOP/s) block the page for tens of ms, not a second.
 */
const PROBE_C = 64;
const probeFlops = (side: number) => 2 * side * side * PROBE_C * PROBE_C * 9;
/** A probe faster than this (ms) is repeated at the larger size. */
const QUICK_MS = 15;

const rates = new Map<string, number>();
const yieldToEventLoop = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

/** The best of `repeats` timed calls (after one warm-up that compiles shaders), in ms, yielding between calls. */
async function timeConv(side: number, repeats: number): Promise<number> {
  const x = tf.randomUniform([1, side, side, PROBE_C], -1, 1, 'float32', 7) as tf.Tensor4D;
  const f = tf.randomUniform([3, 3, PROBE_C, PROBE_C], -0.1, 0.1, 'float32', 8) as tf.Tensor4D;
  try {
    let best = Infinity;
    for (let i = 0; i <= repeats; i++) {
      const t0 = performance.now();
      const y = tf.conv2d(x, f, 1, 'same');
      await y.data();
      y.dispose();
      const ms = performance.now() - t0;
      if (i > 0) best = Math.min(best, ms);
      await yieldToEventLoop();
    }
    return Math.max(best, 0.01);
  } finally {
    tf.dispose([x, f]);
  }
}

/**
 * GFLOP/s of the current backend on a 3×3 convolution (best of `repeats` timed calls after a
 * warm-up, yielding to the event loop between calls). Cached per backend name.
 */
export async function measureRate(repeats = 2): Promise<number> {
  const name = tf.getBackend();
  const hit = rates.get(name);
  if (hit !== undefined) return hit;
  let side = 16;
  let ms = await timeConv(side, repeats);
  if (ms < QUICK_MS) {
    side = 32;
    ms = await timeConv(side, repeats);
  }
  const gflops = probeFlops(side) / 1e9 / (ms / 1000);
  rates.set(name, gflops);
  return gflops;
}

/** Forgets measured rates (a test, or a backend re-initialised). */
export function forgetRates(): void {
  rates.clear();
}

const GiB = 2 ** 30;

interface WebGpuLimits {
  readonly maxStorageBufferBindingSize?: number;
  readonly maxBufferSize?: number;
}

/**
 * The current backend's limits. `memoryBytes` is what the host can give (the browser's
 * `navigator.deviceMemory`, Node's free memory: the caller knows which); WASM is capped by its heap.
 */
export function backendLimits(memoryBytes?: number): BackendLimits {
  const backend = tf.getBackend();
  const mem = memoryBytes !== undefined && memoryBytes > 0 ? { memoryBytes } : {};
  if (backend === 'wasm') return { backend, memoryBytes: Math.min(WASM_MAX_BYTES, memoryBytes ?? WASM_MAX_BYTES) };
  if (backend === 'webgl') {
    let maxTextureSize: number | undefined;
    try {
      maxTextureSize = tf.env().getNumber('WEBGL_MAX_TEXTURE_SIZE');
    } catch {
      maxTextureSize = undefined;
    }
    return { backend, ...(maxTextureSize ? { maxTextureSize } : {}), ...mem };
  }
  if (backend === 'webgpu') {
    // The WebGPU backend keeps its GPUDevice as `device`; its limits are the adapter's.
    const device = (tf.backend() as unknown as { device?: { limits?: WebGpuLimits } }).device;
    const l = device?.limits;
    const buf = l ? Math.min(l.maxStorageBufferBindingSize ?? Infinity, l.maxBufferSize ?? Infinity) : Infinity;
    return { backend, ...(Number.isFinite(buf) ? { maxBufferBytes: buf } : {}), ...mem };
  }
  return { backend, ...mem };
}

/** What a browser page can hold: half of `navigator.deviceMemory` (GiB, capped at 8 by browsers), or 4 GiB. */
export function browserMemoryBytes(): number {
  const nav = (globalThis as { navigator?: { deviceMemory?: number } }).navigator;
  const gb = nav?.deviceMemory;
  return typeof gb === 'number' && gb > 0 ? (gb * GiB) / 2 : 4 * GiB;
}
