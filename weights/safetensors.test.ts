import { describe, it, expect } from 'vitest';
import fs from 'node:fs';
import {
  parseSafetensors,
  writeSafetensors,
  toFloat32,
  toNumbers,
  SafetensorsError,
  type ParseOptions,
  type SafetensorsTensor,
} from './safetensors';

// ---------------------------------------------------------------------------------------------
// helpers

const fixture = (rel: string): Uint8Array =>
  new Uint8Array(fs.readFileSync(new URL(`../../shared/fixtures/${rel}`, import.meta.url)));

/** Build a file by hand: prefix + header text (optionally padded with spaces to `headerLen`) + data. */
function build(header: unknown, data: Uint8Array = new Uint8Array(0), headerLen?: number): Uint8Array {
  const text = typeof header === 'string' ? header : JSON.stringify(header);
  const hb = new TextEncoder().encode(text);
  const n = headerLen ?? hb.length;
  const out = new Uint8Array(8 + n + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(n), true);
  out.fill(0x20, 8, 8 + n);
  out.set(hb, 8);
  out.set(data, 8 + n);
  return out;
}

/** A file whose prefix claims `len` header bytes, followed by `rest` bytes of '{'. */
function withHeaderLen(len: bigint, rest = 16): Uint8Array {
  const out = new Uint8Array(8 + rest).fill(0x7b);
  new DataView(out.buffer).setBigUint64(0, len, true);
  return out;
}

function f32Bytes(values: number[]): Uint8Array {
  return new Uint8Array(new Float32Array(values).buffer);
}

function u16Bytes(values: number[]): Uint8Array {
  const out = new Uint8Array(values.length * 2);
  const v = new DataView(out.buffer);
  values.forEach((x, i) => v.setUint16(2 * i, x, true));
  return out;
}

