/**
 * Node-only file helpers for the CLI and `.safetensors` files (never bundled for the browser):
 * inputs are opened only when they are regular files (a FIFO never blocks the open, `/dev/zero`
 * is never read), read with positional reads in bounded chunks, and outputs are written to a
 * temporary file beside the target and renamed over it only once complete.
 */
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  constants,
  fchmodSync,
  fstatSync,
  fsyncSync,
  openSync,
  readSync,
  realpathSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
  type Stats,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';

export class FileError extends Error {
  override name = 'FileError';
}

/** One read or write call moves at most this many bytes (Node refuses more than 2 GiB − 1 per call). */
export const IO_CHUNK_BYTES = 1 << 30;

/** The error code (`ENOENT`, `EACCES`, …) or the message. */
export function errorCode(e: unknown): string {
  return (e as NodeJS.ErrnoException | undefined)?.code ?? (e instanceof Error ? e.message : String(e));
}

export function describeKind(st: Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  if (st.isSymbolicLink()) return 'a symbolic link';
  return 'not a regular file';
}

export interface OpenedFile {
  readonly fd: number;
  readonly size: number;
}

/**
 * Opens `path` for reading when it is a regular file. O_NONBLOCK makes opening a FIFO return at
 * once (instead of waiting for a writer); the fstat then refuses anything but a regular file
 * before a byte is read.
 */
export function openRegularFile(path: string, what: string): OpenedFile {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
  } catch (e) {
    throw new FileError(`cannot read ${what} ${JSON.stringify(path)}: ${errorCode(e)}`);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) {
      throw new FileError(`cannot read ${what} ${JSON.stringify(path)}: it is ${describeKind(st)}, not a regular file`);
    }
    return { fd, size: st.size };
  } catch (e) {
    closeSync(fd);
    throw e instanceof FileError ? e : new FileError(`cannot read ${what} ${JSON.stringify(path)}: ${errorCode(e)}`);
  }
}

/** Fills `into` from `position` in the file; `onShort` says what to throw when the file ends first. */
export function readFully(fd: number, into: Uint8Array, position: number, onShort: () => Error): void {
  let done = 0;
  while (done < into.length) {
    const n = readSync(fd, into, done, Math.min(into.length - done, IO_CHUNK_BYTES), position + done);
    if (n === 0) throw onShort();
    done += n;
  }
}

/** Default limit for text inputs (graphs, configs): far above any UNet's document, below V8's string limit. */
export const MAX_TEXT_BYTES = 256 * 1024 * 1024;

/** A regular file's text (UTF-8), refusing devices, FIFOs, directories and files over `maxBytes`. */
export function readTextFile(path: string, what: string, maxBytes = MAX_TEXT_BYTES): string {
  const { fd, size } = openRegularFile(path, what);
  try {
    if (size > maxBytes) {
      throw new FileError(
        `${what} ${JSON.stringify(path)} is ${formatBytes(size)}; the limit is ${formatBytes(maxBytes)} (is this the right file?)`,
      );
    }
    const buf = Buffer.alloc(size);
    readFully(fd, buf, 0, () => new FileError(`${what} ${JSON.stringify(path)} became shorter while it was read`));
    return buf.toString('utf8');
  } catch (e) {
    throw e instanceof FileError ? e : new FileError(`cannot read ${what} ${JSON.stringify(path)}: ${errorCode(e)}`);
  } finally {
    closeSync(fd);
  }
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} bytes`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v >= 100 ? v.toFixed(0) : v.toFixed(1)} ${units[u]}`;
}

/** Where the bytes of an atomic write go. */
export interface ByteSink {
  write(bytes: Uint8Array): void;
}

/** The existing file `path` resolves to (symlinks followed), or null when there is none. */
export function existingTarget(path: string): { real: string; st: Stats } | null {
  let st: Stats;
  try {
    st = statSync(path);
  } catch (e) {
    if (errorCode(e) === 'ENOENT') return null;
    throw new FileError(`cannot write ${JSON.stringify(path)}: ${errorCode(e)}`);
  }
  return { real: realpathSync(path), st };
}

/**
 * Writes `path` all or nothing: `produce` writes into a temporary file in the same directory, which
 * is flushed and renamed over `path` only when `produce` returns. When anything fails (a value that
 * cannot be stored, a full disk) the temporary file is removed and `path` is as it was: absent, or
 * the old file, intact. A symlink is followed (its target is replaced, the link kept); a target that
 * exists but is not a regular file (a device, a FIFO, a directory) is refused.
 */
export function writeFileAtomic(path: string, produce: (sink: ByteSink) => void): void {
  const existing = existingTarget(path);
  if (existing && !existing.st.isFile()) {
    throw new FileError(`cannot write ${JSON.stringify(path)}: it is ${describeKind(existing.st)}, not a regular file`);
  }
  const target = existing?.real ?? path;
  const tmp = join(dirname(target), `.${basename(target)}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`);
  let fd: number;
  try {
    fd = openSync(tmp, 'wx', 0o666);
  } catch (e) {
    throw new FileError(`cannot write ${JSON.stringify(path)}: ${errorCode(e)} (making a temporary file in ${JSON.stringify(dirname(target))})`);
  }
  let renamed = false;
  try {
    if (existing) fchmodSync(fd, existing.st.mode & 0o7777);
    let position = 0;
    produce({
      write(bytes: Uint8Array) {
        for (let done = 0; done < bytes.length; ) {
          const n = writeSync(fd, bytes, done, Math.min(bytes.length - done, IO_CHUNK_BYTES), position + done);
          done += n;
        }
        position += bytes.length;
      },
    });
    fsyncSync(fd);
    closeSync(fd);
    fd = -1;
    renameSync(tmp, target);
    renamed = true;
  } catch (e) {
    if (e instanceof Error && (e as NodeJS.ErrnoException).code !== undefined) {
      throw new FileError(`cannot write ${JSON.stringify(path)}: ${errorCode(e)}; nothing was written`);
    }
    throw e;
  } finally {
    if (fd >= 0) {
      try {
        closeSync(fd);
      } catch {
        // already failing; the temporary file is removed below
      }
    }
    if (!renamed) {
      try {
        unlinkSync(tmp);
      } catch {
        // never created or already gone
      }
    }
  }
}
