/**
 * `npm run golden`: regenerates test/golden/*.ts (review the diff before committing). Through the
 * export-target seam, as the CLI and the code worker generate: the golden files pin what users get.
 */
import { writeFileSync } from 'node:fs';
import { GOLDEN } from '../test/golden/graphs';
import { NODE_ENV } from './targets/env-node';
import { targetById } from './targets';
import { REPO_ROOT } from './targets/tfjs/sources-node';

const tfjs = targetById('tfjs')!;
for (const [file, graph] of Object.entries(GOLDEN)) {
  const out = await tfjs.generate(graph(), NODE_ENV);
  const diagnostics = await tfjs.check(out, NODE_ENV);
  if (diagnostics.length > 0) throw new Error(`${file}: ${diagnostics.map((d) => `line ${d.line}: ${d.message}`).join('; ')}`);
  const text = out.files[0].text;
  writeFileSync(`${REPO_ROOT}test/golden/${file}.ts`, text);
  console.log(`test/golden/${file}.ts: ${out.className}, ${text.split('\n').length} lines`);
}
