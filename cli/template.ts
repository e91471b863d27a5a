/** `unet-studio template iddpm|vanilla --config FILE [--image-size N|HxW] [-o graph.json]` */
import { analyze } from '../graph/analyze';
import { serializeDocument } from '../graph/document';
import { iddpm, TEMPLATE_LIMITS, unwrapConfig, vanilla, type ImageSize } from '../graph/templates';
import { problemLines } from './check';
import { args, readText, refuseOverwritingInputs, UsageError, writeOut, type Io } from './common';

export function parseImageSize(s: string): ImageSize {
  const m = /^(\d{1,9})(?:x(\d{1,9}))?$/i.exec(s.trim());
  if (!m) throw new UsageError(`--image-size must be N or HxW (e.g. 32 or 30x26), got ${JSON.stringify(s.slice(0, 40))}`);
  const h = Number(m[1]);
  const w = m[2] === undefined ? h : Number(m[2]);
  const max = TEMPLATE_LIMITS.image_size;
  if (h < 1 || w < 1 || h > max || w > max) throw new UsageError(`--image-size ${s} is out of range (1…${max})`);
  return m[2] === undefined ? h : { height: h, width: w };
}

export function templateCommand(argv: readonly string[], io: Io): number {
  const { values, positionals } = args({
    args: [...argv],
    allowPositionals: true,
    options: { config: { type: 'string' }, 'image-size': { type: 'string' }, output: { type: 'string', short: 'o' } },
  });
  const kind = positionals[0];
  if (kind !== 'iddpm' && kind !== 'vanilla') throw new UsageError(`template: say which: "iddpm" or "vanilla" (got ${JSON.stringify(kind ?? '')})`);
  if (positionals.length > 1) throw new UsageError(`template: unexpected argument ${JSON.stringify(positionals[1])}`);
  if (!values.config) throw new UsageError('template: --config FILE is required (UNetModel kwargs as JSON, bare or under "kwargs")');
  refuseOverwritingInputs('-o', values.output, [['--config', values.config]]);
  const text = readText(values.config, 'config');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new UsageError(`config ${JSON.stringify(values.config)} is not valid JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
  const { kwargs, imageSize } = unwrapConfig(json);
  const size = values['image-size'] !== undefined ? parseImageSize(values['image-size']) : imageSize;
  const graph = kind === 'iddpm' ? iddpm(kwargs, size) : vanilla(kwargs, size);
  // Never hand out a graph that `check` would reject.
  const problems = problemLines(analyze(graph));
  if (problems.length > 0) {
    io.err(`unet-studio: these kwargs give a graph that is not valid (nothing was written):\n${problems.join('\n')}\n`);
    return 1;
  }
  writeOut(values.output, serializeDocument(graph), io.out);
  if (values.output && values.output !== '-') io.err(`wrote ${values.output}: ${graph.nodes.length} blocks, ${graph.edges.length} edges\n`);
  return 0;
}
