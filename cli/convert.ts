/**
 * `unet-studio convert graph.json --to diffusers|openai -o out.json [--weights W --weights-out W2]`:
 * the graph (and its weights) under the other naming world's module paths (graph/convert.ts). Every
 * block without a counterpart is named in one error and nothing is written; the weights are checked
 * strictly against the graph first and keep their dtype.
 */
import { serializeDocument } from '../graph/document';
import { convertNaming, convertWeights, NAMINGS, NAMING_LABEL, type Naming } from '../graph/convert';
import { openSafetensors, writeSafetensorsFile } from '../runtime/safetensors-file';
import type { TensorToWrite } from '../weights/safetensors';
import { loadGraph } from './check';
import { args, quoted, refuseOverwritingInputs, UsageError, writeOut, type Io } from './common';

export async function convertCommand(argv: readonly string[], io: Io): Promise<number> {
  const { values, positionals } = args({
    args: [...argv],
    allowPositionals: true,
    options: { to: { type: 'string' }, output: { type: 'string', short: 'o' }, weights: { type: 'string' }, 'weights-out': { type: 'string' } },
  });
  if (positionals.length !== 1) throw new UsageError('convert: give exactly one graph.json');
  const to = values.to;
  if (to === undefined || !(NAMINGS as readonly string[]).includes(to)) {
    throw new UsageError(`convert: --to must be ${quoted(NAMINGS)} (${NAMINGS.map((n) => `${n}: ${NAMING_LABEL[n]}`).join('; ')})`);
  }
  if ((values.weights === undefined) !== (values['weights-out'] === undefined)) {
    throw new UsageError('convert: --weights and --weights-out go together (the weights to convert and where the converted ones go)');
  }
  const graphPath = positionals[0];
  const inputs: [string, string | undefined][] = [['the graph', graphPath], ['--weights', values.weights]];
  refuseOverwritingInputs('-o', values.output, inputs);
  refuseOverwritingInputs('--weights-out', values['weights-out'], inputs);
  const c = convertNaming(loadGraph(graphPath), to as Naming);
  let tensors: Record<string, TensorToWrite> | undefined;
  if (values.weights !== undefined) {
    const reader = openSafetensors(values.weights, { source: values.weights });
    try {
      const converted = convertWeights(c, reader.lazy().tensors, values.weights);
      tensors = Object.fromEntries([...converted].map(([k, t]) => [k, { dtype: t.dtype, shape: t.shape, data: t.data }]));
    } finally {
      reader.close();
    }
  }
  // Both outputs are made before either is written; each is written all or nothing.
  const text = serializeDocument(c.graph);
  if (tensors && values['weights-out'] !== undefined) writeSafetensorsFile(values['weights-out'], tensors, { format: 'pt' });
  writeOut(values.output, text, io.out);
  const moved = [...c.renamed].filter(([a, b]) => a !== b).length;
  io.err(`converted ${JSON.stringify(c.graph.name)} from ${NAMING_LABEL[c.from]} to ${NAMING_LABEL[c.to]} names: ${moved} blocks renamed${tensors ? `, ${Object.keys(tensors).length} weights written to ${values['weights-out']}` : ''}\n`);
  return 0;
}
