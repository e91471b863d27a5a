/**
 * The code generator in the browser (run inside the editor's Web Worker): the sources arrive as
 * Vite `?raw` imports, and the type-check runs on an in-memory file system holding tfjs's `.d.ts`
 * files (a lazily loaded chunk) beside TypeScript's own lib files, which ts-morph bundles.
 */
import { Project } from 'ts-morph';
import type { SourceTexts } from './sources';
import { CHECK_OPTIONS, flattenMessage, type TypeDiagnostic } from './check-options';
import typesTs from '../../../blocks/types.ts?raw';
import opsTs from '../../../blocks/ops.ts?raw';
import ioTs from '../../../blocks/defs/io.ts?raw';
import timestepTs from '../../../blocks/defs/timestep.ts?raw';
import layersTs from '../../../blocks/defs/layers.ts?raw';
import resblockTs from '../../../blocks/defs/resblock.ts?raw';
import attentionTs from '../../../blocks/defs/attention.ts?raw';
import resampleTs from '../../../blocks/defs/resample.ts?raw';
import doubleconvTs from '../../../blocks/defs/doubleconv.ts?raw';
import diffusersTs from '../../../blocks/defs/diffusers.ts?raw';
import transformerTs from '../../../blocks/defs/transformer.ts?raw';
import weightTypesTs from '../../../weights/types.ts?raw';
import rngTs from '../../../weights/rng.ts?raw';
import safetensorsTs from '../../../weights/safetensors.ts?raw';
import pytorchTs from '../../../weights/pytorch.ts?raw';

export const BROWSER_SOURCES: SourceTexts = {
  'weights/types.ts': weightTypesTs,
  'blocks/types.ts': typesTs,
  'blocks/ops.ts': opsTs,
  'blocks/defs/io.ts': ioTs,
  'blocks/defs/timestep.ts': timestepTs,
  'blocks/defs/layers.ts': layersTs,
  'blocks/defs/resblock.ts': resblockTs,
  'blocks/defs/attention.ts': attentionTs,
  'blocks/defs/resample.ts': resampleTs,
  'blocks/defs/doubleconv.ts': doubleconvTs,
  'blocks/defs/diffusers.ts': diffusersTs,
  'blocks/defs/transformer.ts': transformerTs,
  'weights/rng.ts': rngTs,
  'weights/safetensors.ts': safetensorsTs,
  'weights/pytorch.ts': pytorchTs,
};

let project: Promise<Project> | null = null;
let counter = 0;

async function makeProject(): Promise<Project> {
  const { default: files } = await import('virtual:tfjs-dts');
  const p = new Project({ useInMemoryFileSystem: true, compilerOptions: CHECK_OPTIONS });
  const fs = p.getFileSystem();
  for (const [path, text] of Object.entries(files)) fs.writeFileSync(`/node_modules/${path}`, text);
  return p;
}

export async function typecheckInBrowser(text: string): Promise<TypeDiagnostic[]> {
  project ??= makeProject();
  const p = await project;
  const sf = p.createSourceFile(`/module-${counter++}.ts`, text, { overwrite: true });
  try {
    return sf.getPreEmitDiagnostics().map((d) => ({ line: d.getLineNumber() ?? 0, message: flattenMessage(d.getMessageText()) }));
  } finally {
    p.removeSourceFile(sf);
  }
}
