/**
 * Reader and writer for the `.safetensors` format.
 *
 * Layout: 8-byte little-endian unsigned header length N, then N bytes of UTF-8 JSON header, then the raw
 * little-endian data buffer. The header maps tensor name -> {dtype, shape, data_offsets: [begin, end]}
 * (offsets relative to the start of the data buffer) plus an optional "__metadata__" string->string map.
 * Tensors must tile the data buffer exactly (contiguous, non-overlapping, no holes, no trailing bytes).
 *
 * The parser treats its input as hostile: every structural check runs before any tensor data is
 * allocated, and every failure is a {@link SafetensorsError} whose message starts with the source label.
 */

export type SafetensorsDtype = 'F32' | 'F16' | 'BF16' | 'I64' | 'I32';

export interface SafetensorsTensor {
  readonly name: string;
  readonly dtype: SafetensorsDtype;
  readonly shape: readonly number[];
  /** F32/F16/BF16 are widened to Float32Array; I32 -> Int32Array; I64 -> BigInt64Array. Always a fresh copy (never a view into the input bytes), so alignment never matters. */
  readonly data: Float32Array | Int32Array | BigInt64Array;
}

export interface SafetensorsFile {
  readonly tensors: ReadonlyMap<string, SafetensorsTensor>;
  readonly metadata: Readonly<Record<string, string>>;
}

export class SafetensorsError extends Error {
  override name = 'SafetensorsError';
}

export interface ParseOptions {
  /** default 100 MiB */
  maxHeaderBytes?: number;
  /** label used in messages, e.g. the file name */
  source?: string;
}

export interface TensorToWrite {
  /** F16 and BF16 only for values they hold exactly (a checkpoint read from such a file, written back): no silent rounding. */
  dtype: 'F32' | 'F16' | 'BF16' | 'I32' | 'I64';
  shape: readonly number[];
  data: Float32Array | Int32Array | BigInt64Array | readonly number[];
}

const DEFAULT_MAX_HEADER_BYTES = 100 * 1024 * 1024;
const METADATA_KEY = '__metadata__';

const DTYPE_SIZES: Readonly<Record<SafetensorsDtype, number>> = {
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
};
const SUPPORTED_DTYPES = Object.keys(DTYPE_SIZES) as SafetensorsDtype[];

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** 2^24: every integer with |v| <= 2^24 is exactly representable in float32. */
const F32_EXACT_INT_LIMIT = 16777216;

