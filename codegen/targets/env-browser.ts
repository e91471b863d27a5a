/**
 * The export environment in the editor's code worker: kernel sources bundled as Vite `?raw`
 * imports, the type-check in memory against tfjs's `.d.ts` files. Imports no Node module; only the
 * worker imports this file, and the TypeScript compiler and the `.d.ts` files load on first use.
 */
import type { ExportEnv, TfjsToolkit } from './types';

let tfjs: Promise<TfjsToolkit> | null = null;

export const BROWSER_ENV: ExportEnv = {
  platform: 'browser',
  tfjs: () =>
    (tfjs ??= Promise.all([import('./tfjs/generate'), import('./tfjs/browser')]).then(([{ generateModule }, { BROWSER_SOURCES, typecheckInBrowser }]) => ({
      generate: (graph) => generateModule(graph, BROWSER_SOURCES),
      typecheck: (text) => typecheckInBrowser(text),
    }))),
};
