/**
 * tfjs backends in Node: `cpu`, `wasm` (SIMD, one thread) and `webgpu` through the `webgpu` npm
 * package (Dawn) on Chromium's SwiftShader Vulkan driver. Not for the browser.
 */
import * as tf from '@tensorflow/tfjs';
import { existsSync } from 'node:fs';

export const NODE_BACKENDS = ['cpu', 'wasm', 'webgpu'] as const;
export type NodeBackend = (typeof NODE_BACKENDS)[number];

export class BackendError extends Error {
  override name = 'BackendError';
}

const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';
let webgpuReady: Promise<void> | null = null;

async function prepareWebGpu(): Promise<void> {
  if (!process.env.VK_ICD_FILENAMES && existsSync(SWIFTSHADER_ICD)) process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
  let mod: typeof import('webgpu');
  try {
    mod = await import('webgpu');
  } catch (e) {
    throw new BackendError(`webgpu: the "webgpu" package could not be loaded (${e instanceof Error ? e.message : String(e)}); run npm ci`);
  }
  Object.assign(globalThis, mod.globals);
  const gpu = mod.create([]);
  const adapter = await gpu.requestAdapter();
  if (!adapter) {
    throw new BackendError(
      `webgpu: no adapter. Install Debian's chromium and libvulkan1 (SwiftShader's Vulkan driver, ${SWIFTSHADER_ICD}) or set VK_ICD_FILENAMES`,
    );
  }
  Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
  await import('@tensorflow/tfjs-backend-webgpu');
}

/** Switches tfjs to `name`, loading what it needs; throws BackendError with the reason otherwise. */
export async function useBackend(name: NodeBackend): Promise<void> {
  // Production mode: no per-op debug checks, and no "install tfjs-node" banner on stderr.
  tf.enableProdMode();
  if (name === 'wasm') await import('@tensorflow/tfjs-backend-wasm');
  if (name === 'webgpu') {
    webgpuReady ??= prepareWebGpu();
    await webgpuReady;
  }
  let ok = false;
  try {
    ok = await tf.setBackend(name);
  } catch (e) {
    throw new BackendError(`${name}: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (!ok) throw new BackendError(`${name}: tfjs could not initialise this backend`);
  await tf.ready();
}

export function isNodeBackend(s: string): s is NodeBackend {
  return (NODE_BACKENDS as readonly string[]).includes(s);
}
