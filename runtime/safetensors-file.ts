/**
 * `.safetensors` files on disk, in Node (never bundled for the browser): read tensor by tensor with
 * positional reads (never the whole file, so checkpoints over 2 GiB load), the header validated by
 * the same code as in-memory files ({@link parseSafetensorsHeader}); written tensor by tensor to a
 * temporary file that replaces the target only when complete.
 */
import { closeSync } from 'node:fs';
import {
  decodeTensorData,
  encodeTensorData,
  lazyTensors,
  parseSafetensorsHeader,
  planSafetensors,
  SafetensorsError,
  type ParseOptions,
  type SafetensorsEntry,
  type SafetensorsFile,
  type SafetensorsHeader,
  type SafetensorsTensor,
  type TensorToWrite,
} from '../weights/safetensors';
import { errorCode, FileError, formatBytes, openRegularFile, readFully, writeFileAtomic } from './file-node';

const DTYPE_BYTES = { F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4 } as const;
const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
/** Conversions (F16/BF16, big-endian hosts) and encoded writes go through buffers of this size. */
const DEFAULT_CHUNK_BYTES = 16 * 1024 * 1024;

export interface FileReadOptions extends ParseOptions {
  /** Bytes per read when decoding through a buffer (tests make it small). */
  chunkBytes?: number;
}

export interface SafetensorsReader {
  readonly source: string;
  /** File size in bytes. */
  readonly size: number;
  readonly header: SafetensorsHeader;
  entry(name: string): SafetensorsEntry | undefined;
  /** One tensor, decoded like {@link parseSafetensors} does (a fresh array). */
  read(name: string): SafetensorsTensor;
  /** Elements `[start, start + count)` of a tensor, flat in row-major order. */
  readRange(name: string, start: number, count: number): Float32Array | Int32Array | BigInt64Array;
  /** Every tensor, read one after another. */
  readAll(): SafetensorsFile;
  /**
   * The file as a {@link SafetensorsFile} whose names, dtypes and shapes are known now and whose
   * `data` is read from disk on each access (nothing is kept): a strict check of keys and shapes
   * costs no reads, and loading holds one raw tensor at a time. Valid until `close()`.
   */
  lazy(): SafetensorsFile;
  close(): void;
}