function isSupportedDtype(d: string): d is SafetensorsDtype {
  return Object.prototype.hasOwnProperty.call(DTYPE_SIZES, d);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Quote a name for a message, escaping control characters and capping hostile lengths. */
function quote(name: string): string {
  const capped = name.length > 200 ? `${name.slice(0, 200)}...` : name;
  return JSON.stringify(capped);
}

/**
 * Short, bounded rendering of an arbitrary JSON value for messages: JSON text cut at 120 characters.
 * Iterative and lazy, so a hostile header's huge or deeply nested value costs no more than the 120
 * characters shown (no recursion, no full stringify).
 */
function show(v: unknown): string {
  const max = 120;
  let s = '';
  const frames: { keys: readonly string[] | null; values: readonly unknown[]; i: number }[] = [];
  const open = new Set<object>();
  let pending = true;
  let next: unknown = v;
  while (s.length <= max) {
    if (pending) {
      pending = false;
      const x = next;
      if (typeof x === 'object' && x !== null) {
        if (open.has(x)) {
          s += '[Circular]';
        } else if (Array.isArray(x)) {
          open.add(x);
          s += '[';
          frames.push({ keys: null, values: x, i: 0 });
        } else {
          open.add(x);
          s += '{';
          const rec = x as Record<string, unknown>;
          const keys = Object.keys(rec);
          frames.push({ keys, values: keys.map((k) => rec[k]), i: 0 });
        }
      } else if (typeof x === 'string') {
        s += JSON.stringify(x.length > max ? x.slice(0, max + 1) : x);
      } else if (typeof x === 'number') {
        s += Number.isFinite(x) ? String(x) : 'null';
      } else {
        s += String(x);
      }
      continue;
    }
    const f = frames[frames.length - 1];
    if (f === undefined) break;
    if (f.i >= f.values.length) {
      s += f.keys ? '}' : ']';
      frames.pop();
      continue;
    }
    if (f.i > 0) s += ',';
    if (f.keys) s += `${JSON.stringify(f.keys[f.i].slice(0, max + 1))}:`;
    next = f.values[f.i++];
    pending = true;
  }
  return s.length > max ? `${s.slice(0, max)}...` : s;
}

function isNonNegativeSafeInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function fmtShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

function elementCount(shape: readonly number[]): bigint {
  let n = 1n;
  for (const d of shape) n *= BigInt(d);
  return n;
}

/** A tensor as the header describes it, validated: offsets are relative to the data buffer. */
export interface SafetensorsEntry {
  readonly name: string;
  readonly dtype: SafetensorsDtype;
  readonly shape: readonly number[];
  readonly begin: number;
  readonly end: number;
}

/** Everything but the tensor values, validated. */
export interface SafetensorsHeader {
  /** Byte offset of the data buffer in the file: 8 + the header length. */
  readonly dataStart: number;
  /** In header order. */
  readonly entries: readonly SafetensorsEntry[];
  readonly metadata: Readonly<Record<string, string>>;
}

/**
 * Reads and validates the prefix and the header of a `.safetensors` file of `fileLength` bytes:
 * `read(offset, length)` returns those bytes of the file (only the 8-byte prefix and the header are
 * asked for, after their lengths are checked). One implementation for files in memory and on disk.
 */
export function parseSafetensorsHeader(
  fileLength: number,
  read: (offset: number, length: number) => Uint8Array,
  opts: ParseOptions = {},
): SafetensorsHeader {
  const label = opts.source ?? 'safetensors';
  const fail = (msg: string): never => {
    throw new SafetensorsError(`${label}: ${msg}`);
  };
  const failTensor = (name: string, msg: string): never => fail(`tensor ${quote(name)}: ${msg}`);

  const maxHeaderBytes = opts.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES;
  if (typeof maxHeaderBytes !== 'number' || Number.isNaN(maxHeaderBytes) || maxHeaderBytes < 0) {
    fail(`maxHeaderBytes must be a non-negative number, got ${show(maxHeaderBytes)}`);
  }

  // --- 8-byte header length -------------------------------------------------------------------
  if (fileLength < 8) {
    fail(`file is ${fileLength} bytes, shorter than the 8-byte header length prefix`);
  }
  const prefix = read(0, 8);
  const headerLenBig = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  const available = fileLength - 8;
  if (headerLenBig > BigInt(Number.MAX_SAFE_INTEGER) || Number(headerLenBig) > maxHeaderBytes) {
    fail(`header length ${headerLenBig} bytes exceeds the maximum of ${maxHeaderBytes} bytes`);
  }
  const headerLen = Number(headerLenBig);
  if (headerLen > available) {
    fail(
      `header length ${headerLen} bytes exceeds the ${available} bytes after the 8-byte prefix ` +
        `(file is ${fileLength} bytes; truncated?)`,
    );
  }

  // --- JSON header ----------------------------------------------------------------------------
  let headerText: string;
  try {
    headerText = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(read(8, headerLen));
  } catch {
    return fail(`header (${headerLen} bytes) is not valid UTF-8`);
  }
  let header: unknown;
  try {
    header = JSON.parse(headerText);
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    return fail(`header is not valid JSON: ${why}`);
  }
  if (!isPlainObject(header)) {
    const kind = Array.isArray(header) ? 'an array' : header === null ? 'null' : `a ${typeof header}`;
    return fail(`header must be a JSON object, got ${kind}`);
  }

  const dataStart = 8 + headerLen;
  const dataLen = fileLength - dataStart;

  // --- metadata -------------------------------------------------------------------------------
  const metaEntries: [string, string][] = [];
  if (Object.prototype.hasOwnProperty.call(header, METADATA_KEY)) {
    const meta = header[METADATA_KEY];
    if (meta !== null) {
      if (!isPlainObject(meta)) {
        fail(`${METADATA_KEY} must be an object of string values, got ${show(meta)}`);
      } else {
        for (const [k, v] of Object.entries(meta)) {
          if (typeof v !== 'string') {
            fail(`${METADATA_KEY} value for key ${quote(k)} must be a string, got ${show(v)}`);
          }
          metaEntries.push([k, v as string]);
        }
      }
    }
  }

  // --- tensor entries -------------------------------------------------------------------------
  const entries: SafetensorsEntry[] = [];
  for (const [name, raw] of Object.entries(header)) {
    if (name === METADATA_KEY) continue;
    if (!isPlainObject(raw)) failTensor(name, `entry must be an object, got ${show(raw)}`);
    const info = raw as Record<string, unknown>;

    const dtype = info.dtype;
    if (typeof dtype !== 'string') failTensor(name, `dtype must be a string, got ${show(dtype)}`);
    if (!isSupportedDtype(dtype as string)) {
      failTensor(
        name,
        `unsupported dtype ${show(dtype)} (supported: ${SUPPORTED_DTYPES.join(', ')})`,
      );
    }
    const dt = dtype as SafetensorsDtype;

    const shape = info.shape;
    if (!Array.isArray(shape)) failTensor(name, `shape must be an array, got ${show(shape)}`);
    const shapeArr = shape as unknown[];
    for (let i = 0; i < shapeArr.length; i++) {
      if (!isNonNegativeSafeInt(shapeArr[i])) {
        failTensor(
          name,
          `shape ${show(shape)} must contain non-negative integers, got ${show(shapeArr[i])} at dim ${i}`,
        );
      }
    }
    const dims = shapeArr as number[];

    const offsets = info.data_offsets;
    if (
      !Array.isArray(offsets) ||
      offsets.length !== 2 ||
      !isNonNegativeSafeInt(offsets[0]) ||
      !isNonNegativeSafeInt(offsets[1])
    ) {
      return failTensor(name, `data_offsets must be two non-negative integers, got ${show(offsets)}`);
    }
    const begin = offsets[0] as number;
    const end = offsets[1] as number;
    if (begin > end) failTensor(name, `data_offsets [${begin}, ${end}] have begin > end`);
    if (end > dataLen) {
      failTensor(
        name,
        `data_offsets [${begin}, ${end}] extend beyond the ${dataLen}-byte data buffer (file truncated?)`,
      );
    }
    const needed = elementCount(dims) * BigInt(DTYPE_SIZES[dt]);
    if (BigInt(end - begin) !== needed) {
      failTensor(
        name,
        `data_offsets [${begin}, ${end}] give ${end - begin} bytes but ${dt} ${fmtShape(dims)} needs ${needed} bytes`,
      );
    }
    entries.push(Object.freeze({ name, dtype: dt, shape: Object.freeze([...dims]), begin, end }));
  }

  // --- tiling: contiguous from 0 to dataLen, no overlaps ---------------------------------------
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  let prev: SafetensorsEntry | undefined;
  for (const e of sorted) {
    if (e.begin < cursor && prev !== undefined) {
      failTensor(
        e.name,
        `data_offsets [${e.begin}, ${e.end}] overlap tensor ${quote(prev.name)} at [${prev.begin}, ${prev.end}]`,
      );
    }
    if (e.begin > cursor) {
      const after = prev === undefined ? 'the start of the data buffer' : `tensor ${quote(prev.name)}`;
      failTensor(
        e.name,
        `hole of ${e.begin - cursor} bytes at data bytes [${cursor}, ${e.begin}) between ${after} and this tensor`,
      );
    }
    cursor = e.end;
    prev = e;
  }
  if (cursor !== dataLen) {
    const last = prev === undefined ? 'no tensors' : `last tensor ${quote(prev.name)} ends at ${cursor}`;
    fail(`${dataLen - cursor} trailing bytes in the ${dataLen}-byte data buffer (${last})`);
  }

  return { dataStart, entries, metadata: Object.freeze(Object.fromEntries(metaEntries)) };
}

export function parseSafetensors(bytes: Uint8Array, opts: ParseOptions = {}): SafetensorsFile {
  if (!(bytes instanceof Uint8Array)) {
    throw new SafetensorsError(`${opts.source ?? 'safetensors'}: input must be a Uint8Array`);
  }
  const { dataStart, entries, metadata } = parseSafetensorsHeader(
    bytes.length,
    (offset, length) => bytes.subarray(offset, offset + length),
    opts,
  );
  // --- decode (only now allocate) -------------------------------------------------------------
  const tensors = new Map<string, SafetensorsTensor>();
  for (const e of entries) {
    const data = decodeTensorData(bytes, dataStart + e.begin, dataStart + e.end, e.dtype);
    tensors.set(e.name, Object.freeze({ name: e.name, dtype: e.dtype, shape: e.shape, data }));
  }
  return { tensors, metadata };
}

/**
 * The tensors of `entries` by name, each decoded by `decode` only when its `data` is read (a fresh
 * array on each read; nothing kept): for readers that validate a header first and decode on demand.
 */
export function lazyTensors(
  entries: readonly SafetensorsEntry[],
  decode: (e: SafetensorsEntry) => Float32Array | Int32Array | BigInt64Array,
): Map<string, SafetensorsTensor> {
  const tensors = new Map<string, SafetensorsTensor>();
  for (const e of entries) {
    tensors.set(
      e.name,
      Object.freeze({
        name: e.name,
        dtype: e.dtype,
        shape: e.shape,
        get data() {
          return decode(e);
        },
      }),
    );
  }
  return tensors;
}

/** Little-endian bytes `[start, end)` of `bytes` as a fresh array (F16/BF16 widened to float32). */
export function decodeTensorData(
  bytes: Uint8Array,
  start: number,
  end: number,
  dtype: SafetensorsDtype,
): Float32Array | Int32Array | BigInt64Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const nbytes = end - start;
  switch (dtype) {
    case 'F32': {
      const out = new Float32Array(nbytes / 4);
      if (LITTLE_ENDIAN_HOST) new Uint8Array(out.buffer).set(bytes.subarray(start, end));
      else for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(start + 4 * i, true);
      return out;
    }
    case 'I32': {
      const out = new Int32Array(nbytes / 4);
      if (LITTLE_ENDIAN_HOST) new Uint8Array(out.buffer).set(bytes.subarray(start, end));
      else for (let i = 0; i < out.length; i++) out[i] = view.getInt32(start + 4 * i, true);
      return out;
    }
    case 'I64': {
      const out = new BigInt64Array(nbytes / 8);
      if (LITTLE_ENDIAN_HOST) new Uint8Array(out.buffer).set(bytes.subarray(start, end));
      else for (let i = 0; i < out.length; i++) out[i] = view.getBigInt64(start + 8 * i, true);
      return out;
    }
    case 'F16': {
      const out = new Float32Array(nbytes / 2);
      const bits = new Uint32Array(out.buffer);
      for (let i = 0; i < out.length; i++) bits[i] = halfToFloatBits(view.getUint16(start + 2 * i, true));
      return out;
    }
    case 'BF16': {
      const out = new Float32Array(nbytes / 2);
      const bits = new Uint32Array(out.buffer);
      for (let i = 0; i < out.length; i++) bits[i] = view.getUint16(start + 2 * i, true) << 16;
      return out;
    }
  }
}

