// Command-line plumbing shared by the benchmark runners: the prefix of their messages, fatal
// errors, the common BENCH_* knobs, picking scenarios (or targets) by id and the command line that ran.
let name = 'bench';

/** Sets the prefix of every message printed by bench/lib, e.g. "bench:http". */
export function setBenchName(n) {
  name = n;
}

/** The prefix set by setBenchName(). */
export function benchName() {
  return name;
}

/** Prints "<prefix>: msg" to stderr and exits with code 1. */
export function fail(msg) {
  console.error(`${name}: ${msg}`);
  process.exit(1);
}

/** Integer environment variable in [min, max]; `def` when unset or empty, fail() when invalid. */
export function intEnv(envName, def, min, max) {
  const raw = process.env[envName];
  if (raw === undefined || raw === '') return def;
  const v = Number(raw);
  if (!Number.isInteger(v) || v < min || v > max) fail(`${envName} must be an integer in [${min}, ${max}], got ${JSON.stringify(raw)}`);
  return v;
}

/**
 * The common knobs (see bench/README.md): BENCH_QUICK=1 forces 1 round × 3 s with 1 s warm-up
 * and no RESULTS.md; otherwise BENCH_ROUNDS (3), BENCH_DURATION s (10), BENCH_WARMUP s (2).
 * BENCH_WRITE_RESULTS=0|1 overrides whether RESULTS.md is written.
 * @returns {{quick: boolean, rounds: number, duration: number, warmup: number, writeResults: boolean}}
 */
export function readSettings() {
  const quick = process.env.BENCH_QUICK === '1';
  const rounds = quick ? 1 : intEnv('BENCH_ROUNDS', 3, 1, 20);
  const duration = quick ? 3 : intEnv('BENCH_DURATION', 10, 1, 300);
  const warmup = quick ? 1 : intEnv('BENCH_WARMUP', 2, 0, 60);
  const writeResults = process.env.BENCH_WRITE_RESULTS ? process.env.BENCH_WRITE_RESULTS === '1' : !quick;
  return { quick, rounds, duration, warmup, writeResults };
}

/**
 * The entries of `all` whose ids are named in environment variable `envName` (comma list, kept in
 * `all`'s order), or all of them when it is unset; fail()s on an unknown id, calling it a `what`.
 */
export function pickFromEnv(envName, all, what) {
  const wanted = (process.env[envName] ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  for (const w of wanted) if (!all.some((s) => s.id === w)) fail(`unknown ${what} ${w} (known: ${all.map((s) => s.id).join(', ')})`);
  return wanted.length ? all.filter((s) => wanted.includes(s.id)) : all;
}

/** The scenarios named in BENCH_SCENARIOS (comma list of ids, in `all`'s order), or all of them. */
export function pickScenarios(all) {
  return pickFromEnv('BENCH_SCENARIOS', all, 'scenario');
}

/** The run's command line: the BENCH_* variables set, then `npm run <npmScript>` or `node <script>`. */
export function commandLine(npmScript, script) {
  const knobs = Object.keys(process.env)
    .filter((k) => k.startsWith('BENCH_'))
    .sort()
    .map((k) => `${k}=${process.env[k]}`);
  const cmd = process.env.npm_lifecycle_event === npmScript ? `npm run ${npmScript}` : `node ${script}`;
  return [...knobs, cmd].join(' ');
}
