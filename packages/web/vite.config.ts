import { fileURLToPath } from 'node:url';
import { defaultClientConditions, defineConfig } from 'vite';

const root = fileURLToPath(new URL('.', import.meta.url));

export default defineConfig({
  root,
  base: '/',
  // Vite 8 transforms with oxc (its `esbuild` option is only a deprecated alias); no plugin is
  // needed for Preact's automatic JSX runtime.
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  publicDir: false,
  // Workspace packages are read from their TypeScript sources (their "source" export
  // condition), so the page never depends on another package having been built first.
  resolve: { conditions: ['source', ...defaultClientConditions] },
  logLevel: 'warn',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2020',
    // The CSP forbids inline scripts and data: modules; keep every asset a separate file.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    // Each page gets only its own styles: the console's must never reach the checkout's file.
    cssCodeSplit: true,
    // scripts/check-size.mjs follows each page's chunks (and their lazy imports) through it.
    manifest: true,
    sourcemap: false,
    reportCompressedSize: false,
    rolldownOptions: {
      // Two pages: the payer's checkout (index.html, unchanged) and the staff console.
      input: { index: `${root}index.html`, console: `${root}console.html` },
      output: {
        // What both pages use goes into one chunk: left to itself the bundler splits it by who
        // shares what into several small files, and the checkout pays for each (gzip works per
        // file). One chunk keeps the checkout within a kilobyte of what it was alone.
        codeSplitting: {
          groups: [{ name: 'shared', test: /node_modules|[\\/]packages[\\/]core[\\/]|[\\/]src[\\/](format|clipboard|api)\.ts$/ }],
        },
      },
      // @nltrade/core's top-level tables (`STATUSES.filter`, `new Map(...)`) look like side
      // effects to the bundler, yet core has no I/O: let it drop what the page never calls.
      treeshake: { moduleSideEffects: (id: string) => !/[\\/]packages[\\/]core[\\/]/.test(id) },
    },
  },
  server: {
    // `vite` in dev: the API and socket live on the real server.
    proxy: {
      '/v1': 'http://127.0.0.1:8080',
      '/socket.io': { target: 'http://127.0.0.1:8080', ws: true },
    },
  },
});