/** IEEE 754 binary16 bit pattern -> binary32 bit pattern (exact; keeps NaN payloads and signed zero). */
function halfToFloatBits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exp = (h >> 10) & 0x1f;
  let mant = h & 0x3ff;
  if (exp === 0) {
    if (mant === 0) return sign >>> 0;
    // Subnormal: value = mant * 2^-24; normalise into a float32 normal.
    let e = 127 - 15 + 1;
    while ((mant & 0x400) === 0) {
      mant <<= 1;
      e--;
    }
    mant &= 0x3ff;
    return (sign | (e << 23) | (mant << 13)) >>> 0;
  }
  if (exp === 0x1f) return (sign | 0x7f800000 | (mant << 13)) >>> 0;
  return (sign | ((exp + 127 - 15) << 23) | (mant << 13)) >>> 0;
}

/**
 * Values as float32; ints converted exactly; throws SafetensorsError if an I64/I32 value is not exactly
 * representable in float32 (|v| > 2^24). For float dtypes the tensor's own Float32Array is returned (no copy).
 */
export function toFloat32(t: SafetensorsTensor): Float32Array {
  const d = t.data;
  if (d instanceof Float32Array) return d;
  const out = new Float32Array(d.length);
  if (d instanceof Int32Array) {
    for (let i = 0; i < d.length; i++) {
      const v = d[i];
      if (v > F32_EXACT_INT_LIMIT || v < -F32_EXACT_INT_LIMIT) throw notF32(t, v, i);
      out[i] = v;
    }
    return out;
  }
  const lim = BigInt(F32_EXACT_INT_LIMIT);
  for (let i = 0; i < d.length; i++) {
    const v = d[i];
    if (v > lim || v < -lim) throw notF32(t, v, i);
    out[i] = Number(v);
  }
  return out;
}

