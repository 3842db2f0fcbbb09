#!/usr/bin/env node
// The whole test suite in one command: makes sure redis-server, mosquitto and its clients,
// PostgreSQL and InfluxDB are there (installing Debian's packages when root), bundles the server, type-checks, lints (eslint.config.js), runs `bun test`, and ends
// with the plain line "N passed, N failed" that CI reads.
import { spawn, spawnSync } from 'node:child_process';

// mosquitto lives in /usr/sbin, which a non-root PATH may lack
// PostgreSQL's server binaries are in /usr/lib/postgresql/<version>/bin, off PATH
// paho: Debian's Python MQTT client, imported by /usr/bin/python3 (the MQTT interop test)
// nginx-stream: Debian ships nginx's stream module (the MQTT proxy) as its own package
const PROBES = { postgres: 'ls /usr/lib/postgresql/*/bin/postgres', paho: "/usr/bin/python3 -c 'import paho.mqtt'", 'nginx-stream': 'ls /usr/lib/nginx/modules/ngx_stream_module.so' };
const has = (cmd) => spawnSync('sh', ['-c', PROBES[cmd] ?? `command -v ${cmd} || test -x /usr/sbin/${cmd}`], { stdio: 'ignore' }).status === 0;

/** Debian packages the suite runs: command → package. */
const NEEDED = { 'redis-server': 'redis-server', mosquitto_pub: 'mosquitto-clients', mosquitto: 'mosquitto', openssl: 'openssl' };
/**
 * Installed too when root; without them (not root) the tests that need them are skipped, saying why.
 * chromium: Debian's, for the console's browser test (playwright-core drives it; no browser is downloaded).
 * python3-paho-mqtt: Python's paho client for the MQTT 3.1.1/5 interop test (test/integration/mqtt-paho.test.ts).
 * influxdb: InfluxDB 1.x (1.6.7 on Debian 12) for the consume influx tests (test/integration/influx-sink.test.ts).
 * nginx, libnginx-mod-stream: deploy/gateway/nginx.conf in front of the server (test/integration/gateway.test.ts).
 */
const OPTIONAL = { postgres: 'postgresql', chromium: 'chromium', paho: 'python3-paho-mqtt', influxd: 'influxdb', nginx: 'nginx', 'nginx-stream': 'libnginx-mod-stream' };

function ensurePackages() {
  const lacking = (table) => Object.entries(table).filter(([cmd]) => !has(cmd)).map(([, pkg]) => pkg);
  const required = lacking(NEEDED);
  const optional = lacking(OPTIONAL);
  const missing = [...required, ...optional];
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0) {
    if (optional.length) console.error(`note: ${optional.join(' ')} missing: the tests that need it are skipped (Debian/Ubuntu: sudo apt-get install -y ${optional.join(' ')})`);
    if (required.length === 0) return;
    console.error(`missing: install ${required.join(' ')} (Debian/Ubuntu: sudo apt-get install -y ${required.join(' ')}) and run npm test again`);
    process.exit(1);
  }
  console.error(`missing: installing Debian package(s) ${missing.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  for (const args of [['update', '-qq'], ['install', '-y', '-qq', ...missing]]) {
    if (spawnSync('apt-get', args, { stdio: 'inherit', env }).status !== 0) {
      console.error(`apt-get could not install ${missing.join(' ')}; install by hand and run npm test again`);
      process.exit(1);
    }
  }
  // the packages start system services on 6379, 1883, 5432, 8086 and 80; the tests start their own servers
  spawnSync('sh', ['-c', 'service redis-server stop >/dev/null 2>&1; service mosquitto stop >/dev/null 2>&1; service postgresql stop >/dev/null 2>&1; service influxdb stop >/dev/null 2>&1; service nginx stop >/dev/null 2>&1; true']);
}

/**
 * Runs a step without blocking; its output is kept (not interleaved with anything else) and
 * printed when it ends, or by the caller (`later`).
 */
function stepAsync(name, cmd, args, later = false) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('exit', (code) => {
      if (code !== 0) out += `${name} failed\n`;
      if (!later) process.stdout.write(out);
      resolve({ ok: code === 0, out });
    });
  });
}

ensurePackages();
// the bundle (what the integration tests run under Node) and the single binary made from it
const build = await stepAsync('build', 'node', ['scripts/build.mjs']);
if (!build.ok) {
  console.log('0 passed, 1 failed');
  process.exit(1);
}
// the type check and the lint (10 s and 24 s of CPU here) run at the lowest priority beside the
// tests, which mostly wait on the servers they start; their output comes after the tests'
const checks = Promise.all([
  stepAsync('typecheck', 'nice', ['-n', '19', 'npx', 'tsc', '-p', 'tsconfig.json', '--noEmit'], true),
  // the promise and switch rules tsc does not check (eslint.config.js): zero findings or a failure
  stepAsync('lint', 'nice', ['-n', '19', 'npx', 'eslint', '--max-warnings', '0', 'src', 'test'], true),
]);

/**
 * Repeats, just above the last line, what bun printed before each failed test (its error, the
 * expected and received values, the test's own output): CI keeps only the end of a long log, and
 * there bun's summary names a failed test without saying why.
 */
function printFailures(log) {
  const lines = log.split('\n');
  const summary = lines.findIndex((l) => /^\d+ tests? failed:$/.test(l.trim()));
  const end = summary === -1 ? lines.length : summary;
  const digests = [];
  for (let i = 0; i < end; i++) {
    if (!lines[i].startsWith('(fail)')) continue;
    let from = i;
    while (from > 0 && i - from < 30 && !/^\((pass|fail|skip)\)|^test\/.*:$/.test(lines[from - 1])) from--;
    digests.push([...lines.slice(from, i).map((l) => l.slice(0, 400)), lines[i]].join('\n'));
  }
  if (digests.length) console.log(`\nwhy the failed tests failed (bun's output before each):\n\n${digests.slice(0, 10).join('\n\n')}`);
}

const files = process.argv.slice(2);
const child = spawn('npx', ['bun', 'test', '--timeout', '60000', ...(files.length ? files : ['test/'])], { stdio: ['ignore', 'pipe', 'pipe'] });
let out = '';
for (const [from, to] of [[child.stdout, process.stdout], [child.stderr, process.stderr]]) {
  from.on('data', (d) => {
    out += d;
    to.write(d);
  });
}
child.on('exit', async (code) => {
  const count = (word) => Number(out.match(new RegExp(`^\\s*(\\d+) ${word}$`, 'm'))?.[1] ?? 0);
  const steps = await checks;
  for (const st of steps) process.stdout.write(st.out);
  const ok = steps.map((st) => st.ok);
  const passed = count('pass') + ok.filter(Boolean).length;
  const failed = count('fail') + ok.filter((x) => !x).length + (code !== 0 && count('fail') === 0 ? 1 : 0);
  const skipped = count('skip');
  printFailures(out);
  console.log(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
  process.exit(failed > 0 ? 1 : 0);
});
