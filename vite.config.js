// Builds the canvas and account pages from pipelines/canvas/ into static/canvas/ (gitignored), served by
// Django's staticfiles as /static/canvas/app.js and app.css. Fixed file names: templates reference them
// directly, and everything is bundled locally (no CDN, system fonts); each file also gets .gz and .br copies.
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { brotliCompressSync, constants, gzipSync } from 'node:zlib'
import { defineConfig } from 'vite'

// Pre-compressed copies (app.js.gz, app.js.br, …) beside each script and stylesheet: WhiteNoise serves them to
// browsers that accept the encoding, so the canvas page weighs its compressed size, with no work per request.
function precompress(dir) {
  return {
    name: 'canvasflow-precompress',
    apply: 'build',
    closeBundle() {
      const walk = (d) => readdirSync(d).flatMap((f) => (statSync(join(d, f)).isDirectory() ? walk(join(d, f)) : [join(d, f)]))
      for (const file of walk(dir).filter((f) => /\.(js|css|svg|json)$/.test(f))) {
        const data = readFileSync(file)
        if (data.length < 1024) continue
        writeFileSync(`${file}.gz`, gzipSync(data, { level: 9 }))
        writeFileSync(`${file}.br`, brotliCompressSync(data, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }))
      }
    },
  }
}

export default defineConfig(({ mode }) => ({
  base: '/static/canvas/',
  publicDir: false,
  plugins: [precompress('static/canvas')],
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