function notF32(t: SafetensorsTensor, v: number | bigint, i: number): SafetensorsError {
  return new SafetensorsError(
    `safetensors: tensor ${quote(t.name)}: ${t.dtype} value ${v} at index ${i} is not exactly representable in float32 (|v| > 2^24)`,
  );
}

/** Values as JS numbers (I64 must be within Number.MAX_SAFE_INTEGER, else SafetensorsError). */
export function toNumbers(t: SafetensorsTensor): number[] {
  const d = t.data;
  if (!(d instanceof BigInt64Array)) return Array.from(d);
  const lim = BigInt(Number.MAX_SAFE_INTEGER);
  const out = new Array<number>(d.length);
  for (let i = 0; i < d.length; i++) {
    const v = d[i];
    if (v > lim || v < -lim) {
      throw new SafetensorsError(
        `safetensors: tensor ${quote(t.name)}: ${t.dtype} value ${v} at index ${i} exceeds Number.MAX_SAFE_INTEGER`,
      );
    }
    out[i] = Number(v);
  }
  return out;
}

const WRITE_DTYPES: readonly string[] = ['F32', 'F16', 'BF16', 'I32', 'I64'];

const F32_SCRATCH = new Float32Array(1);
const F32_BITS = new Uint32Array(F32_SCRATCH.buffer);

