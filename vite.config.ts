import { defineConfig, type Plugin } from 'vitest/config';
import react from '@vitejs/plugin-react';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

// Cross-origin isolation lets the WASM backend use threads (SharedArrayBuffer).
const isolation = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};

/**
 * `virtual:tfjs-dts`: the declaration files a generated module's `import * as tf from
 * '@tensorflow/tfjs'` needs (tfjs's entry and tfjs-core, where every op lives), for the editor's
 * in-browser type-check. Loaded lazily by the code worker (~1.2 MB, ~200 kB gzip).
 */
function tfjsDts(): Plugin {
  const id = 'virtual:tfjs-dts';
  const walk = (dir: string, out: string[]) => {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p, out);
      else if (name.endsWith('.d.ts')) out.push(p);
    }
  };
  return {
    name: 'unet-studio-tfjs-dts',
    resolveId: (source) => (source === id ? `\0${id}` : null),
    load(resolved) {
      if (resolved !== `\0${id}`) return null;
      const root = join(process.cwd(), 'node_modules');
      const files: Record<string, string> = {};
      for (const pkg of ['@tensorflow/tfjs', '@tensorflow/tfjs-core']) {
        const dir = join(root, pkg);
        files[`${pkg}/package.json`] = readFileSync(join(dir, 'package.json'), 'utf8');
        const list: string[] = [];
        walk(join(dir, 'dist'), list);
        for (const f of list) files[relative(root, f).split('\\').join('/')] = readFileSync(f, 'utf8');
      }
      return `export default ${JSON.stringify(files)};`;
    },
  };
}

export default defineConfig({
  root: 'editor',
  plugins: [react(), tfjsDts()],
  server: { headers: isolation },
  // Pre-bundle ts-morph for the code worker up front, so opening the code panel the first time
  // does not make the dev server re-optimise and reload the page.
  optimizeDeps: { entries: ['index.html', 'codegen.worker.ts', 'bench.html'], include: ['ts-morph', 'uplot'] },



  preview: { headers: isolation },
  worker: { format: 'es', plugins: () => [tfjsDts()] },
  build: {
    outDir: '../dist',
    emptyOutDir: true,
    chunkSizeWarningLimit: 8000,
    // Not minified: tfjs-backend-wasm starts its WASM threads from the *source text* of its Emscripten
    // factory (Function.prototype.toString into a Blob worker). Minifying renames outer variables that
    // text refers to, and every thread then dies with "ReferenceError: e is not defined" (seen with
    // both full and mangle-free minification). ~+50 kB gzip on the app chunk buys working threads.
    minify: false,
    rollupOptions: {
      input: {
        main: fileURLToPath(new URL('./editor/index.html', import.meta.url)),
        bench: fileURLToPath(new URL('./editor/bench.html', import.meta.url)),
      },
    },
  },
  test: {
    root: '.',
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Two test files run at once on 2 cores: PyTorch in the tests' child processes takes one thread each.
    env: { OMP_NUM_THREADS: '1' },
    // Two groups, one after the other. First every file but the browser ones, two files at a time:
    // vitest's default on a 2-core machine is one (cores − 1), and many of these files spend their
    // time waiting on PyTorch, torchrun or a GPU emulator. Then the browser (e2e) files, one at a
    // time and alone, since some assert the page keeps answering within a bound.
    projects: [
      // (include/exclude only here: a project's lists are added to the root's, not put in their place.)
      { extends: true, test: { name: 'unit', include: ['**/*.test.ts'], exclude: ['node_modules/**', 'dist/**', 'test/e2e/**'], maxWorkers: 2, sequence: { groupOrder: 0 } } },
      { extends: true, test: { name: 'e2e', include: ['test/e2e/**/*.test.ts'], exclude: ['node_modules/**', 'dist/**'], maxWorkers: 1, sequence: { groupOrder: 1 } } },
    ],
  },
});
