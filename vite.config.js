// Builds the canvas and account pages from pipelines/canvas/ into static/canvas/ (gitignored), served by
// Django's staticfiles as /static/canvas/app.js and app.css. Fixed file names: templates reference them
// directly, and everything is bundled locally (no CDN, system fonts).
import { defineConfig } from 'vite'

export default defineConfig(({ mode }) => ({
  base: '/static/canvas/',
  publicDir: false,
  esbuild: { jsx: 'automatic', jsxImportSource: 'react' },
  define: { 'process.env.NODE_ENV': JSON.stringify(mode === 'development' ? 'development' : 'production') },
  build: {
    outDir: 'static/canvas',
    emptyOutDir: true,
    target: 'es2020',
    sourcemap: mode === 'development',
    chunkSizeWarningLimit: 1200,
    rollupOptions: {
      input: { app: 'pipelines/canvas/main.jsx' },
      onwarn(warning, warn) {
        if (warning.code === 'MODULE_LEVEL_DIRECTIVE') return // React Flow's "use client"
        warn(warning)
      },
      output: {
        entryFileNames: '[name].js',
        chunkFileNames: 'chunks/[name]-[hash].js',
        assetFileNames: (info) => (info.names?.[0]?.endsWith('.css') ? 'app.css' : 'assets/[name]-[hash][extname]'),
      },
    },
  },
  test: {
    include: ['tests/frontend/**/*.test.{js,jsx}'],
    environment: 'node',
  },
}))
