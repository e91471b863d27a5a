/**
 * What every end-to-end test needs: the app served by Vite on a free loopback port, Debian's
 * chromium driven by playwright-core with the headless flags that work here, and a screenshot in
 * `test-results/` when a test fails.
 */
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import { createServer, type ViteDevServer } from 'vite';
import { chromium, type Browser, type BrowserContext, type LaunchOptions, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll } from 'vitest';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export const BASE_ARGS = ['--headless', '--no-sandbox', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
export const WEBGPU_ARGS = ['--enable-unsafe-webgpu', '--enable-unsafe-swiftshader'];

export const tid = (id: string): string => `[data-testid="${id}"]`;

/** Serves the editor with Vite's dev server (the config the app uses) on 127.0.0.1:<free port>. */
export async function startApp(): Promise<{ server: ViteDevServer; url: string }> {
  const server = await createServer({
    configFile: join(ROOT, 'vite.config.ts'),
    root: join(ROOT, 'editor'),
    logLevel: 'error',
    // No file watching and no HMR: an edit to the tree while a test runs must not reload its page.
    server: { port: 0, host: '127.0.0.1', hmr: false, watch: null },
    // Crawl the code worker up front too, so the optimizer never reloads the page mid-test.
    optimizeDeps: { entries: ['index.html', 'codegen.worker.ts'], include: ['ts-morph', 'uplot'] },
  });
  await server.listen();
  const addr = server.httpServer?.address() as AddressInfo;
  return { server, url: `http://127.0.0.1:${addr.port}/` };
}

/** Debian's chromium, headless; `webgpu` adds the flags that give it a SwiftShader adapter. */
export function launchChromium(opts: { webgpu?: boolean; extra?: LaunchOptions } = {}): Promise<Browser> {
  return chromium.launch({ executablePath: '/usr/bin/chromium', args: opts.webgpu === false ? BASE_ARGS : [...BASE_ARGS, ...WEBGPU_ARGS], ...opts.extra });
}

/** Saves a screenshot of `page` under test-results/ named after the test. */
export async function screenshot(page: Page | BrowserContext | null, testName: string): Promise<void> {
  const p = page && 'screenshot' in page ? page : (page?.pages()[0] ?? null);
  if (!p) return;
  mkdirSync(join(ROOT, 'test-results'), { recursive: true });
  await p.screenshot({ path: join(ROOT, 'test-results', `${testName.replace(/[^\w.-]+/g, '_')}.png`) }).catch(() => undefined);
}

export interface AppPage {
  readonly server: ViteDevServer;
  readonly url: string;
  readonly browser: Browser;
  readonly page: Page;
}

/**
 * One served app, one browser and one page for a test file, with the hooks that start them, take a
 * screenshot of a failed test and close them. Read the fields inside tests (they exist from
 * `beforeAll` on). The page is opened but not navigated.
 */
export function useAppPage(opts: { webgpu?: boolean; viewport?: { width: number; height: number }; acceptDownloads?: boolean; timeout?: number } = {}): AppPage {
  let app: AppPage | null = null;
  const get = (): AppPage => {
    if (!app) throw new Error('useAppPage: the app is not started yet (read it inside a test or a later hook)');
    return app;
  };
  beforeAll(async () => {
    const { server, url } = await startApp();
    const browser = await launchChromium({ webgpu: opts.webgpu ?? true });
    const page = await browser.newPage({ viewport: opts.viewport ?? { width: 1400, height: 860 }, acceptDownloads: opts.acceptDownloads ?? false });
    page.on('pageerror', (e) => console.error(`page error: ${e.message}`));
    app = { server, url, browser, page };
  }, opts.timeout ?? 120_000);
  afterEach(async (ctx) => {
    if (ctx.task.result?.state === 'fail') await screenshot(app?.page ?? null, ctx.task.name);
  });
  afterAll(async () => {
    await app?.browser.close();
    await app?.server.close();
  });
  return {
    get server() {
      return get().server;
    },
    get url() {
      return get().url;
    },
    get browser() {
      return get().browser;
    },
    get page() {
      return get().page;
    },
  };
}

/**
 * Round trips to the page every 50 ms until `stop()`, which gives the slowest in ms (Infinity if the
 * page went away): how long the page kept a user waiting while something ran.
 */
export function watchPage(page: Page): { stop: () => Promise<number> } {
  let worst = 0;
  let watching = true;
  const loop = (async () => {
    while (watching) {
      const t0 = Date.now();
      try {
        await page.evaluate(() => 1);
      } catch {
        worst = Infinity; // navigated or closed: not an answer
        return;
      }
      worst = Math.max(worst, Date.now() - t0);
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  return {
    stop: async () => {
      watching = false;
      await loop;
      return worst;
    },
  };
}
