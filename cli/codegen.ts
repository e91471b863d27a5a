/** `unet-studio codegen graph.json [-o model.ts]`: the typed tfjs module, type-checked before it is written. */
import { generateModule } from '../codegen/targets/tfjs/generate';
import { readSources } from '../codegen/targets/tfjs/sources-node';
import { typecheckModule } from '../codegen/targets/tfjs/typecheck';
import { loadGraph } from './check';
import { args, refuseOverwritingInputs, UsageError, writeOut, type Io } from './common';

export function codegenCommand(argv: readonly string[], io: Io): number {
  const { values, positionals } = args({
    args: [...argv],
    allowPositionals: true,
    options: { output: { type: 'string', short: 'o' }, 'no-check': { type: 'boolean', default: false } },
  });
  if (positionals.length !== 1) throw new UsageError('codegen: give exactly one graph.json');
  refuseOverwritingInputs('-o', values.output, [['the graph', positionals[0]]]);
  const mod = generateModule(loadGraph(positionals[0]), readSources());
  if (!values['no-check']) {
    const diagnostics = typecheckModule(mod.text);
    if (diagnostics.length > 0) {
      io.err(`unet-studio: the generated module has ${diagnostics.length} type error(s) (a bug in UNet Studio; please report it):\n`);
      for (const d of diagnostics) io.err(`  line ${d.line}: ${d.message}\n`);
      return 1;
    }
  }
  writeOut(values.output, mod.text, io.out);
  if (values.output && values.output !== '-') io.err(`wrote ${values.output}: class ${mod.className}, ${mod.text.split('\n').length} lines, type-checked (strict)\n`);
  return 0;
}