/** Opens and validates a `.safetensors` file; reads only the 8-byte prefix and the header. */
export function openSafetensors(path: string, opts: FileReadOptions = {}): SafetensorsReader {
  const source = opts.source ?? path;
  const { fd, size } = openRegularFile(path, 'safetensors file');
  const chunkBytes = Math.max(8, opts.chunkBytes ?? DEFAULT_CHUNK_BYTES);
  let open = true;
  const truncated = () => new SafetensorsError(`${source}: the file became shorter while it was read`);
  const ioFail = (e: unknown): Error =>
    e instanceof SafetensorsError || e instanceof FileError ? e : new FileError(`cannot read ${JSON.stringify(path)}: ${errorCode(e)}`);
  const readAt = (position: number, length: number): Uint8Array => {
    const buf = new Uint8Array(length);
    readFully(fd, buf, position, truncated);
    return buf;
  };

  let header: SafetensorsHeader;
  try {
    header = parseSafetensorsHeader(size, readAt, { ...opts, source });
  } catch (e) {
    closeSync(fd);
    throw ioFail(e);
  }
  const byName = new Map(header.entries.map((e) => [e.name, e]));

  const get = (name: string): SafetensorsEntry => {
    if (!open) throw new SafetensorsError(`${source}: read after close()`);
    const e = byName.get(name);
    if (!e) throw new SafetensorsError(`${source}: no tensor ${JSON.stringify(name)}`);
    return e;
  };

  const decodeRange = (e: SafetensorsEntry, start: number, count: number): Float32Array | Int32Array | BigInt64Array => {
    const size1 = DTYPE_BYTES[e.dtype];
    const from = header.dataStart + e.begin + start * size1;
    const nbytes = count * size1;
    try {
      // Straight into the result's memory when the file's layout is the array's.
      if (LITTLE_ENDIAN_HOST && (e.dtype === 'F32' || e.dtype === 'I32' || e.dtype === 'I64')) {
        const out = e.dtype === 'F32' ? new Float32Array(count) : e.dtype === 'I32' ? new Int32Array(count) : new BigInt64Array(count);
        readFully(fd, new Uint8Array(out.buffer, 0, nbytes), from, truncated);
        return out;
      }
      // Otherwise through a bounded buffer, decoded by the in-memory parser's own code.
      const out = e.dtype === 'I32' ? new Int32Array(count) : e.dtype === 'I64' ? new BigInt64Array(count) : new Float32Array(count);
      const perChunk = Math.max(1, Math.floor(chunkBytes / size1));
      for (let i = 0; i < count; i += perChunk) {
        const n = Math.min(perChunk, count - i);
        const raw = readAt(from + i * size1, n * size1);
        const part = decodeTensorData(raw, 0, raw.length, e.dtype);
        if (out instanceof BigInt64Array) out.set(part as BigInt64Array, i);
        else (out as Float32Array | Int32Array).set(part as Float32Array | Int32Array, i);
      }
      return out;
    } catch (err) {
      if (err instanceof RangeError) {
        throw new SafetensorsError(`${source}: tensor ${JSON.stringify(e.name)} (${formatBytes(nbytes)}) does not fit in memory here: ${err.message}`);
      }
      throw ioFail(err);
    }
  };

  const elements = (e: SafetensorsEntry) => (e.end - e.begin) / DTYPE_BYTES[e.dtype];

  const reader: SafetensorsReader = {
    source,
    size,
    header,
    entry: (name) => byName.get(name),
    read(name) {
      const e = get(name);
      return Object.freeze({ name: e.name, dtype: e.dtype, shape: e.shape, data: decodeRange(e, 0, elements(e)) });
    },
    readRange(name, start, count) {
      const e = get(name);
      const total = elements(e);
      if (!Number.isSafeInteger(start) || !Number.isSafeInteger(count) || start < 0 || count < 0 || start + count > total) {
        throw new SafetensorsError(`${source}: tensor ${JSON.stringify(name)} has ${total} elements; cannot read [${start}, ${start + count})`);
      }
      return decodeRange(e, start, count);
    },
    readAll() {
      const tensors = new Map<string, SafetensorsTensor>();
      for (const e of header.entries) tensors.set(e.name, reader.read(e.name));
      return { tensors, metadata: header.metadata };
    },
    lazy() {
      return { tensors: lazyTensors(header.entries, (e) => decodeRange(get(e.name), 0, elements(e))), metadata: header.metadata };
    },
    close() {
      if (open) closeSync(fd);
      open = false;
    },
  };
  return reader;
}

/** The whole file as {@link parseSafetensors} would give it, read tensor by tensor. */
export function readSafetensorsFile(path: string, opts: FileReadOptions = {}): SafetensorsFile {
  const reader = openSafetensors(path, opts);
  try {
    return reader.readAll();
  } finally {
    reader.close();
  }
}

/**
 * Writes the bytes {@link writeSafetensors} would make, tensor by tensor (no whole-file buffer, so
 * outputs over 2 GiB work), all or nothing: on any failure `path` keeps its old contents (or stays absent).
 */
export function writeSafetensorsFile(
  path: string,
  tensors: Readonly<Record<string, TensorToWrite>>,
  metadata?: Readonly<Record<string, string>>,
  opts: { chunkBytes?: number } = {},
): void {
  const plan = planSafetensors(tensors, metadata);
  const chunkBytes = Math.max(8, opts.chunkBytes ?? DEFAULT_CHUNK_BYTES);
  writeFileAtomic(path, (sink) => {
    sink.write(plan.head);
    const scratch = new Uint8Array(chunkBytes + 8);
    for (const p of plan.tensors) {
      const size1 = DTYPE_BYTES[p.t.dtype];
      const perChunk = Math.max(1, Math.floor(chunkBytes / size1));
      for (let i = 0; i < p.count; i += perChunk) {
        const n = Math.min(perChunk, p.count - i);
        const bytes = scratch.subarray(0, n * size1);
        encodeTensorData(bytes, 0, p, i, i + n);
        sink.write(bytes);
      }
    }
  });
}
