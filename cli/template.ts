/** `unet-studio template iddpm|vanilla --config FILE [--image-size N|HxW] [-o graph.json]` */
import { serializeDocument } from '../graph/document';
import { iddpm, unwrapConfig, vanilla, type ImageSize } from '../graph/templates';
import { args, readText, UsageError, writeOut, type Io } from './main';

export function parseImageSize(s: string): ImageSize {
  const m = /^(\d+)(?:x(\d+))?$/i.exec(s.trim());
  if (!m) throw new UsageError(`--image-size must be N or HxW (e.g. 32 or 30x26), got ${JSON.stringify(s)}`);
  const h = Number(m[1]);
  const w = m[2] === undefined ? h : Number(m[2]);
  if (h < 1 || w < 1 || h > 16384 || w > 16384) throw new UsageError(`--image-size ${s} is out of range (1…16384)`);
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
  writeOut(values.output, serializeDocument(graph), io.out);
  if (values.output) io.err(`wrote ${values.output}: ${graph.nodes.length} blocks, ${graph.edges.length} edges\n`);
  return 0;
}
