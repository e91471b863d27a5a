/// <reference types="vite/client" />

/** tfjs's `.d.ts` files by path under node_modules (see vite.config.ts), for the in-browser type-check. */
declare module 'virtual:tfjs-dts' {
  const files: Readonly<Record<string, string>>;
  export default files;
}
