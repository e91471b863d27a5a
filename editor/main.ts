/**
 * Placeholder page until the editor issue lands: it lists the block catalogue and checks the
 * iDDPM template, straight from the same declarations the editor will use.
 */
import { BLOCK_TYPES, blockDef } from '../blocks/registry';
import { iddpm } from '../graph/templates';
import { analyze, countParameters } from '../graph/analyze';

const root = document.getElementById('root');
if (root) {
  const graph = iddpm({ in_channels: 3, model_channels: 64, out_channels: 3, num_res_blocks: 2, attention_resolutions: [2], channel_mult: [1, 2, 2], num_heads: 4 }, 32);
  const a = analyze(graph);
  const h1 = document.createElement('h1');
  h1.textContent = 'UNet Studio';
  const p = document.createElement('p');
  p.textContent = `iDDPM template: ${graph.nodes.length} blocks, ${countParameters(a).toLocaleString('en-US')} parameters, ${a.ok ? 'valid' : 'invalid'}. The canvas editor is on its way.`;
  const ul = document.createElement('ul');
  for (const t of BLOCK_TYPES) {
    const li = document.createElement('li');
    const d = blockDef(t);
    li.textContent = `${d.displayName} (${d.category}): ${d.description}`;
    ul.append(li);
  }
  root.append(h1, p, ul);
}
