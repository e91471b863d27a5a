import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Cancelled, classifyFailure, type FailureContext } from './failure';
import { WeightLoadError } from '../weights/pytorch';

const ALL = ['webgpu', 'webgl', 'wasm', 'cpu'] as const;
const on = (backend: string, more: Partial<FailureContext> = {}): FailureContext => ({ backend, backends: ALL, ...more });
const GiB = 1024 ** 3;

// The exact texts tfjs throws, read from the installed backends (so a tfjs upgrade that rewords them fails here).
const webglSource = readFileSync(createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-webgl/dist/tf-backend-webgl.fesm.js'), 'utf8');

describe('classifyFailure: what failed, and only the ways out that can help', () => {
  it('the installed tfjs-backend-webgl still throws the texts the classifier reads', () => {
    expect(webglSource).toContain("' greater than WebGL maximum on this browser / GPU '");
    expect(webglSource).toContain("'Failed to compile fragment shader.'");
    expect(webglSource).toContain("'Failed to link vertex and fragment shaders.'");
    expect(webglSource).toContain("return 'OUT_OF_MEMORY'");
  });

  it('a WebGL texture limit: WASM and CPU can help when the model fits in WASM’s heap; only CPU when it does not', () => {
    const e = new Error('Requested texture size [65536x73728] greater than WebGL maximum on this browser / GPU [16384x16384].');
    const small = classifyFailure(e, on('webgl', { weightBytes: 0.5 * GiB, totalBytes: 1 * GiB }));
    expect(small.kind).toBe('texture-limit');
    expect(small.tryBackends).toEqual(['wasm', 'cpu']);
    expect(small.advice).toMatch(/largest texture.*WASM and CPU/);
    const big = classifyFailure(e, on('webgl', { weightBytes: 2.1 * GiB, totalBytes: 5 * GiB }));
    expect(big.tryBackends).toEqual(['cpu']);
  });

  it('out of memory on the CPU side: no other backend is offered, and it says why', () => {
    for (const msg of ['RangeError: Array buffer allocation failed', 'WebAssembly.Memory(): could not allocate memory', 'Aborted(OOM). Build with -sASSERTIONS for more info.', 'RangeError: Invalid typed array length: 4473924352']) {
      for (const backend of ['wasm', 'cpu']) {
        const f = classifyFailure(new Error(msg), on(backend, { weightBytes: 2.2 * GiB }));
        expect(f.kind, msg).toBe('out-of-memory');
        expect(f.tryBackends, msg).toEqual([]);
        expect(f.advice).toMatch(/every backend needs that much memory too/);
        expect(f.advice).toContain('2.20 GiB');
      }
    }
  });

  it('GPU out of memory: main-memory backends only when the size is known and fits', () => {
    const e = new Error('WebGL Error: OUT_OF_MEMORY');
    expect(classifyFailure(e, on('webgl', { totalBytes: 1 * GiB })).tryBackends).toEqual(['wasm', 'cpu']);
    expect(classifyFailure(e, on('webgl', { totalBytes: 6 * GiB })).tryBackends).toEqual(['cpu']);
    expect(classifyFailure(e, on('webgl')).tryBackends).toEqual([]);
  });

  it('a shader that fails to compile is a backend bug: every other backend can help', () => {
    const f = classifyFailure(new Error('Failed to compile fragment shader.'), on('webgl'));
    expect(f.kind).toBe('shader');
    expect(f.tryBackends).toEqual(['webgpu', 'wasm', 'cpu']);
    expect(classifyFailure(new Error('Failed to link vertex and fragment shaders.'), on('webgl')).kind).toBe('shader');
  });

  it('weights or inputs that do not fit the graph, and a cancel: no backend is offered', () => {
    const load = new WeightLoadError(['a.weight'], [], [], 'w.safetensors');
    const f = classifyFailure(load, on('webgpu'));
    expect(f.kind).toBe('input');
    expect(f.tryBackends).toEqual([]);
    expect(classifyFailure(new Error("the inputs file's x is 3×8×8, the graph takes 3×16×16"), on('webgl')).kind).toBe('input');
    expect(classifyFailure(new Error('Error in conv2d: depth of input (3) must match input depth for filter 4.'), on('wasm')).kind).toBe('input');
    const c = classifyFailure(new Cancelled('making the weights'), on('webgl'));
    expect(c.kind).toBe('cancelled');
    expect(c.tryBackends).toEqual([]);
  });

  it('a lost device and an unknown error: the others, never the current backend', () => {
    expect(classifyFailure(new Error('WebGL Error: CONTEXT_LOST_WEBGL'), on('webgl', { totalBytes: GiB })).kind).toBe('device-lost');
    const u = classifyFailure(new Error('something odd'), on('wasm'));
    expect(u.kind).toBe('unknown');
    expect(u.tryBackends).toEqual(['webgpu', 'webgl', 'cpu']);
    expect(classifyFailure('a string', on('cpu')).tryBackends).toEqual(['webgpu', 'webgl', 'wasm']);
  });
});
