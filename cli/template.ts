/**
 * `unet-studio template <id> [--config FILE | --preset NAME] [--image-size N|HxW] [-o graph.json]` for
 * any template in the registry (graph/templates), and `template --list`.
 */
import { analyze } from '../graph/analyze';
import { serializeDocument } from '../graph/document';
import { TEMPLATE_LIMITS, TEMPLATES, templateById, unwrapConfig, type ImageSize, type Template } from '../graph/templates';
import { problemLines } from './check';
import { args, quoted, readText, refuseOverwritingInputs, UsageError, writeOut, type Io } from './common';

export function parseImageSize(s: string): ImageSize {
  const m = /^(\d{1,9})(?:x(\d{1,9}))?$/i.exec(s.trim());
  if (!m) throw new UsageError(`--image-size must be N or HxW (e.g. 32 or 30x26), got ${JSON.stringify(s.slice(0, 40))}`);
  const h = Number(m[1]);
  const w = m[2] === undefined ? h : Number(m[2]);
  const max = TEMPLATE_LIMITS.image_size;
  if (h < 1 || w < 1 || h > max || w > max) throw new UsageError(`--image-size ${s} is out of range (1…${max})`);
  return m[2] === undefined ? h : { height: h, width: w };
}

/** Whether a template needs kwargs (the empty canvas does not). */
const needsConfig = (t: Template): boolean => !t.schema.safeParse({}).success;


/** The usage lines of `template`, one per registered template. */
export function templateUsage(): string {
  const rows = TEMPLATES.map((t) => [`template ${t.id}${needsConfig(t) ? ' --config FILE' : ''} [--image-size N] [-o graph.json]`, t.label] as const);
  const width = Math.max(64, ...rows.map(([cmd]) => cmd.length + 3)); // the column of main's USAGE
  return `templates (template --list describes them):\n${rows.map(([cmd, label]) => `  ${cmd.padEnd(width)}${label}\n`).join('')}  (--preset NAME instead of --config FILE: one of the template's presets, which template --list names)\n`;
}

/** `template --list`: each template's id, label and description. */
export function templateList(): string {
  const width = Math.max(...TEMPLATES.map((t) => t.id.length)) + 2;
  const pad = ' '.repeat(width);
  const presets = (t: Template) => (t.presets.length > 0 ? `${pad}presets (--preset NAME): ${t.presets.map((p) => p.name).join(', ')}\n` : '');
  return TEMPLATES.map((t) => `${t.id.padEnd(width)}${t.label}\n${pad}${t.description}\n${presets(t)}`).join('');
}

export function templateCommand(argv: readonly string[], io: Io): number {
  const { values, positionals } = args({
    args: [...argv],
    allowPositionals: true,
    options: { list: { type: 'boolean' }, config: { type: 'string' }, preset: { type: 'string' }, 'image-size': { type: 'string' }, output: { type: 'string', short: 'o' } },
  });
  if (values.list) {
    if (positionals.length > 0) throw new UsageError(`template --list takes no template (got ${JSON.stringify(positionals[0])})`);
    io.out(templateList());
    return 0;
  }
  const id = positionals[0] ?? '';
  const template = templateById(id);
  if (!template) throw new UsageError(`template: say which: ${quoted(TEMPLATES.map((t) => t.id))} (got ${JSON.stringify(id)}; template --list describes them)`);
  if (positionals.length > 1) throw new UsageError(`template: unexpected argument ${JSON.stringify(positionals[1])}`);
  if (values.config !== undefined && values.preset !== undefined) throw new UsageError(`template ${template.id}: give --config or --preset, not both`);
  if (!values.config && values.preset === undefined && needsConfig(template)) {
    const presets = template.presets.length > 0 ? ` or --preset NAME (${quoted(template.presets.map((p) => p.name))})` : '';
    throw new UsageError(`template ${template.id}: --config FILE is required (${template.label} kwargs as JSON, bare or under "kwargs")${presets}`);
  }
  refuseOverwritingInputs('-o', values.output, [['--config', values.config]]);
  let kwargs: unknown = {};
  let imageSize: ImageSize | undefined;
  if (values.preset !== undefined) {
    const preset = template.presets.find((p) => p.name === values.preset);
    if (!preset) {
      const names = template.presets.length > 0 ? `its presets: ${quoted(template.presets.map((p) => p.name))}` : 'it has no presets';
      throw new UsageError(`template ${template.id}: no preset ${JSON.stringify(values.preset.slice(0, 80))} (${names})`);
    }
    kwargs = preset.kwargs;
    imageSize = preset.imageSize;
  } else if (values.config) {
    const text = readText(values.config, 'config');
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (e) {
      throw new UsageError(`config ${JSON.stringify(values.config)} is not valid JSON: ${e instanceof Error ? e.message : String(e)}`);
    }
    ({ kwargs, imageSize } = unwrapConfig(json));
  }
  const size = values['image-size'] !== undefined ? parseImageSize(values['image-size']) : imageSize;
  const graph = template.build(kwargs, size);
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
