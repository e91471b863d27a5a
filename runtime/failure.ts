/**
 * Why a run failed, and which way out can help. A run panel used to offer "Try <next backend>"
 * after any error; many failures (a weights file that does not fit, too little memory for the
 * weights themselves, a cancel) repeat on every backend, and trying WASM after WebGL ran out of
 * texture room can freeze the tab for minutes on a model that will not fit in WASM's memory either.
 * `classifyFailure` reads the error (tfjs's own messages, the browsers' allocation errors) and says
 * what happened, why, and which backends, if any, are worth a try. Pure: no tfjs.
 */

export type FailureKind =
  /** The user stopped it. */
  | 'cancelled'
  /** WebGL: a tensor needs a texture larger than MAX_TEXTURE_SIZE. */
  | 'texture-limit'
  /** WebGPU: a tensor needs a buffer larger than the device allows. */
  | 'buffer-limit'
  /** The backend (or the tab) ran out of memory. */
  | 'out-of-memory'
  /** The GPU context or device was lost (a driver reset, often after memory pressure). */
  | 'device-lost'
  /** A shader failed to compile or link: a backend or driver bug, not the model's. */
  | 'shader'
  /** The weights or inputs do not fit the graph (strict loading, a wrong shape). */
  | 'input'
  | 'unknown';

export interface Failure {
  readonly kind: FailureKind;
  /** The original message. */
  readonly message: string;
  /** One sentence for people: what happened and why the offered way out can (or cannot) help. */
  readonly advice: string;
  /** Backends worth trying instead, best first (never the current one); empty when none can help. */
  readonly tryBackends: readonly string[];
}

/** Thrown (and recognised) when a preparation or run is cancelled. */
export class Cancelled extends Error {
  override name = 'Cancelled';
  constructor(what = 'the run') {
    super(`${what} was cancelled`);
  }
}

export interface FailureContext {
  /** The backend the run used. */
  readonly backend: string;
  /** The backends a user can choose, in the app's fallback order. */
  readonly backends: readonly string[];
  /** Bytes of weights the run needs, when known: decides whether another backend could hold them. */
  readonly weightBytes?: number;
  /** Bytes of weights plus peak activations, when known. */
  readonly totalBytes?: number;
}

/**
 * WASM's heap is 32-bit: tfjs-backend-wasm's cannot grow past this (emscripten's getHeapMax in its
 * build, just under 4 GiB), and browsers often grant less. The one constant for both the failure
 * advice and the run gate's limits (`runtime/rate.ts`).
 */
export const WASM_MAX_BYTES = 4294901760;

const PATTERNS: readonly [FailureKind, RegExp][] = [
  ['cancelled', /\bwas cancelled\b|\bAbortError\b|\baborted by the user\b/i],
  // tfjs-backend-webgl `validateTextureSize`: "Requested texture size [AxB] greater than WebGL maximum on this browser / GPU [MxM]."
  ['texture-limit', /greater than WebGL maximum|Requested texture size \[[^\]]*\] is invalid|MAX_TEXTURE_SIZE/i],
  // Dawn / Chrome WebGPU validation: "Buffer size (N) exceeds the max buffer size limit (M)", binding size limits.
  ['buffer-limit', /exceeds the max (?:buffer|storage buffer binding) size|maxStorageBufferBindingSize|maxBufferSize/i],
  ['device-lost', /CONTEXT_LOST_WEBGL|context lost|device (?:was |is )?lost|GPUDevice.*lost/i],
  // WebGL's gl.OUT_OF_MEMORY ("WebGL Error: OUT_OF_MEMORY"), V8 ("Array buffer allocation failed", "Invalid typed array
  // length"), WASM ("WebAssembly.Memory(): could not allocate memory", emscripten "Aborted(OOM)", "Cannot enlarge
  // memory"), WebGPU's GPUOutOfMemoryError.
  [
    'out-of-memory',
    /OUT_OF_MEMORY|out of memory|Array buffer allocation failed|Invalid typed array length|Invalid array buffer length|could not allocate memory|Aborted\(OOM\)|Cannot enlarge memory|GPUOutOfMemoryError|memory access out of bounds|Failed to allocate/i,
  ],
  // tfjs-backend-webgl: "Failed to compile fragment shader.", "Failed to link vertex and fragment shaders.", WebGPU's WGSL errors.
  ['shader', /Failed to compile (?:vertex|fragment) shader|Failed to link vertex and fragment shaders|Shader program validation failed|WGSL|createShaderModule|GPUPipelineError|compute pipeline/i],
  // Strict loading (runtime/weights WeightLoadError), the session's input checks, tfjs's shape assertions.
  ['input', /does not match the graph|the inputs file|missing keys|unexpected keys|shape mismatch|is not loaded|Error in \w+: |must match|not a \.safetensors|safetensors/i],
];

