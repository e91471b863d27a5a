/**
 * `unet-studio`: the pipeline without a browser. Every failure the user can cause ends with one
 * clear message and a non-zero exit, never a stack trace (set UNET_STUDIO_DEBUG=1 for one).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';

export class UsageError extends Error {
  override name = 'UsageError';
}

const USAGE = `usage: unet-studio <command> [options]

commands:
  template iddpm   --config FILE [--image-size N] [-o graph.json]   graph from UNetModel kwargs
  template vanilla --config FILE [--image-size N] [-o graph.json]   graph from milesial UNet kwargs
  check graph.json                                                  shapes, parameters, problems
  codegen graph.json [-o model.ts]                                  one typed tfjs module (type-checked)
  run graph.json --weights W.safetensors --inputs IO.safetensors
      [--backend cpu|wasm|webgpu] [--via interpreter|codegen]
      --out OUT.safetensors                                         a forward pass
  bench                                                             the benchmark table (npm run bench)
`;

/** Errors whose message is for the user as it stands. */
const USER_ERRORS = new Set(['UsageError', 'DocumentError', 'TemplateError', 'SafetensorsError', 'WeightLoadError', 'GraphError', 'BackendError', 'InputError', 'FileError', 'CodegenError']);

export class FileError extends Error {
  override name = 'FileError';
}

export function readText(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new FileError(`cannot read ${what} ${JSON.stringify(path)}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
}

export function readBytes(path: string, what: string): Uint8Array {
  try {
    return new Uint8Array(readFileSync(path));
  } catch (e) {
    throw new FileError(`cannot read ${what} ${JSON.stringify(path)}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
}

export function writeOut(path: string | undefined, data: string | Uint8Array, out: (s: string) => void): void {
  if (path === undefined || path === '-') {
    out(typeof data === 'string' ? data : '(binary output needs -o FILE)\n');
    return;
  }
  try {
    writeFileSync(path, data);
  } catch (e) {
    throw new FileError(`cannot write ${JSON.stringify(path)}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
}

export interface Io {
  out(s: string): void;
  err(s: string): void;
}

const stdio: Io = {
  out: (s) => process.stdout.write(s),
  err: (s) => process.stderr.write(s),
};

export async function main(argv: readonly string[], io: Io = stdio): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case 'template':
        return (await import('./template')).templateCommand(rest, io);
      case 'check':
        return (await import('./check')).checkCommand(rest, io);
      case 'codegen':
        return (await import('./codegen')).codegenCommand(rest, io);
      case 'run':
        return await (await import('./run')).runCommand(rest, io);
      case 'bench':
        return await (await import('../bench/index')).benchCommand(rest, io);
      case undefined:
      case '-h':
      case '--help':
      case 'help':
        io.out(USAGE);
        return cmd === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command ${JSON.stringify(cmd)}\n\n${USAGE}`);
    }
  } catch (e) {
    if (e instanceof Error && USER_ERRORS.has(e.name)) {
      io.err(`unet-studio: ${e.message}\n`);
      return e.name === 'UsageError' ? 2 : 1;
    }
    if (process.env.UNET_STUDIO_DEBUG && e instanceof Error) io.err(`${e.stack ?? ''}\n`);
    io.err(`unet-studio: internal error: ${e instanceof Error ? e.message : String(e)} (UNET_STUDIO_DEBUG=1 shows the stack)\n`);
    return 70;
  }
}

/** `parseArgs` with its errors turned into usage errors. */
export function args<const T extends ParseArgsConfig>(config: T): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config);
  } catch (e) {
    throw new UsageError(`${e instanceof Error ? e.message : String(e)}\n\n${USAGE}`);
  }
}
