// Bundles src/main.ts into one CommonJS file for Node 20 (the input of the single binary).
import { readFile } from 'node:fs/promises';
import { build } from 'esbuild';

/**
 * `import text from './file' with { type: 'text' }` → the file's text as a string (esbuild
 * 0.27 refuses that attribute by itself; Bun, which runs the tests, does it natively). Used
 * for the console's files and uPlot, embedded in the bundle so the binary needs no files.
 */
const textImports = {
  name: 'text-imports',
  setup(b) {
    b.onLoad({ filter: /[\\/](src[\\/]console|uplot[\\/]dist)[\\/][^\\/]+\.(html|css|js)$/ }, async (args) =>
      args.with?.type === 'text' ? { contents: await readFile(args.path, 'utf8'), loader: 'text' } : undefined,
    );
  },
};

const started = Date.now();
await build({
  entryPoints: ['src/main.ts'],
  outfile: 'dist/neurobuild-ingest.cjs',
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: 'linked',
  // optional native accelerator of msgpackr: it falls back to pure JS when absent
  external: ['msgpackr-extract'],
  // the `debug` package's per-call cost shows in profiles; its output is off in production anyway
  alias: { debug: './scripts/shims/debug.cjs' },
  // inside the single executable only built-in modules can be required: skip msgpackr's native
  // accelerator there instead of a failed require and its warning (it falls back to pure JS)
  banner: { js: "try{if(require('node:sea').isSea())process.env.MSGPACKR_NATIVE_ACCELERATION_DISABLED='true'}catch{}" },
  plugins: [textImports],
  logLevel: 'warning',
  logOverride: { 'empty-import-meta': 'silent' },
});
console.error(`bundled dist/neurobuild-ingest.cjs in ${Date.now() - started} ms`);
