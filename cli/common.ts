/**
 * What the CLI's commands share: usage errors and text, argument parsing, reading graphs and
 * configs, writing outputs. `main.ts` dispatches to the commands; the commands import this file,
 * never `main.ts` (no import cycle).
 */
import { realpathSync, statSync } from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { MAX_DOCUMENT_BYTES } from '../graph/limits';
import { existingTarget, readTextFile, writeFileAtomic } from '../runtime/file-node';

export class UsageError extends Error {
  override name = 'UsageError';
}

export const USAGE = `usage: unet-studio <command> [options]

commands:
  template <id> --config FILE [--image-size N] [-o graph.json]     a graph from a template's kwargs
  template --list                                                   the templates: ids, labels, descriptions
  check graph.json                                                  shapes, parameters, problems
  codegen graph.json [--target ID] [-o model.ts]                    one typed tfjs module (type-checked), or
                                                                    the export --target ID (below)
  export ID graph.json -o PATH                                      an export target's files, checked: PATH is
      [--weights W.safetensors]                                     the file (- prints it), or a folder for several;
                                                                    --weights for targets that write them (diffusers)
      [--external-data]                                             onnx: the weights in PATH.data beside the model
                                                                    (automatic when they pass 2 GiB)
  convert graph.json --to diffusers|openai -o out.json              the graph under the other world's module
      [--weights W.safetensors --weights-out W2.safetensors]        paths (OpenAI UNetModel <-> diffusers
                                                                    UNet2DModel), and its weights
  run graph.json --weights W.safetensors --inputs IO.safetensors
      [--backend cpu|wasm|webgpu|ort] [--via interpreter|codegen]
      [--progress-every SECONDS] --out OUT.safetensors              a forward pass (estimate first,
                                                                    then progress on stderr)
  sample graph.json --out OUT.safetensors [--weights W.safetensors | --seed N]
      [--sampler ddpm|ddim] [--eta E] [--steps N] [--train-steps T] [--schedule linear|cosine]
      [--batch B] [--label L] [--cond C.safetensors] [--guidance S]
      [--uncond U.safetensors] [--null-label L] [--backend ort|cpu|wasm|webgpu]
                                                                    samples from noise (NCHW "out"); guidance
                                                                    S != 1: cond and uncond in one forward
  bench                                                             the benchmark table (npm run bench)
`;

/**
 * A graph or config: a regular file no larger than the editor opens (graph/limits'
 * MAX_DOCUMENT_BYTES, refused unread), never a device, FIFO or directory.
 */
export function readText(path: string, what: string): string {
  return readTextFile(path, what, MAX_DOCUMENT_BYTES);
}

/** Text to stdout (no path or `-`), or to a file all or nothing (a temporary file renamed over it). */
export function writeOut(path: string | undefined, data: string, out: (s: string) => void): void {
  if (path === undefined || path === '-') {
    out(data);
    return;
  }
  const bytes = new TextEncoder().encode(data);
  writeFileAtomic(path, (sink) => sink.write(bytes));
}

/**
 * Refuses an output that names one of the command's own inputs (the same real path, or the same
 * device and inode: a hard link), before anything is read or computed.
 */
export function refuseOverwritingInputs(outFlag: string, out: string | undefined, inputs: readonly (readonly [flag: string, path: string | undefined])[]): void {
  if (out === undefined || out === '-') return;
  const target = existingTarget(out);
  if (!target) return; // a file that does not exist yet is no input
  for (const [flag, path] of inputs) {
    if (path === undefined) continue;
    let same = false;
    try {
      const st = statSync(path);
      same = (st.ino !== 0 && st.dev === target.st.dev && st.ino === target.st.ino) || realpathSync(path) === target.real;
    } catch {
      continue; // a missing input is reported when it is read
    }
    if (same) {
      throw new UsageError(
        `${outFlag} ${JSON.stringify(out)} is the same file as ${flag} ${JSON.stringify(path)}; writing it would destroy the input. ` +
          'Choose another output file (nothing was written).',
      );
    }
  }
}

export interface Io {
  out(s: string): void;
  err(s: string): void;
}


/** `parseArgs` with its errors turned into usage errors. */
export function args<const T extends ParseArgsConfig>(config: T): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config);
  } catch (e) {
    throw new UsageError(`${e instanceof Error ? e.message : String(e)}\n\n${USAGE}`);
  }
}

/** `"a", "b" or "c"`: ids quoted for a message. */
export const quoted = (ids: readonly string[]): string => ids.map((id) => JSON.stringify(id)).join(', ').replace(/, ([^,]*)$/, ' or $1');
