// npm run build: the single executable dist/neurobuild-ingest (Node SEA, DESIGN §6).
// esbuild bundle → SEA blob (the bundle as main script, the uWebSockets.js addon as an asset)
// → a copy of this node binary with the blob injected by postject. Prints time and size.
import { execFileSync } from 'node:child_process';
import { copyFileSync, chmodSync, statSync, writeFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
const started = Date.now();
const run = (cmd, args) => execFileSync(cmd, args, { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });

if (process.platform !== 'linux' || process.arch !== 'x64') console.error(`note: building for ${process.platform}-${process.arch}, the target is linux-x64`);
run(process.execPath, [join(root, 'scripts/bundle.mjs')]);

const require = createRequire(import.meta.url);
const addon = join(dirname(require.resolve('uWebSockets.js/package.json')), 'binaries', `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`);
const seaConfig = join(dist, 'sea-config.json');
const blob = join(dist, 'sea-prep.blob');
writeFileSync(
  seaConfig,
  JSON.stringify({
    main: join(dist, 'neurobuild-ingest.cjs'),
    output: blob,
    disableExperimentalSEAWarning: true,
    useCodeCache: true,
    assets: { 'uws.node': addon },
  }),
);
run(process.execPath, ['--experimental-sea-config', seaConfig]);

const out = join(dist, 'neurobuild-ingest');
rmSync(out, { force: true });
copyFileSync(process.execPath, out);
chmodSync(out, 0o755);
run(process.execPath, [
  require.resolve('postject/dist/cli.js'),
  out,
  'NODE_SEA_BLOB',
  blob,
  '--sentinel-fuse',
  'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2',
]);
rmSync(seaConfig);
rmSync(blob);
const mib = (statSync(out).size / 1048576).toFixed(1);
console.error(`built ${out} (${mib} MiB, node ${process.version}, ${process.platform}-${process.arch}) in ${((Date.now() - started) / 1000).toFixed(1)} s`);
