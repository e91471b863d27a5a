import { GraphBuilder } from './graph/builder';
import { generateModule } from './codegen/generate';
import { readSources } from './codegen/sources-node';
import { typecheckModule } from './codegen/typecheck';
const b = new GraphBuilder();
const x = b.add('ImageInput', 'x', { channels: 32, height: 8, width: 8 });
const t = b.add('TimestepsInput', 'timesteps');
const s = b.add('TimestepEmbedding', 'te', { dim: 16 }, { x: t });
const e = b.add('TimeEmbedMLP', 'tm', { dim: 32 }, { x: s });
const h = b.add('ResBlock', 'a.b', { out_channels: 32 }, { x, emb: e });
const h2 = b.add('GroupNorm', 'a_b', {}, { x: h });
b.add('Output', 'out', {}, { x: h2 });
const names = process.argv.slice(2);
for (const n of names.length ? names : ['test']) {
  const g = b.build(n);
  const m = generateModule(g, readSources());
  const t0 = Date.now();
  console.log(JSON.stringify(n), m.className, typecheckModule(m.text).slice(0, 5), Date.now() - t0);
  if (names.length === 0) console.log(m.text.split('\n').slice(0, 140).join('\n'));
}
