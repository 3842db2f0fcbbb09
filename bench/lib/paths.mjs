// Well-known paths of the repository, for the benchmark runners and bench/lib.
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Repository root (bench/lib/../..). Child processes run with this as working directory. */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** The built server under test. */
export const DIST = path.join(ROOT, 'dist/neurobuild-ingest.cjs');
/** The shared results file; each benchmark owns one marked section of it. */
export const RESULTS = path.join(ROOT, 'bench/RESULTS.md');
