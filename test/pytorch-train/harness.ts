/**
 * The exported training project for the tests: train.py, sample.py and README.md from
 * codegen/targets/pytorch/project.ts beside a model.py. Until the model.py generator lands, model.py
 * is one of the hand-made stand-ins in ./models (they follow the model.py contract); switching the
 * tests to generated models means changing `modelSource` alone.
 */
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readmeMd, samplePy, trainPy, type ProjectMeta } from '../../codegen/targets/pytorch/project';

export const PYTHON = '/usr/bin/python3';
export const HERE = fileURLToPath(new URL('.', import.meta.url));

export type Variant = 'plain' | 'learned';

/** The model.py of each test variant: THE one place to point at generated files. */
export function modelSource(variant: Variant): string {
  return join(HERE, 'models', variant === 'plain' ? 'plain.py' : 'learned_classes.py');
}

/** What models/*.py declare (MODEL_NAME, shapes, classes, inputs; PARAMETER_COUNT counted by hand). */
export const META: Readonly<Record<Variant, ProjectMeta>> = {
  plain: {
    graphName: 'tiny "plain" net\n\u00e9',
    // time_embed 16·32+32 + 32·32+32, conv_in 1·16·9+16, emb_proj 32·16+16, norm 32, conv_mid 16·16·9+16, conv_out 16·1·9+1
    parameterCount: 544 + 1056 + 160 + 528 + 32 + 2320 + 145,
    inputShape: [1, 8, 8],
    outputShape: [1, 8, 8],
    numClasses: null,
    inputNames: ['x', 'timesteps'],
  },
  learned: {
    graphName: 'tiny learned-sigma class-conditional net',
    // as plain, plus label_emb 3·32, conv_in 3 channels (3·16·9+16), conv_out 6 channels (16·6·9+6)
    parameterCount: 544 + 1056 + 96 + 448 + 528 + 32 + 2320 + 870,
    inputShape: [3, 8, 8],
    outputShape: [6, 8, 8],
    numClasses: 3,
    inputNames: ['x', 'timesteps', 'y'],
  },
};

/** Writes model.py, train.py, sample.py and README.md into `dir` (made if needed). */
export function writeProject(dir: string, variant: Variant): void {
  mkdirSync(dir, { recursive: true });
  copyFileSync(modelSource(variant), join(dir, 'model.py'));
  const meta = META[variant];
  writeFileSync(join(dir, 'train.py'), trainPy(meta));
  writeFileSync(join(dir, 'sample.py'), samplePy(meta));
  writeFileSync(join(dir, 'README.md'), readmeMd(meta));
}

/** torchrun through torch.distributed.run's own main (see torchrun_shim.py for why not /usr/bin/torchrun). */
export const TORCHRUN = [PYTHON, join(HERE, 'torchrun_shim.py')];
export const DRIVER = join(HERE, 'driver.py');
