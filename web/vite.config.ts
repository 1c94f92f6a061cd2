// Builds the two pages into dist/ in the layout the server embeds:
// dist/studio/index.html, dist/track/index.html and dist/assets/*.
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig, type Connect, type Plugin } from 'vite';

const here = fileURLToPath(new URL('.', import.meta.url));
const api = process.env.TOUCHPOINT_API ?? 'http://127.0.0.1:18080';

// In dev and preview, answer /studio and /track/<token> with their pages, as the server does.
const rewrite: Connect.NextHandleFunction = (req, _res, next) => {
  const url = req.url ?? '';
  if (/^\/studio\/?(\?.*)?$/.test(url)) req.url = '/studio/index.html';
  else if (/^\/track\/[^/.?]+\/?(\?.*)?$/.test(url)) req.url = '/track/index.html';
  next();
};
const pageRoutes: Plugin = {
  name: 'touchpoint-page-routes',
  configureServer(server) {
    server.middlewares.use(rewrite);
  },
  configurePreviewServer(server) {
    server.middlewares.use(rewrite);
  },
};

export default defineConfig({
  base: '/',
  plugins: [pageRoutes],
  root: here,
  esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    assetsDir: 'assets',
    // The CSP forbids inline scripts; the preload polyfill is not needed by the browsers we target.
    modulePreload: { polyfill: false },
    sourcemap: false,
    // CodeMirror makes the studio's script about 600 kB (200 kB gzipped); that is expected.
    chunkSizeWarningLimit: 800,
    rollupOptions: {
      output: {
        // What both pages share (Preact, the GraphQL client, base styles) in one stable chunk.
        manualChunks(id) {
          if (id.includes('/node_modules/preact/') || id.includes('/src/shared/')) return 'shared';
          return undefined;
        },
      },
      input: {
        studio: resolve(here, 'studio/index.html'),
        track: resolve(here, 'track/index.html'),
      },
    },
  },
  server: {
    port: 5173,
    proxy: { '/graphql': api },
  },
  preview: {
    port: 4173,
    proxy: { '/graphql': api },
  },
});
