/** `.safetensors` on disk: tensor-by-tensor reads (files over 2 GiB), the shared header checks, non-regular files, atomic writes. */
import { afterAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { closeSync, ftruncateSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync, writeSync, lstatSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseSafetensors, SafetensorsError, writeSafetensors, type TensorToWrite } from '../weights/safetensors';
import { openSafetensors, readSafetensorsFile, writeSafetensorsFile } from './safetensors-file';
import { FileError, readTextFile, writeFileAtomic } from './file-node';

const dir = mkdtempSync(join(tmpdir(), 'unet-stfile-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A file by hand: prefix + header text (padded with spaces to a multiple of 8) + data. */
function build(header: unknown, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  const hb = new TextEncoder().encode(JSON.stringify(header));
  const n = Math.ceil(hb.length / 8) * 8;
  const out = new Uint8Array(8 + n + data.length).fill(0x20, 8, 8 + n);
  new DataView(out.buffer).setBigUint64(0, BigInt(n), true);
  out.set(hb, 8);
  out.set(data, 8 + n);
  return out;
}

/** A file whose header is exactly `text`. */
function raw(text: string): Uint8Array {
  const hb = new TextEncoder().encode(text);
  const out = new Uint8Array(8 + hb.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(hb.length), true);
  out.set(hb, 8);
  return out;
}

const put = (name: string, bytes: Uint8Array): string => {
  const p = join(dir, name);
  writeFileSync(p, bytes);
  return p;
};

const errorOf = (f: () => unknown): Error => {
  try {
    f();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected an error');
};

const TENSORS: Record<string, TensorToWrite> = {
  'a.weight': { dtype: 'F32', shape: [3, 5], data: Float32Array.from({ length: 15 }, (_, i) => i * 0.25 - 1) },
  b: { dtype: 'F32', shape: [7], data: [1, -2, 3.5, NaN, Infinity, -0, 1e-40] },
  c: { dtype: 'I32', shape: [2, 3], data: [1, -2, 2147483647, -2147483648, 0, 7] },
  d: { dtype: 'I64', shape: [3], data: new BigInt64Array([5n, -(2n ** 62n), 9007199254740993n]) },
  e: { dtype: 'F32', shape: [0], data: [] },
};

describe('writeSafetensorsFile / openSafetensors', () => {
  it('writes the same bytes as writeSafetensors, in chunks of any size', () => {
    const want = writeSafetensors(TENSORS, { producer: 'test' });
    for (const chunkBytes of [8, 12, 64, 1 << 20]) {
      const p = join(dir, `w${chunkBytes}.safetensors`);
      writeSafetensorsFile(p, TENSORS, { producer: 'test' }, { chunkBytes });
      expect(new Uint8Array(readFileSync(p))).toEqual(want);
    }
  });

  it('reads what parseSafetensors reads, tensor by tensor, through buffers of any size', () => {
    const p = join(dir, 'w64.safetensors');
    const want = parseSafetensors(new Uint8Array(readFileSync(p)));
    for (const chunkBytes of [8, 24, 1 << 20]) {
      const got = readSafetensorsFile(p, { chunkBytes });
      expect(got.metadata).toEqual({ producer: 'test' });
      expect([...got.tensors.keys()]).toEqual([...want.tensors.keys()]);
      for (const [name, t] of want.tensors) {
        const g = got.tensors.get(name)!;
        expect(g.dtype).toBe(t.dtype);
        expect(g.shape).toEqual(t.shape);
        expect(g.data).toEqual(t.data);
      }
    }
  });

  it('decodes F16 and BF16 from disk with the in-memory decoder, across chunk boundaries', () => {
    const halves = [0x3c00, 0xc000, 0x7c00, 0x0001, 0x8000, 0x3555, 0x7bff]; // 1, -2, inf, 2^-24, -0, 0.333, 65504
    const data = new Uint8Array(halves.length * 4);
    const v = new DataView(data.buffer);
    halves.forEach((h, i) => v.setUint16(2 * i, h, true));
    halves.forEach((h, i) => v.setUint16(2 * halves.length + 2 * i, h, true));
    const bytes = build(
      {
        h: { dtype: 'F16', shape: [halves.length], data_offsets: [0, 2 * halves.length] },
        b: { dtype: 'BF16', shape: [halves.length], data_offsets: [2 * halves.length, 4 * halves.length] },
      },
      data,
    );
    const p = put('half.safetensors', bytes);
    const want = parseSafetensors(bytes);
    for (const chunkBytes of [8, 10, 4096]) {
      const got = readSafetensorsFile(p, { chunkBytes });
      expect(got.tensors.get('h')!.data).toEqual(want.tensors.get('h')!.data);
      expect(got.tensors.get('b')!.data).toEqual(want.tensors.get('b')!.data);
    }
    expect(Array.from(want.tensors.get('h')!.data as Float32Array).slice(0, 3)).toEqual([1, -2, Infinity]);
    const r = openSafetensors(p, { chunkBytes: 8 });
    expect(Array.from(r.readRange('h', 1, 2) as Float32Array)).toEqual([-2, Infinity]);
    r.close();
  });

  it('validates the header with the same code and the same messages as parseSafetensors', () => {
    const good = writeSafetensors({ a: { dtype: 'F32', shape: [2], data: [1, 2] }, b: { dtype: 'I64', shape: [1], data: [9] } });
    const hostile: [string, Uint8Array][] = [
      ['empty', new Uint8Array(0)],
      ['short prefix', good.subarray(0, 7)],
      ['header cut', good.subarray(0, 20)],
      ['data cut', good.subarray(0, good.length - 3)],
      ['trailing', Uint8Array.from([...good, 1, 2, 3])],
      ['not json', raw('{"a": ')],
      ['bad dtype', build({ w: { dtype: 'F64', shape: [1], data_offsets: [0, 8] } }, new Uint8Array(8))],
      ['hole', build({ w: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, new Uint8Array(8))],
      ['overlap', build({ w: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, v: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, new Uint8Array(8))],
      ['huge header length', Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 64, 0x7b, 0x7d])],
      ['deeply nested shape', raw(`{"w":{"dtype":"F32","shape":${'['.repeat(100_000)}${']'.repeat(100_000)},"data_offsets":[0,0]}}`)],
    ];
    for (const [what, bytes] of hostile) {
      const p = put(`hostile-${what.replace(/ /g, '-')}.safetensors`, bytes);
      const mem = errorOf(() => parseSafetensors(bytes, { source: 'in.safetensors' }));
      const disk = errorOf(() => openSafetensors(p, { source: 'in.safetensors' }));
      expect(mem, what).toBeInstanceOf(SafetensorsError);
      expect(disk, what).toBeInstanceOf(SafetensorsError);
      expect(disk.message, what).toBe(mem.message);
    }
    // A nested hostile value is shown cut short, never stringified whole (or recursed into).
    expect(errorOf(() => parseSafetensors(hostile[10][1])).message).toMatch(/^safetensors: tensor "w": shape \[{120}\.\.\. must contain non-negative integers, got \[{120}\.\.\. at dim 0$/);
  });

  it('refuses a FIFO, /dev/zero and a directory before reading a byte', () => {
    const fifo = join(dir, 'pipe.safetensors');
    execFileSync('mkfifo', [fifo]);
    const cases: [string, RegExp][] = [
      [fifo, /cannot read safetensors file ".*pipe\.safetensors": it is a FIFO \(named pipe\), not a regular file/],
      ['/dev/zero', /cannot read safetensors file "\/dev\/zero": it is a character device, not a regular file/],
      [dir, /it is a directory, not a regular file/],
      [join(dir, 'missing.safetensors'), /cannot read safetensors file ".*missing\.safetensors": ENOENT/],
    ];
    for (const [p, re] of cases) {
      const e = errorOf(() => openSafetensors(p));
      expect(e).toBeInstanceOf(FileError);
      expect(e.message).toMatch(re);
      expect(errorOf(() => readTextFile(p, 'graph'))).toBeInstanceOf(FileError);
    }
    expect(errorOf(() => readTextFile('/dev/zero', 'graph')).message).toBe('cannot read graph "/dev/zero": it is a character device, not a regular file');
  });

  it('refuses text files over the limit before reading them', () => {
    const p = put('big.json', new Uint8Array(2000).fill(0x20));
    expect(readTextFile(p, 'config', 2000)).toHaveLength(2000);
    expect(errorOf(() => readTextFile(p, 'config', 1999)).message).toMatch(/config ".*big\.json" is 2\.0 KiB; the limit is 2\.0 KiB/);
  });

  it('reads a sparse file over 2 GiB: the header, a slice of a 2.4 GB tensor, and a tensor after the 2 GiB mark', () => {
    const bigElements = 600_000_000;
    const bigBytes = bigElements * 4;
    const tail = Float32Array.of(1.5, -2.25, 3e-7, 4096);
    const head = build({
      __metadata__: { format: 'pt' },
      big: { dtype: 'F32', shape: [bigElements], data_offsets: [0, bigBytes] },
      tail: { dtype: 'F32', shape: [2, 2], data_offsets: [bigBytes, bigBytes + 16] },
    });
    const p = join(dir, 'sparse.safetensors');
    const fd = openSync(p, 'w');
    try {
      writeSync(fd, head, 0, head.length, 0);
      ftruncateSync(fd, head.length + bigBytes + 16);
      writeSync(fd, new Uint8Array(tail.buffer), 0, 16, head.length + bigBytes);
    } finally {
      closeSync(fd);
    }
    try {
      expect(statSync(p).size).toBeGreaterThan(2 ** 31);
      const r = openSafetensors(p);
      try {
        expect(r.size).toBe(head.length + bigBytes + 16);
        expect(r.header.metadata).toEqual({ format: 'pt' });
        expect(r.entry('big')).toMatchObject({ dtype: 'F32', shape: [bigElements], begin: 0, end: bigBytes });
        expect(r.header.dataStart + r.entry('tail')!.begin).toBeGreaterThan(2 ** 31);
        const t = r.read('tail');
        expect(t.shape).toEqual([2, 2]);
        expect(Array.from(t.data as Float32Array)).toEqual(Array.from(tail));
        expect(Array.from(r.readRange('big', bigElements - 3, 3) as Float32Array)).toEqual([0, 0, 0]);
        expect(Array.from(r.readRange('big', 560_000_000, 2) as Float32Array)).toEqual([0, 0]); // bytes 2.24e9: past 2 GiB
        expect(Array.from(r.readRange('big', 0, 2) as Float32Array)).toEqual([0, 0]);
        expect(errorOf(() => r.readRange('big', bigElements - 1, 2)).message).toMatch(/has 600000000 elements; cannot read \[599999999, 600000001\)/);
        // The lazy view knows every shape without reading data.
        expect(r.lazy().tensors.get('big')!.shape).toEqual([bigElements]);
      } finally {
        r.close();
      }
    } finally {
      rmSync(p);
    }
  });
});

describe('atomic writes', () => {
  const leftovers = (d: string) => readdirSync(d).filter((f) => f.endsWith('.tmp'));

  it('a failure in the middle of writing leaves the old file intact and no temporary file', () => {
    const d = mkdtempSync(join(dir, 'atomic-'));
    const p = join(d, 'out.safetensors');
    const old = writeSafetensors({ old: { dtype: 'F32', shape: [1], data: [7] } });
    writeFileSync(p, old);
    // "a" is written (in 8-byte chunks) before "b"'s third value turns out not to fit in I32.
    const bad: Record<string, TensorToWrite> = {
      a: { dtype: 'F32', shape: [1000], data: new Float32Array(1000).fill(1) },
      b: { dtype: 'I32', shape: [3], data: [1, 2, 2 ** 40] },
    };
    const e = errorOf(() => writeSafetensorsFile(p, bad, undefined, { chunkBytes: 8 }));
    expect(e).toBeInstanceOf(SafetensorsError);
    expect(e.message).toBe('safetensors: tensor "b": value 1099511627776 at index 2 cannot be stored as I32');
    expect(new Uint8Array(readFileSync(p))).toEqual(old);
    expect(leftovers(d)).toEqual([]);
  });

  it('a failure leaves no file where there was none', () => {
    const d = mkdtempSync(join(dir, 'atomic-'));
    const p = join(d, 'new.txt');
    expect(() =>
      writeFileAtomic(p, (sink) => {
        sink.write(new Uint8Array(100).fill(65));
        throw new Error('disk on fire');
      }),
    ).toThrow('disk on fire');
    expect(readdirSync(d)).toEqual([]);
  });

  it('replaces the file a symlink points to, keeps the link and the old mode; refuses devices and folders', () => {
    const d = mkdtempSync(join(dir, 'atomic-'));
    const real = join(d, 'real.txt');
    writeFileSync(real, 'old', { mode: 0o640 });
    const link = join(d, 'link.txt');
    symlinkSync(real, link);
    writeFileAtomic(link, (sink) => sink.write(new TextEncoder().encode('new')));
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(readFileSync(real, 'utf8')).toBe('new');
    expect(statSync(real).mode & 0o777).toBe(0o640);
    mkdirSync(join(d, 'sub'));
    expect(errorOf(() => writeFileAtomic(join(d, 'sub'), () => undefined)).message).toMatch(/it is a directory, not a regular file/);
    expect(errorOf(() => writeFileAtomic('/dev/null', () => undefined)).message).toBe('cannot write "/dev/null": it is a character device, not a regular file');
    expect(errorOf(() => writeFileAtomic(join(d, 'nope', 'x.txt'), () => undefined)).message).toMatch(/cannot write ".*nope\/x\.txt": ENOENT/);
    expect(leftovers(d)).toEqual([]);
  });
});
