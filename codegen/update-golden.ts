/** `npm run golden`: regenerates test/golden/*.ts (review the diff before committing). */
import { writeFileSync } from 'node:fs';
import { GOLDEN } from '../test/golden/graphs';
import { generateModule } from './targets/tfjs/generate';
import { readSources, REPO_ROOT } from './targets/tfjs/sources-node';
import { typecheckModule } from './targets/tfjs/typecheck';

for (const [file, graph] of Object.entries(GOLDEN)) {
  const mod = generateModule(graph(), readSources());
  const diagnostics = typecheckModule(mod.text);
  if (diagnostics.length > 0) throw new Error(`${file}: ${diagnostics.map((d) => `line ${d.line}: ${d.message}`).join('; ')}`);
  writeFileSync(`${REPO_ROOT}test/golden/${file}.ts`, mod.text);
  console.log(`test/golden/${file}.ts: ${mod.className}, ${mod.text.split('\n').length} lines`);
}
