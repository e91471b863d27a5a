/**
 * `unet-studio codegen graph.json [--target ID] [-o PATH]` (default: the typed tfjs module) and
 * `unet-studio export ID graph.json [--weights W] -o PATH`: any target of the registry (codegen/targets),
 * checked before anything is written. `--weights` only for a target that writes weights (diffusers):
 * checked strictly against the graph (by name and shape, legacy names accepted) before its data is read.
 * `export onnx … -o model.onnx [--external-data]`: the initializers go to `model.onnx.data` beside the
 * model (ONNX external data, streamed tensor by tensor) when asked, and by themselves over 2 GiB.
 */
import { mkdirSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { DEFAULT_TARGET, TARGETS, targetById, type ExportFiles, type ExportTarget } from '../codegen/targets';
import { NODE_ENV } from '../codegen/targets/env-node';
import { checkExportPaths } from '../codegen/targets/types';
import { FileError, writeFileAtomic } from '../runtime/file-node';
import { openSafetensors } from '../runtime/safetensors-file';
import { analyze } from '../graph/analyze';
import { expectedWeights } from '../graph/weights';
import { checkStateDict } from '../weights/pytorch';
import { withLegacyNames } from '../weights/legacy';
import { loadGraph } from './check';
import { args, quoted, refuseOverwritingInputs, UsageError, writeOut, type Io } from './common';


/**
 * The ONNX target's id. Its CLI export writes a model that may not fit one file (ONNX external data,
 * streamed from a lazy checkpoint), which the generic `generate` (the code panel's single file) cannot.
 */
const ONNX_ID = 'onnx';

/** The registry's ids, for messages: `"tfjs"` or `"tfjs" or "pytorch"`. */
const knownIds = () => quoted(TARGETS.map((t) => t.id));

function resolveTarget(id: string, how: string): ExportTarget {
  const t = targetById(id);
  if (!t) throw new UsageError(`${how}: unknown export target ${JSON.stringify(id)}; the targets are ${knownIds()} (unet-studio help lists them)`);
  return t;
}

/** The usage lines of the export targets, one per registered target. */
export function targetsUsage(): string {
  const width = Math.max(...TARGETS.map((t) => t.id.length)) + 2;
  return `export targets (codegen --target ID, export ID; default ${DEFAULT_TARGET}):\n${TARGETS.map((t) => `  ${t.id.padEnd(width)}${t.label}: ${t.description}\n`).join('')}`;
}

const OPTIONS = { output: { type: 'string', short: 'o' }, 'no-check': { type: 'boolean', default: false } } as const;

export async function codegenCommand(argv: readonly string[], io: Io): Promise<number> {
  const { values, positionals } = args({ args: [...argv], allowPositionals: true, options: { ...OPTIONS, target: { type: 'string' } } });
  if (positionals.length !== 1) throw new UsageError('codegen: give exactly one graph.json');
  const target = resolveTarget(values.target ?? DEFAULT_TARGET, 'codegen --target');
  return exportTarget(target, positionals[0], values.output, !values['no-check'], io);
}

export async function exportCommand(argv: readonly string[], io: Io): Promise<number> {
  const { values, positionals } = args({
    args: [...argv],
    allowPositionals: true,
    options: { ...OPTIONS, weights: { type: 'string' }, 'external-data': { type: 'boolean', default: false } },
  });
  if (positionals.length === 0) throw new UsageError(`export: say which target: ${knownIds()}, then the graph.json`);
  const target = resolveTarget(positionals[0], 'export');
  if (values['external-data'] && target.id !== ONNX_ID) throw new UsageError(`export ${target.id}: --external-data is only for export ${ONNX_ID} (the weights in model.onnx.data beside the model)`);
  if (positionals.length !== 2) throw new UsageError(`export ${target.id}: give exactly one graph.json`);
  if (values.output === undefined) throw new UsageError(`export ${target.id}: -o PATH is required (a file for one file, a folder for several; - prints one file)`);
  if (values.weights !== undefined && !target.weights) {
    const takers = TARGETS.filter((t) => t.weights).map((t) => t.id);
    throw new UsageError(`export ${target.id}: --weights is only for a target that writes weights (${quoted(takers)}); ${target.id} does not`);
  }
  if (target.id === ONNX_ID) {
    return exportOnnxFile(positionals[1], values.output, !values['no-check'], io, values.weights, { externalData: values['external-data'] ? 'always' : 'auto' });
  }
  return exportTarget(target, positionals[1], values.output, !values['no-check'], io, values.weights);
}

export interface OnnxFileOptions {
  /** `always` (--external-data) or `auto`: external only when the weights exceed `externalAbove`. */
  readonly externalData: 'auto' | 'always';
  /** Bytes; default the exporter's MAX_INLINE_BYTES (2 GiB less headroom). The tests make it small. */
  readonly externalAbove?: number;
}

/**
 * `export onnx graph.json [--weights W] -o model.onnx [--external-data]`: model.onnx, and with external
 * data `model.onnx.data` beside it (its name is in the model, relative to the model's folder). The data
 * file is written first, tensor by tensor from the checkpoint (never the whole of it in memory), each
 * file all or nothing.
 */
export async function exportOnnxFile(graphPath: string, output: string | undefined, check: boolean, io: Io, weightsPath: string | undefined, opts: OnnxFileOptions): Promise<number> {
  const { checkOnnx, DATA_ALIGNMENT, DATA_SUFFIX, exportOnnxModel, MODEL_FILE } = await import('../codegen/targets/onnx/export');
  if (output === undefined || output === '-') throw new UsageError(`${ONNX_ID} writes a binary file (${MODEL_FILE}): give -o FILE (nothing was written)`);
  const dataPath = `${output}${DATA_SUFFIX}`;
  const inputs = [['the graph', graphPath], ['--weights', weightsPath]] as const;
  refuseOverwritingInputs('-o', output, inputs);
  refuseOverwritingInputs('-o', dataPath, inputs);
  const graph = loadGraph(graphPath);
  const reader = weightsPath === undefined ? undefined : openSafetensors(weightsPath, { source: weightsPath });
  try {
    const weights = reader?.lazy();
    const a = analyze(graph);
    if (weights && a.ok) {
      const expected = expectedWeights(a);
      checkStateDict(expected, withLegacyNames(expected.map((w) => w.fullKey), new Map([...weights.tensors].map(([k, t]) => [k, t.shape]))), weightsPath!);
    }
    const out = exportOnnxModel(graph, weights, { externalData: opts.externalData, externalAbove: opts.externalAbove, location: `${basename(output)}${DATA_SUFFIX}` });
    const target = targetById(ONNX_ID)!;
    if (check) {
      const diagnostics = checkOnnx(out);
      const errors = diagnostics.filter((d) => d.severity === 'error');
      if (errors.length > 0) {
        io.err(`unet-studio: the generated module has ${errors.length} ${target.checkWords.problem}(s) (a bug in UNet Studio; please report it):\n`);
        for (const d of errors) io.err(`  line ${d.line}: ${d.message}\n`);
        return 1;
      }
      for (const d of diagnostics) io.err(`unet-studio: warning: line ${d.line}: ${d.message}\n`);
    }
    const checked = check ? target.checkWords.passedDetail : 'not checked (--no-check)';
    const external = out.external;
    if (external) {
      // The data first: a model file never points at data that is not there yet.
      writeFileAtomic(dataPath, (sink) => external.stream((bytes) => sink.write(bytes)));
      io.err(`wrote ${dataPath}: ${external.byteLength} bytes, ${external.tensors.length} initializers as ONNX external data (offsets aligned to ${DATA_ALIGNMENT})\n`);
    }
    const bytes = out.files[0].bytes!;
    writeFileAtomic(output, (sink) => sink.write(bytes));
    io.err(`wrote ${output}: ${bytes.length} bytes, ${checked}\n`);
    if (external && opts.externalData === 'auto') {
      io.err(
        `note: the weights (${(external.tensors.reduce((n, t) => n + t.length, 0) / 2 ** 30).toFixed(2)} GiB) are over what one ONNX file holds (protobuf's 2 GiB), ` +
          `so they went to ${dataPath} as external data; keep it beside ${output} (ONNX Runtime finds it when it opens the model by its path)\n`,
      );
    }
    if (weightsPath === undefined) io.err(`note: ${target.weights!.without}\n`);
    return 0;
  } finally {
    reader?.close();
  }
}

/** Generates, checks and writes one target's files (exported for the tests' multi-file target). */
export async function exportTarget(target: ExportTarget, graphPath: string, output: string | undefined, check: boolean, io: Io, weightsPath?: string): Promise<number> {
  if (target.id === ONNX_ID) return exportOnnxFile(graphPath, output, check, io, weightsPath, { externalData: 'auto' });
  refuseOverwritingInputs('-o', output, [['the graph', graphPath], ['--weights', weightsPath]]);
  const graph = loadGraph(graphPath);
  const reader = weightsPath === undefined ? undefined : openSafetensors(weightsPath, { source: weightsPath });
  let out: ExportFiles;
  try {
    const weights = reader?.lazy();
    const a = analyze(graph);
    // Names and shapes first, from the header alone (an invalid graph is the target's error, below).
    if (weights && a.ok) {
      const expected = expectedWeights(a);
      checkStateDict(expected, withLegacyNames(expected.map((w) => w.fullKey), new Map([...weights.tensors].map(([k, t]) => [k, t.shape]))), weightsPath!);
    }
    out = await target.generate(graph, NODE_ENV, { weights });
  } finally {
    reader?.close();
  }
  checkExportPaths(out);
  const single = out.files.length === 1 && !target.folder;
  if (!single && (output === undefined || output === '-')) {
    throw new UsageError(`${target.id} writes ${target.folder ? 'a folder' : `${out.files.length} files`} (${out.files.map((f) => f.path).join(', ')}): give -o FOLDER (nothing was written)`);
  }
  if (check) {
    const diagnostics = await target.check(out, NODE_ENV);
    const at = (d: { file: string; line: number }) => `${single ? '' : `${d.file} `}line ${d.line}`;
    const errors = diagnostics.filter((d) => d.severity === 'error');
    if (errors.length > 0) {
      const what = single ? 'module has' : 'files have';
      io.err(`unet-studio: the generated ${what} ${errors.length} ${target.checkWords.problem}(s) (a bug in UNet Studio; please report it):\n`);
      for (const d of errors) io.err(`  ${at(d)}: ${d.message}\n`);
      return 1;
    }
    for (const d of diagnostics) io.err(`unet-studio: warning: ${at(d)}: ${d.message}\n`);
  }
  const checked = check ? target.checkWords.passedDetail : 'not checked (--no-check)';
  if (single && out.files[0].bytes) {
    // A binary file (ONNX): never to stdout; its text is only the code panel's summary.
    const bytes = out.files[0].bytes;
    if (output === undefined || output === '-') throw new UsageError(`${target.id} writes a binary file (${out.files[0].path}): give -o FILE (nothing was written)`);
    writeFileAtomic(output, (sink) => sink.write(bytes));
    io.err(`wrote ${output}: ${bytes.length} bytes, ${checked}\n`);
  } else if (single) {
    const text = out.files[0].text;
    writeOut(output, text, io.out);
    if (output && output !== '-') io.err(`wrote ${output}: class ${out.className}, ${text.split('\n').length} lines, ${checked}\n`);
  } else {
    writeFolder(output!, out, graphPath, weightsPath);
    io.err(`wrote ${output}: ${out.files.map((f) => f.path).join(', ')} (class ${out.className}), ${checked}\n`);
  }
  if (target.weights && weightsPath === undefined) io.err(`note: ${target.weights.without}\n`);
  return 0;
}

/** Each file under `dir` (made if missing), each all or nothing; other files in `dir` stay. */
function writeFolder(dir: string, out: ExportFiles, graphPath: string, weightsPath: string | undefined): void {
  let isDir = false;
  try {
    isDir = statSync(dir).isDirectory();
  } catch {
    // missing: made below
  }
  if (!isDir) {
    try {
      mkdirSync(dir, { recursive: true });
    } catch (e) {
      throw new FileError(`cannot make the folder ${JSON.stringify(dir)}: ${e instanceof Error && 'code' in e ? String(e.code) : String(e)} (nothing was written)`);
    }
  }
  const paths = out.files.map((f) => join(dir, f.path));
  for (const p of paths) refuseOverwritingInputs('-o', p, [['the graph', graphPath], ['--weights', weightsPath]]);
  out.files.forEach((f, i) => {
    mkdirSync(dirname(paths[i]), { recursive: true });
    const bytes = f.bytes;
    if (bytes) writeFileAtomic(paths[i], (sink) => sink.write(bytes));
    else writeOut(paths[i], f.text, () => {});
  });
}
