/** The graphs whose generated modules are kept as golden files beside this one. */
import type { Graph } from '../../graph/model';
import { iddpm, vanilla } from '../../graph/templates';
import { IDDPM_64, IDDPM_SMALL } from '../../bench/configs';

export const GOLDEN: Readonly<Record<string, () => Graph>> = {
  'iddpm-small': () => ({ ...iddpm(IDDPM_SMALL, 16), name: 'iddpm-small' }),
  'vanilla-small': () => ({ ...vanilla({ n_channels: 3, n_classes: 2, widths: [8, 16, 32, 64] }, 32), name: 'vanilla-small' }),
  'iddpm-64ch': () => ({ ...iddpm(IDDPM_64, 32), name: 'iddpm-64ch-32x32' }),
};
