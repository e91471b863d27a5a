/**
 * The export environment in the editor's code worker: sources bundled as Vite `?raw` imports, the
 * type-check in memory against tfjs's `.d.ts` files. Imports no Node module; everything heavy
 * (ts-morph, the `.d.ts` files) loads on first use.
 */
import type { ExportEnv } from './types';

export const BROWSER_ENV: ExportEnv = {
  platform: 'browser',
  kernelSources: async () => (await import('./tfjs/browser')).BROWSER_SOURCES,
  async typecheckTfjs(text) {
    return (await import('./tfjs/browser')).typecheckInBrowser(text);
  },
};