/** The binary16 bits of `v` when binary16 holds it exactly (NaN and ±Infinity included), else null. */
function exactF16Bits(v: number): number | null {
  F32_SCRATCH[0] = v;
  if (F32_SCRATCH[0] !== v && !Number.isNaN(v)) return null;
  const b = F32_BITS[0];
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  const mant = b & 0x7fffff;
  if (exp === 0xff) return mant === 0 ? sign | 0x7c00 : sign | 0x7e00;
  if (exp === 0 && mant === 0) return sign;
  const e = exp - 112; // binary16's biased exponent
  if (e >= 31) return null;
  if (e >= 1) return (mant & 0x1fff) === 0 ? sign | (e << 10) | (mant >>> 13) : null;
  const shift = 14 - e; // a subnormal: (1.mant) · 2^(e − 15) = m · 2^−24
  if (exp === 0 || shift > 24) return null;
  const full = mant | 0x800000;
  return (full & ((1 << shift) - 1)) === 0 ? sign | (full >>> shift) : null;
}

/** The bfloat16 bits of `v` when bfloat16 holds it exactly, else null. */
function exactBF16Bits(v: number): number | null {
  F32_SCRATCH[0] = v;
  if (F32_SCRATCH[0] !== v && !Number.isNaN(v)) return null;
  if (Number.isNaN(v)) return 0x7fc0;
  const b = F32_BITS[0];
  return (b & 0xffff) === 0 ? b >>> 16 : null;
}

/** Where `writeSafetensors` puts everything: the 8-byte prefix and padded header, then each tensor's data. */
export interface SafetensorsPlan {
  /** The 8-byte length prefix and the JSON header, padded with spaces so the data starts at a multiple of 8. */
  readonly head: Uint8Array;
  /** In file order (sorted by name); `begin` is relative to the end of `head`. */
  readonly tensors: readonly PlannedTensor[];
  /** Bytes of data after `head`. */
  readonly dataLength: number;
}

export interface PlannedTensor {
  readonly name: string;
  readonly t: TensorToWrite;
  readonly begin: number;
  readonly count: number;
}

/** Validates what is to be written and lays it out (no tensor data is copied). Deterministic: tensors in sorted name order. */
export function planSafetensors(
  tensors: Readonly<Record<string, TensorToWrite>>,
  metadata?: Readonly<Record<string, string>>,
): SafetensorsPlan {
  const fail = (msg: string): never => {
    throw new SafetensorsError(`safetensors: ${msg}`);
  };
  const names = Object.keys(tensors).sort();
  const parts: string[] = [];

  if (metadata !== undefined) {
    const keys = Object.keys(metadata).sort();
    for (const k of keys) {
      const v: unknown = metadata[k];
      if (typeof v !== 'string') fail(`${METADATA_KEY} value for key ${quote(k)} must be a string, got ${show(v)}`);
    }
    const body = keys.map((k) => `${JSON.stringify(k)}:${JSON.stringify(metadata[k])}`).join(',');
    parts.push(`${JSON.stringify(METADATA_KEY)}:{${body}}`);
  }

  let offset = 0;
  const plan: PlannedTensor[] = [];
  for (const name of names) {
    const failT = (msg: string): never => fail(`tensor ${quote(name)}: ${msg}`);
    if (name === METADATA_KEY) failT(`the name ${METADATA_KEY} is reserved`);
    const t = tensors[name];
    if (!WRITE_DTYPES.includes(t.dtype)) {
      failT(`cannot write dtype ${show(t.dtype)} (supported: ${WRITE_DTYPES.join(', ')})`);
    }
    if (!Array.isArray(t.shape) || !t.shape.every(isNonNegativeSafeInt)) {
      failT(`shape must be an array of non-negative integers, got ${show(t.shape)}`);
    }
    const count = elementCount(t.shape);
    if (BigInt(t.data.length) !== count) {
      failT(`shape ${fmtShape(t.shape)} needs ${count} values but data has ${t.data.length}`);
    }
    const nbytes = t.data.length * DTYPE_SIZES[t.dtype];
    const shapeJson = `[${t.shape.join(',')}]`;
    parts.push(
      `${JSON.stringify(name)}:{"dtype":"${t.dtype}","shape":${shapeJson},"data_offsets":[${offset},${offset + nbytes}]}`,
    );
    plan.push({ name, t, begin: offset, count: t.data.length });
    offset += nbytes;
    if (!Number.isSafeInteger(offset)) failT('total data size is too large');
  }

  const headerBytes = new TextEncoder().encode(`{${parts.join(',')}}`);
  const headerLen = Math.ceil(headerBytes.length / 8) * 8;
  const head = new Uint8Array(8 + headerLen);
  new DataView(head.buffer).setBigUint64(0, BigInt(headerLen), true);
  head.set(headerBytes, 8);
  head.fill(0x20, 8 + headerBytes.length, 8 + headerLen);
  return { head, tensors: plan, dataLength: offset };
}

