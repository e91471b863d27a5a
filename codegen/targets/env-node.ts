/** The export environment in Node (the CLI, tests, `npm run golden`): sources from disk, ts-morph on disk. */
import { readSources } from './tfjs/sources-node';
import type { ExportEnv } from './types';

export const NODE_ENV: ExportEnv = {
  platform: 'node',
  kernelSources: async () => readSources(),
  async typecheckTfjs(text) {
    // Loaded on first use: a target that checks nothing never loads the TypeScript compiler.
    const { typecheckModule } = await import('./tfjs/typecheck');
    return typecheckModule(text);
  },
};
