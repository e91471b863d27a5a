/** The export environment in Node (the CLI, tests, `npm run golden`): sources read from disk, the type-check against node_modules. */
import type { ExportEnv, TfjsToolkit } from './types';

let tfjs: Promise<TfjsToolkit> | null = null;

export const NODE_ENV: ExportEnv = {
  platform: 'node',
  // Loaded on first use: a target that needs no TypeScript compiler never loads it.
  tfjs: () =>
    (tfjs ??= Promise.all([import('./tfjs/generate'), import('./tfjs/sources-node'), import('./tfjs/typecheck')]).then(
      ([{ generateModule }, { readSources }, { typecheckModule }]) => ({
        generate: (graph) => generateModule(graph, readSources()),
        typecheck: async (text) => typecheckModule(text),
      }),
    )),
};