function expectError(bytes: Uint8Array, re: RegExp, opts?: ParseOptions): SafetensorsError {
  let caught: unknown;
  try {
    parseSafetensors(bytes, opts);
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(SafetensorsError);
  const err = caught as SafetensorsError;
  expect(err.name).toBe('SafetensorsError');
  expect(err.message).toMatch(re);
  return err;
}

function get(file: ReturnType<typeof parseSafetensors>, name: string): SafetensorsTensor {
  const t = file.tensors.get(name);
  if (t === undefined) throw new Error(`missing tensor ${name}`);
  return t;
}

/** Element values as a plain array (works for number and bigint typed arrays alike). */
function vals(d: Iterable<number | bigint>): (number | bigint)[] {
  const out: (number | bigint)[] = [];
  for (const v of d) out.push(v);
  return out;
}

const product = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** mulberry32: small deterministic PRNG. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// ---------------------------------------------------------------------------------------------

describe('writeSafetensors / parseSafetensors round trip', () => {
  const tensors = {
    'w.f32': { dtype: 'F32' as const, shape: [2, 3], data: new Float32Array([1.5, -2, 3.25, 0, -0.125, 1e-30]) },
    'list.f32': { dtype: 'F32' as const, shape: [3], data: [0.1, Infinity, -Infinity] },
    'i32': { dtype: 'I32' as const, shape: [4], data: new Int32Array([-2147483648, 2147483647, 0, 7]) },
    'i32.list': { dtype: 'I32' as const, shape: [2, 1], data: [-5, 12] },
    'i64': {
      dtype: 'I64' as const,
      shape: [3],
      data: new BigInt64Array([-(2n ** 63n), 2n ** 63n - 1n, 42n]),
    },
    'scalar.i64': { dtype: 'I64' as const, shape: [], data: [100] },
    'scalar.f32': { dtype: 'F32' as const, shape: [], data: [2.5] },
    'empty': { dtype: 'F32' as const, shape: [0, 3], data: [] },
    'empty.i64': { dtype: 'I64' as const, shape: [5, 0], data: new BigInt64Array(0) },
  };
  const metadata = { format: 'pt', note: 'ünïcode ✓ "quoted"' };

  it('preserves dtype, shape, values and metadata', () => {
    const file = parseSafetensors(writeSafetensors(tensors, metadata));
    expect([...file.tensors.keys()].sort()).toEqual(Object.keys(tensors).sort());
    expect(file.metadata).toEqual(metadata);

    const w = get(file, 'w.f32');
    expect(w.name).toBe('w.f32');
    expect(w.dtype).toBe('F32');
    expect(w.shape).toEqual([2, 3]);
    expect(w.data).toBeInstanceOf(Float32Array);
    expect(vals(w.data)).toEqual([1.5, -2, 3.25, 0, -0.125, Math.fround(1e-30)]);

    expect(vals(get(file, 'list.f32').data)).toEqual([Math.fround(0.1), Infinity, -Infinity]);

    const i32 = get(file, 'i32');
    expect(i32.dtype).toBe('I32');
    expect(i32.data).toBeInstanceOf(Int32Array);
    expect(vals(i32.data)).toEqual([-2147483648, 2147483647, 0, 7]);
    expect(get(file, 'i32.list').shape).toEqual([2, 1]);
    expect(vals(get(file, 'i32.list').data)).toEqual([-5, 12]);

    const i64 = get(file, 'i64');
    expect(i64.dtype).toBe('I64');
    expect(i64.data).toBeInstanceOf(BigInt64Array);
    expect(vals(i64.data)).toEqual([-(2n ** 63n), 2n ** 63n - 1n, 42n]);

    const s = get(file, 'scalar.i64');
    expect(s.shape).toEqual([]);
    expect(vals(s.data)).toEqual([100n]);
    expect(toNumbers(s)).toEqual([100]);
    expect(vals(get(file, 'scalar.f32').data)).toEqual([2.5]);

    const e = get(file, 'empty');
    expect(e.shape).toEqual([0, 3]);
    expect(e.data).toBeInstanceOf(Float32Array);
    expect(e.data.length).toBe(0);
    const e64 = get(file, 'empty.i64');
    expect(e64.shape).toEqual([5, 0]);
    expect(e64.data).toBeInstanceOf(BigInt64Array);
    expect(e64.data.length).toBe(0);
  });

  it('returns fresh copies, never views into the input', () => {
    const bytes = writeSafetensors(tensors);
    const file = parseSafetensors(bytes);
    for (const t of file.tensors.values()) expect(t.data.buffer).not.toBe(bytes.buffer);
    bytes.fill(0);
    expect(vals(get(file, 'i32').data)).toEqual([-2147483648, 2147483647, 0, 7]);
  });

  it('is byte-for-byte deterministic regardless of insertion order', () => {
    const reversed = Object.fromEntries(Object.entries(tensors).reverse());
    const a = writeSafetensors(tensors, metadata);
    const b = writeSafetensors(reversed, { note: metadata.note, format: 'pt' });
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
    expect(Buffer.from(writeSafetensors(tensors, metadata)).equals(Buffer.from(a))).toBe(true);

    const headerLen = Number(new DataView(a.buffer).getBigUint64(0, true));
    expect(headerLen % 8).toBe(0);
    const header = JSON.parse(new TextDecoder().decode(a.subarray(8, 8 + headerLen))) as Record<
      string,
      { data_offsets: [number, number] }
    >;
    const names = Object.keys(header).filter((k) => k !== '__metadata__');
    expect(names).toEqual(Object.keys(tensors).sort());
    // data laid out in the same sorted order, contiguous from 0
    let cursor = 0;
    for (const n of names) {
      expect(header[n].data_offsets[0]).toBe(cursor);
      cursor = header[n].data_offsets[1];
    }
    expect(8 + headerLen + cursor).toBe(a.length);
  });

  it('writes the exact expected bytes for a tiny file', () => {
    const bytes = writeSafetensors({ a: { dtype: 'I32', shape: [1], data: [7] } });
    const json = '{"a":{"dtype":"I32","shape":[1],"data_offsets":[0,4]}}'; // 54 bytes -> padded to 56
    expect(json.length).toBe(54);
    const expected = new Uint8Array(8 + 56 + 4);
    expected[0] = 56;
    expected.set(new TextEncoder().encode(json), 8);
    expected[8 + 54] = 0x20;
    expected[8 + 55] = 0x20;
    expected[8 + 56] = 7;
    expect(vals(bytes)).toEqual(vals(expected));
  });

  it('sorts integer-like names as strings and writes no metadata key when none is given', () => {
    const bytes = writeSafetensors({
      '10': { dtype: 'F32', shape: [1], data: [10] },
      '2': { dtype: 'F32', shape: [1], data: [2] },
      b: { dtype: 'F32', shape: [1], data: [3] },
    });
    const text = new TextDecoder().decode(bytes.subarray(8)).trimEnd();
    expect(text.indexOf('"10"')).toBeLessThan(text.indexOf('"2"'));
    expect(text).not.toContain('__metadata__');
    const file = parseSafetensors(bytes);
    expect(file.metadata).toEqual({});
    expect(vals(get(file, '2').data)).toEqual([2]);
    expect(vals(get(file, '10').data)).toEqual([10]);
  });

  it('rejects invalid tensors on write', () => {
    expect(() => writeSafetensors({ a: { dtype: 'F32', shape: [2, 2], data: [1, 2, 3] } })).toThrow(
      /tensor "a": shape \[2, 2\] needs 4 values but data has 3/,
    );
    expect(() => writeSafetensors({ a: { dtype: 'I32', shape: [1], data: [1.5] } })).toThrow(
      /tensor "a": value 1.5 at index 0 cannot be stored as I32/,
    );
    expect(() => writeSafetensors({ a: { dtype: 'I32', shape: [1], data: [2 ** 31] } })).toThrow(SafetensorsError);
    expect(() => writeSafetensors({ a: { dtype: 'I64', shape: [1], data: [2 ** 60] } })).toThrow(
      /cannot be stored as I64/,
    );
    expect(() => writeSafetensors({ a: { dtype: 'F32', shape: [-1], data: [] } })).toThrow(
      /tensor "a": shape must be an array of non-negative integers/,
    );
    expect(() => writeSafetensors({ __metadata__: { dtype: 'F32', shape: [], data: [1] } })).toThrow(
      /reserved/,
    );
  });
});

describe('real fixtures', () => {
  it('iddpm-small/weights.safetensors: 128 F32 tensors, 756163 elements', () => {
    const file = parseSafetensors(fixture('iddpm-small/weights.safetensors'), { source: 'weights.safetensors' });
    expect(file.tensors.size).toBe(128);
    let total = 0;
    for (const t of file.tensors.values()) {
      expect(t.dtype).toBe('F32');
      expect(t.data).toBeInstanceOf(Float32Array);
      expect(t.data.length).toBe(product(t.shape));
      total += t.data.length;
    }
    expect(total).toBe(756163);
    const te = get(file, 'time_embed.0.weight');
    expect(te.shape).toEqual([128, 32]);
    // first values, read independently with Python's struct module
    expect(vals(te.data.subarray(0, 4))).toEqual([
      -0.041053250432014465, -0.15381956100463867, 0.4976480305194855, 0.12394929677248001,
    ]);
    expect(get(file, 'time_embed.0.bias').shape).toEqual([128]);
    expect(file.metadata.format).toBe('pt');
    expect(file.metadata.source).toMatch(/^openai\/improved-diffusion@1bc7bbb/);
    expect(toFloat32(te)).toBe(te.data);
  });

  it('vanilla-small/weights.safetensors: 92 tensors, I64 scalar num_batches_tracked = 100', () => {
    const file = parseSafetensors(fixture('vanilla-small/weights.safetensors'));
    expect(file.tensors.size).toBe(92);
    const nbt = get(file, 'inc.double_conv.1.num_batches_tracked');
    expect(nbt.dtype).toBe('I64');
    expect(nbt.shape).toEqual([]);
    expect(nbt.data).toBeInstanceOf(BigInt64Array);
    expect(vals(nbt.data)).toEqual([100n]);
    expect(toNumbers(nbt)).toEqual([100]);
    expect(vals(toFloat32(nbt))).toEqual([100]);
    let total = 0;
    let i64Count = 0;
    for (const [name, t] of file.tensors) {
      total += product(t.shape);
      if (t.dtype === 'I64') {
        i64Count++;
        expect(name).toMatch(/\.num_batches_tracked$/);
      } else {
        expect(t.dtype).toBe('F32');
      }
    }
    expect(i64Count).toBeGreaterThan(0);
    expect(total).toBe(121904); // params + BN buffers, summed independently in Python
    const w = get(file, 'inc.double_conv.0.weight');
    expect(w.shape).toEqual([8, 3, 3, 3]);
    expect(vals(w.data.subarray(0, 4))).toEqual([
      0.0004915792378596961, 0.0022121125366538763, 0.04092944413423538, 0.2549048066139221,
    ]);
  });

  it('iddpm-small/io.safetensors: timesteps I64 [2] = [3, 517]', () => {
    const file = parseSafetensors(fixture('iddpm-small/io.safetensors'));
    const ts = get(file, 'timesteps');
    expect(ts.dtype).toBe('I64');
    expect(ts.shape).toEqual([2]);
    expect(vals(ts.data)).toEqual([3n, 517n]);
    expect(toNumbers(ts)).toEqual([3, 517]);
    const tf = get(file, 'timesteps_f32');
    expect(tf.dtype).toBe('F32');
    expect(vals(tf.data)).toEqual([3, 517]);
    expect(vals(toFloat32(ts))).toEqual(vals(tf.data));
    expect(file.metadata).toEqual({ fixture: 'iddpm-small' });
    const x = get(file, 'x');
    expect(x.shape).toEqual([2, 3, 16, 16]);
    expect(vals(x.data.subarray(0, 2))).toEqual([-0.3108336329460144, 0.5303759574890137]);
  });
});

describe('F16 / BF16 decoding', () => {
  it('decodes IEEE half precision, including subnormals, infinities and NaN', () => {
    const halves = [0x3c00, 0xc000, 0x7bff, 0x0001, 0x7c00, 0xfc00, 0x0000, 0x8000, 0x3555, 0x03ff, 0x0400, 0x7e00, 0x3800];
    const expected = [
      1,
      -2,
      65504,
      2 ** -24,
      Infinity,
      -Infinity,
      0,
      -0,
      0.333251953125,
      1023 * 2 ** -24, // largest subnormal
      2 ** -14, // smallest normal
      NaN,
      0.5,
    ];
    const file = parseSafetensors(
      build({ h: { dtype: 'F16', shape: [halves.length], data_offsets: [0, 2 * halves.length] } }, u16Bytes(halves)),
    );
    const h = get(file, 'h');
    expect(h.dtype).toBe('F16');
    expect(h.data).toBeInstanceOf(Float32Array);
    expect(vals(h.data)).toEqual(expected);
    expect(Object.is(h.data[7], -0)).toBe(true);
    expect(toFloat32(h)).toBe(h.data);
  });

  it('decodes bfloat16 as the upper half of a float32', () => {
    const bf = [0x3f80, 0x4049, 0xc000, 0x7f80, 0xff80, 0x0000, 0x8000, 0x3e80, 0x0001, 0x7fc0];
    const expected = [1, 3.140625, -2, Infinity, -Infinity, 0, -0, 0.25, 2 ** -133, NaN];
    const file = parseSafetensors(
      build({ b: { dtype: 'BF16', shape: [2, 5], data_offsets: [0, 2 * bf.length] } }, u16Bytes(bf)),
    );
    const b = get(file, 'b');
    expect(b.dtype).toBe('BF16');
    expect(b.shape).toEqual([2, 5]);
    expect(vals(b.data)).toEqual(expected);
    expect(Object.is(b.data[6], -0)).toBe(true);
  });
});

describe('toFloat32 / toNumbers', () => {
  const mk = (dtype: 'I32' | 'I64', data: Int32Array | BigInt64Array): SafetensorsTensor => ({
    name: 'ints',
    dtype,
    shape: [data.length],
    data,
  });

  it('converts ints exactly up to 2^24 and rejects beyond', () => {
    expect(vals(toFloat32(mk('I32', new Int32Array([-(2 ** 24), 2 ** 24, -7]))))).toEqual([
      -(2 ** 24),
      2 ** 24,
      -7,
    ]);
    expect(() => toFloat32(mk('I32', new Int32Array([0, 2 ** 24 + 1])))).toThrow(
      /^safetensors: tensor "ints": I32 value 16777217 at index 1 is not exactly representable in float32/,
    );
    expect(vals(toFloat32(mk('I64', new BigInt64Array([-(2n ** 24n), 5n]))))).toEqual([-(2 ** 24), 5]);
    expect(() => toFloat32(mk('I64', new BigInt64Array([-(2n ** 24n) - 1n])))).toThrow(SafetensorsError);
  });

  it('toNumbers rejects I64 beyond Number.MAX_SAFE_INTEGER', () => {
    const max = BigInt(Number.MAX_SAFE_INTEGER);
    expect(toNumbers(mk('I64', new BigInt64Array([max, -max, 0n])))).toEqual([
      Number.MAX_SAFE_INTEGER,
      -Number.MAX_SAFE_INTEGER,
      0,
    ]);
    expect(() => toNumbers(mk('I64', new BigInt64Array([1n, max + 1n])))).toThrow(
      /tensor "ints": I64 value 9007199254740992 at index 1 exceeds Number.MAX_SAFE_INTEGER/,
    );
    expect(toNumbers(mk('I32', new Int32Array([-3, 4])))).toEqual([-3, 4]);
  });
});

describe('hostile files', () => {
  const valid = writeSafetensors(
    {
      a: { dtype: 'F32', shape: [2], data: [1, 2] },
      b: { dtype: 'I64', shape: [1], data: [9] },
    },
    { k: 'v' },
  );
  const f32x2 = f32Bytes([1, 2]);

  it('file shorter than 8 bytes', () => {
    expectError(new Uint8Array(0), /^safetensors: file is 0 bytes, shorter than the 8-byte header length prefix$/);
    expectError(valid.subarray(0, 7), /^x\.st: file is 7 bytes, shorter than the 8-byte/, { source: 'x.st' });
  });

  it('header cut short', () => {
    expectError(valid.subarray(0, 20), /^safetensors: header length \d+ bytes exceeds the 12 bytes after the 8-byte prefix \(file is 20 bytes/);
  });

  it('data cut short', () => {
    expectError(valid.subarray(0, valid.length - 3), /tensor "b": data_offsets \[8, 16\] extend beyond the 13-byte data buffer/);
  });

  it('huge header lengths are rejected before allocation, naming both numbers', () => {
    expectError(withHeaderLen(2n ** 62n), /^safetensors: header length 4611686018427387904 bytes exceeds the maximum of 104857600 bytes$/);
    expectError(withHeaderLen(2n ** 40n), /header length 1099511627776 bytes exceeds the maximum of 104857600 bytes/);
    expectError(withHeaderLen(2n ** 64n - 1n), /header length 18446744073709551615 bytes exceeds the maximum/);
    expectError(withHeaderLen(64n, 64), /header length 64 bytes exceeds the maximum of 16 bytes/, { maxHeaderBytes: 16 });
  });

  it('header length larger than the file', () => {
    expectError(withHeaderLen(1000n, 40), /header length 1000 bytes exceeds the 40 bytes after the 8-byte prefix \(file is 48 bytes/);
  });

  it('non-JSON and non-UTF-8 headers', () => {
    expectError(build('{"a": '), /^safetensors: header is not valid JSON/);
    expectError(build('', new Uint8Array(0)), /header is not valid JSON/);
    const bad = build('{"a":1}');
    bad[10] = 0xff;
    expectError(bad, /header \(7 bytes\) is not valid UTF-8/);
  });

  it('header that is not an object', () => {
    expectError(build('[1, 2]'), /header must be a JSON object, got an array/);
    expectError(build('null'), /header must be a JSON object, got null/);
    expectError(build('"str"'), /header must be a JSON object, got a string/);
  });

  it('unknown dtype lists the supported ones', () => {
    expectError(
      build({ w: { dtype: 'F64', shape: [1], data_offsets: [0, 8] } }, new Uint8Array(8)),
      /^safetensors: tensor "w": unsupported dtype "F64" \(supported: F32, F16, BF16, I64, I32\)$/,
    );
    expectError(build({ w: { shape: [1], data_offsets: [0, 4] } }, f32Bytes([1])), /tensor "w": dtype must be a string, got undefined/);
  });

  it('bad shapes', () => {
    const t = (shape: unknown): Uint8Array => build({ w: { dtype: 'F32', shape, data_offsets: [0, 8] } }, f32x2);
    expectError(t([-2]), /tensor "w": shape \[-2\] must contain non-negative integers, got -2 at dim 0/);
    expectError(t([2, 0.5]), /tensor "w": shape \[2,0.5\] must contain non-negative integers, got 0.5 at dim 1/);
    expectError(t(['2']), /tensor "w": shape \["2"\] must contain non-negative integers/);
    expectError(t(2), /tensor "w": shape must be an array, got 2/);
    expectError(t(null), /tensor "w": shape must be an array, got null/);
    expectError(t([1e300]), /must contain non-negative integers, got 1e\+300/);
  });

  it('bad data_offsets', () => {
    const t = (data_offsets: unknown, data = f32x2): Uint8Array =>
      build({ w: { dtype: 'F32', shape: [2], data_offsets } }, data);
    expectError(t([0, 100]), /tensor "w": data_offsets \[0, 100\] extend beyond the 8-byte data buffer/);
    expectError(t([8, 0]), /tensor "w": data_offsets \[8, 0\] have begin > end/);
    expectError(t([-4, 4]), /tensor "w": data_offsets must be two non-negative integers, got \[-4,4\]/);
    expectError(t([0]), /data_offsets must be two non-negative integers, got \[0\]/);
    expectError(t([0, 8, 16]), /data_offsets must be two non-negative integers/);
    expectError(t([0, 7.5]), /data_offsets must be two non-negative integers/);
    expectError(t('0-8'), /data_offsets must be two non-negative integers, got "0-8"/);
    expectError(t([0, 2 ** 60]), /data_offsets must be two non-negative integers/);
  });

  it('byte length that does not match dtype * shape', () => {
    expectError(
      build({ 'input_blocks.0.0.weight': { dtype: 'F32', shape: [32, 3, 3, 3], data_offsets: [0, 400] } }, new Uint8Array(400)),
      /^weights\.safetensors: tensor "input_blocks\.0\.0\.weight": data_offsets \[0, 400\] give 400 bytes but F32 \[32, 3, 3, 3\] needs 3456 bytes$/,
      { source: 'weights.safetensors' },
    );
    expectError(
      build({ s: { dtype: 'I64', shape: [], data_offsets: [0, 4] } }, new Uint8Array(4)),
      /tensor "s": data_offsets \[0, 4\] give 4 bytes but I64 \[\] needs 8 bytes/,
    );
    // product overflowing 2^53 must still be compared exactly
    expectError(
      build({ big: { dtype: 'F32', shape: [2 ** 40, 2 ** 40], data_offsets: [0, 4] } }, new Uint8Array(4)),
      /needs 4835703278458516698824704 bytes/,
    );
  });

  it('overlapping tensors name both', () => {
    expectError(
      build(
        {
          a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
          b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] },
        },
        new Uint8Array(12),
      ),
      /tensor "b": data_offsets \[4, 12\] overlap tensor "a" at \[0, 8\]/,
    );
    expectError(
      build(
        {
          a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
          b: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
        },
        new Uint8Array(8),
      ),
      /overlap tensor "a"/,
    );
  });

  it('holes between tensors and trailing bytes', () => {
    expectError(
      build(
        {
          a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
          b: { dtype: 'F32', shape: [2], data_offsets: [12, 20] },
        },
        new Uint8Array(20),
      ),
      /tensor "b": hole of 4 bytes at data bytes \[8, 12\) between tensor "a" and this tensor/,
    );
    expectError(
      build({ a: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, new Uint8Array(12)),
      /tensor "a": hole of 4 bytes .* between the start of the data buffer and this tensor/,
    );
    expectError(
      build({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, new Uint8Array(12)),
      /^safetensors: 4 trailing bytes in the 12-byte data buffer \(last tensor "a" ends at 8\)$/,
    );
    expectError(build({}, new Uint8Array(3)), /3 trailing bytes in the 3-byte data buffer \(no tensors\)/);
  });

  it('bad metadata and bad entries', () => {
    expectError(build({ __metadata__: { a: 'ok', b: 1 } }), /__metadata__ value for key "b" must be a string, got 1/);
    expectError(build({ __metadata__: ['x'] }), /__metadata__ must be an object of string values/);
    expectError(build({ __metadata__: 'x' }), /__metadata__ must be an object of string values, got "x"/);
    expectError(build({ w: [1, 2] }), /tensor "w": entry must be an object, got \[1,2\]/);
    expectError(build({ w: null }), /tensor "w": entry must be an object, got null/);
  });

  it('rejects maxHeaderBytes that is not a number', () => {
    expectError(valid, /maxHeaderBytes must be a non-negative number/, { maxHeaderBytes: -1 });
  });

  it('accepts edge cases that are legal', () => {
    expect(parseSafetensors(build({})).tensors.size).toBe(0);
    expect(parseSafetensors(build({ __metadata__: null })).metadata).toEqual({});
    // header padded with spaces; a tensor named like a prototype key
    const f = parseSafetensors(
      build(
        {
          __proto__x: { dtype: 'F32', shape: [1], data_offsets: [0, 4] },
          e: { dtype: 'I32', shape: [0], data_offsets: [4, 4] },
        },
        f32Bytes([3]),
        200,
      ),
    );
    expect(vals(get(f, '__proto__x').data)).toEqual([3]);
    expect(get(f, 'e').data.length).toBe(0);
    const proto = parseSafetensors(build('{"__proto__":{"dtype":"F32","shape":[],"data_offsets":[0,4]},"__metadata__":{"__proto__":"p"}}', f32Bytes([5])));
    expect(vals(get(proto, '__proto__').data)).toEqual([5]);
    expect(Object.prototype.hasOwnProperty.call(proto.metadata, '__proto__')).toBe(true);
    expect(proto.metadata['__proto__']).toBe('p');
  });

  it('decodes correctly from an unaligned header length and an unaligned byteOffset', () => {
    const data = new Uint8Array(4 + 4 + 8 + 4);
    const dv = new DataView(data.buffer);
    dv.setFloat32(0, -1.25, true);
    dv.setInt32(4, -123456, true);
    dv.setBigInt64(8, -(2n ** 40n) - 3n, true);
    dv.setUint16(16, 0x3c00, true);
    dv.setUint16(18, 0x4049, true);
    const header = {
      f: { dtype: 'F32', shape: [1], data_offsets: [0, 4] },
      i: { dtype: 'I32', shape: [1], data_offsets: [4, 8] },
      l: { dtype: 'I64', shape: [1], data_offsets: [8, 16] },
      h: { dtype: 'F16', shape: [1], data_offsets: [16, 18] },
      b: { dtype: 'BF16', shape: [1], data_offsets: [18, 20] },
    };
    const textLen = new TextEncoder().encode(JSON.stringify(header)).length;
    for (const pad of [1, 2, 3]) {
      let headerLen = textLen + pad;
      if (headerLen % 4 === 0) headerLen++;
      expect(headerLen % 4).not.toBe(0);
      const file = build(header, data, headerLen);
      for (const shift of [0, 1, 3]) {
        const host = new Uint8Array(file.length + shift + 2);
        host.set(file, shift);
        const view = host.subarray(shift, shift + file.length);
        const parsed = parseSafetensors(view);
        expect(vals(get(parsed, 'f').data)).toEqual([-1.25]);
        expect(vals(get(parsed, 'i').data)).toEqual([-123456]);
        expect(vals(get(parsed, 'l').data)).toEqual([-(2n ** 40n) - 3n]);
        expect(vals(get(parsed, 'h').data)).toEqual([1]);
        expect(vals(get(parsed, 'b').data)).toEqual([3.140625]);
      }
    }
  });
});

describe('fuzz', () => {
  it('mutated files either parse or throw SafetensorsError, nothing else', () => {
    const base = writeSafetensors(
      {
        'a.weight': { dtype: 'F32', shape: [3, 2], data: [1, 2, 3, 4, 5, 6] },
        'b.ids': { dtype: 'I64', shape: [2], data: [3, 517] },
        'c.idx': { dtype: 'I32', shape: [], data: [-1] },
        'd.empty': { dtype: 'F32', shape: [0], data: [] },
      },
      { format: 'pt' },
    );
    const headerEnd = 8 + Number(new DataView(base.buffer).getBigUint64(0, true));
    const rand = prng(0x5afe7e45);
    const int = (n: number): number => Math.floor(rand() * n);
    let parsed = 0;
    let rejected = 0;
    for (let iter = 0; iter < 300; iter++) {
      let bytes = base.slice();
      const mode = int(5);
      const flips = 1 + int(4);
      if (mode === 0) {
        // flip random bytes anywhere
        for (let k = 0; k < flips; k++) bytes[int(bytes.length)] = int(256);
      } else if (mode === 1) {
        // flip bytes inside the JSON header, favouring digits and structure
        const alphabet = '0123456789-.,:[]{}" e';
        for (let k = 0; k < flips; k++) {
          bytes[8 + int(headerEnd - 8)] = rand() < 0.7 ? alphabet.charCodeAt(int(alphabet.length)) : int(256);
        }
      } else if (mode === 2) {
        // truncate
        bytes = bytes.slice(0, int(bytes.length));
      } else if (mode === 3) {
        // corrupt the length prefix
        bytes[int(8)] = int(256);
      } else {
        // append junk
        const extra = new Uint8Array(1 + int(16)).map(() => int(256));
        const grown = new Uint8Array(bytes.length + extra.length);
        grown.set(bytes);
        grown.set(extra, bytes.length);
        bytes = grown;
      }
      try {
        const file = parseSafetensors(bytes, { source: 'fuzz' });
        for (const t of file.tensors.values()) expect(t.data.length).toBe(product(t.shape));
        parsed++;
      } catch (e) {
        if (!(e instanceof SafetensorsError)) throw new Error(`iteration ${iter}: non-SafetensorsError ${String(e)}`);
        expect(e.message.startsWith('fuzz: ')).toBe(true);
        rejected++;
      }
    }
    expect(parsed + rejected).toBe(300);
    expect(parsed).toBeGreaterThan(0);
    expect(rejected).toBeGreaterThan(0);
  });
});