/** Deterministic: tensors in sorted name order, header padded with spaces so the data starts at a multiple of 8. */
export function writeSafetensors(
  tensors: Readonly<Record<string, TensorToWrite>>,
  metadata?: Readonly<Record<string, string>>,
): Uint8Array {
  const { head, tensors: plan, dataLength } = planSafetensors(tensors, metadata);
  const out = new Uint8Array(head.length + dataLength);
  out.set(head, 0);
  for (const p of plan) encodeTensorData(out, head.length + p.begin, p, 0, p.count);
  return out;
}

/**
 * Elements `[from, to)` of a planned tensor as little-endian bytes into `out` at `pos` (so a large
 * tensor can be written in chunks); SafetensorsError names a value its dtype cannot hold.
 */
export function encodeTensorData(out: Uint8Array, pos: number, p: PlannedTensor, from: number, to: number): void {
  const { name, t } = p;
  const bad = (i: number, v: number | bigint): never => {
    throw new SafetensorsError(
      `safetensors: tensor ${quote(name)}: value ${show(typeof v === 'bigint' ? v.toString() : v)} at index ${i} ` +
        `cannot be stored as ${t.dtype}`,
    );
  };
  const size = DTYPE_SIZES[t.dtype];
  const d = t.data;
  // Byte-exact fast path when the source already has the target layout (keeps NaN payloads too).
  if (LITTLE_ENDIAN_HOST && ArrayBuffer.isView(d)) {
    const match =
      (t.dtype === 'F32' && d instanceof Float32Array) ||
      (t.dtype === 'I32' && d instanceof Int32Array) ||
      (t.dtype === 'I64' && d instanceof BigInt64Array);
    if (match) {
      out.set(new Uint8Array(d.buffer, d.byteOffset + from * size, (to - from) * size), pos);
      return;
    }
  }
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  for (let i = from; i < to; i++) {
    const v: number | bigint = d[i];
    const at = pos + size * (i - from);
    switch (t.dtype) {
      case 'F32': {
        const n = typeof v === 'bigint' ? Number(v) : v;
        if (typeof n !== 'number') bad(i, v);
        view.setFloat32(at, n, true);
        break;
      }
      case 'F16':
      case 'BF16': {
        const n = typeof v === 'bigint' ? Number(v) : v;
        const bits = typeof n === 'number' ? (t.dtype === 'F16' ? exactF16Bits(n) : exactBF16Bits(n)) : null;
        if (bits === null) return bad(i, v);
        view.setUint16(at, bits, true);
        break;
      }
      case 'I32': {
        const n = typeof v === 'bigint' ? Number(v) : v;
        if (!Number.isInteger(n) || n < -2147483648 || n > 2147483647) bad(i, v);
        view.setInt32(at, n, true);
        break;
      }
      case 'I64': {
        let b: bigint;
        if (typeof v === 'bigint') b = v;
        else if (Number.isSafeInteger(v)) b = BigInt(v);
        else return bad(i, v);
        view.setBigInt64(at, b, true);
        break;
      }
    }
  }
}