const name = (b: string) => ({ webgpu: 'WebGPU', webgl: 'WebGL', wasm: 'WASM', cpu: 'CPU' })[b] ?? b;

/** What went wrong and which backends can help. */
export function classifyFailure(error: unknown, ctx: FailureContext): Failure {
  const message = error instanceof Error ? `${error.name === 'Error' ? '' : `${error.name}: `}${error.message}` : String(error);
  const kind: FailureKind = error instanceof Cancelled ? 'cancelled' : (PATTERNS.find(([, re]) => re.test(message))?.[0] ?? 'unknown');
  const others = ctx.backends.filter((b) => b !== ctx.backend);
  const cpuSide = others.filter((b) => b === 'wasm' || b === 'cpu');
  // WASM holds everything in one 32-bit heap; CPU in JS typed arrays (no fixed limit, but slow).
  const fitsWasm = (bytes: number | undefined) => bytes === undefined || bytes < WASM_MAX_BYTES;
  const need = ctx.totalBytes ?? ctx.weightBytes;
  const wasmOrCpu = cpuSide.filter((b) => b !== 'wasm' || fitsWasm(need));
  const fmtGiB = (b: number) => `${(b / 1024 ** 3).toFixed(2)} GiB`;

  switch (kind) {
    case 'cancelled':
      return { kind, message, advice: 'Cancelled: nothing else to do.', tryBackends: [] };
    case 'input':
      return { kind, message, advice: 'The weights or inputs do not fit the graph; another backend would fail the same way. Fix the file or the graph.', tryBackends: [] };
    case 'texture-limit':
    case 'buffer-limit': {
      const what = kind === 'texture-limit' ? `a tensor is larger than ${name(ctx.backend)}’s largest texture` : `a tensor is larger than ${name(ctx.backend)}’s largest buffer`;
      if (wasmOrCpu.length === 0)
        return { kind, message, advice: `${what}, and the CPU-side backends cannot hold this model either${need ? ` (${fmtGiB(need)})` : ''}. Use a smaller image size or batch.`, tryBackends: [] };
      return { kind, message, advice: `${what}; ${wasmOrCpu.map(name).join(' and ')} keep tensors in memory without that limit (slower).`, tryBackends: wasmOrCpu };
    }
    case 'out-of-memory': {
      if (ctx.backend === 'webgpu' || ctx.backend === 'webgl') {
        // GPU memory ran out: host memory may be larger, unless the model is beyond WASM's heap too.
        if (wasmOrCpu.length > 0 && need !== undefined)
          return { kind, message, advice: `${name(ctx.backend)} ran out of GPU memory; ${wasmOrCpu.map(name).join(' and ')} use main memory instead (slower).`, tryBackends: wasmOrCpu };
        return { kind, message, advice: `${name(ctx.backend)} ran out of memory; the model${need ? ` (${fmtGiB(need)})` : ''} is too large for this tab on any backend. Use a smaller image size, batch or model.`, tryBackends: [] };
      }
      return { kind, message, advice: `The tab ran out of memory${need ? ` (the model needs ${fmtGiB(need)})` : ''}; every backend needs that much memory too. Use a smaller image size, batch or model.`, tryBackends: [] };
    }
    case 'device-lost':
      return {
        kind,
        message,
        advice: `The ${name(ctx.backend)} device was lost (a driver reset, often after memory pressure). Retry on ${name(ctx.backend)} after a reload, or use ${wasmOrCpu.map(name).join(' or ') || 'a smaller model'}.`,
        tryBackends: wasmOrCpu,
      };
    case 'shader': {
      // A backend bug: any other backend runs different code.
      const order = [...others.filter((b) => b !== 'cpu' && (b !== 'wasm' || fitsWasm(need))), ...others.filter((b) => b === 'cpu')];
      return { kind, message, advice: `${name(ctx.backend)} could not compile one of its shaders (a backend or driver bug, not your model); another backend runs different code.`, tryBackends: order };
    }
    case 'unknown': {
      const order = others.filter((b) => b !== 'wasm' || fitsWasm(need));
      return { kind, message, advice: 'The run failed for a reason the app does not recognise; another backend may work.', tryBackends: order };
    }
  }
}
