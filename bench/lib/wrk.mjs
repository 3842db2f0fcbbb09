// wrk, the HTTP load generator: one tracked run with a Lua script, and parsing of its output
// (the text report, preferring the BENCH_JSON summary line printed by bench/http/common.lua).
import { spawn } from 'node:child_process';
import path from 'node:path';
import { ROOT } from './paths.mjs';
import { track } from './processes.mjs';

let runSeq = 0;

/**
 * Runs `wrk -t<threads> -c<connections> -d<duration>s --timeout <timeout> --latency -s <script>`
 * against http://127.0.0.1:<port>. The script gets BENCH_RUN_ID (unique per run), BENCH_BASE_MS
 * (now − 2 s), BENCH_LUA_DIR and BENCH_COUNT_STATUS, then `env` on top (e.g. BENCH_KEYS_FILE, or
 * another BENCH_BASE_MS). Killed after duration + 30 s.
 * @returns {Promise<{out: string, err: string, args: string}>} output, and the command line
 *   with absolute paths made relative to the repository root
 */
export function runWrk({ script, connections, port, duration, threads, timeout, luaDir, countStatus, env: extraEnv = {} }) {
  runSeq += 1;
  const env = {
    ...process.env,
    BENCH_RUN_ID: `b${Date.now().toString(36)}${runSeq}`,
    BENCH_BASE_MS: String(Date.now() - 2000),
    BENCH_LUA_DIR: luaDir,
    BENCH_COUNT_STATUS: countStatus ? '1' : '0',
    ...extraEnv,
  };
  const args = [`-t${threads}`, `-c${connections}`, `-d${duration}s`, '--timeout', timeout, '--latency', '-s', script, `http://127.0.0.1:${port}`];
  return new Promise((resolve, reject) => {
    const child = track(spawn('wrk', args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] }));
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`wrk did not finish within ${duration + 30} s`));
    }, (duration + 30) * 1000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code !== 0) return reject(new Error(`wrk exited with ${code}:\n${err}${out}`));
      resolve({ out, err, args: ['wrk', ...args.map((a) => (a.startsWith('/') ? path.relative(ROOT, a) : a))].join(' ') });
    });
  });
}

const UNIT_MS = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

function parseText(text) {
  const pct = (p) => {
    const m = text.match(new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s|m|h)\\s*$`, 'm'));
    return m ? Number(m[1]) * UNIT_MS[m[2]] : NaN;
  };
  const sock = text.match(/Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/);
  return {
    rps: Number(text.match(/Requests\/sec:\s+([\d.]+)/)?.[1] ?? NaN),
    requests: Number(text.match(/(\d+) requests in /)?.[1] ?? NaN),
    p50: pct(50),
    p99: pct(99),
    non2xx: Number(text.match(/Non-2xx or 3xx responses:\s+(\d+)/)?.[1] ?? 0),
    socket: sock ? { connect: +sock[1], read: +sock[2], write: +sock[3], timeout: +sock[4] } : { connect: 0, read: 0, write: 0, timeout: 0 },
  };
}

function parseJsonLine(text) {
  const line = text.match(/^BENCH_JSON (.*)$/m)?.[1];
  if (!line) return null;
  try {
    return JSON.parse(line);
  } catch {
    return null;
  }
}

/**
 * Parses wrk's text output, and the BENCH_JSON line printed by the scripts' done() when present
 * (preferred; a disagreement with the text report or its absence becomes a warning).
 * Latencies in ms; readingsPerSec and acceptedReadings count 2xx answers only.
 * @returns {{requests: number, rps: number, p50: number, p99: number, non2xx: number,
 *   socket: object, socketErrors: number, statuses: object, firstBad: string|null, okShare: number,
 *   readingsPerSec: number, acceptedReadings: number, warnings: string[]}}
 */
export function parseWrk(text, readingsPerRequest) {
  const fromText = parseText(text);
  const j = parseJsonLine(text);
  const warnings = [];
  let r;
  if (j) {
    r = {
      requests: j.requests,
      rps: j.requests / (j.duration_us / 1e6),
      p50: j.latency_us.p50 / 1000,
      p99: j.latency_us.p99 / 1000,
      non2xx: j.errors.status,
      socket: { connect: j.errors.connect, read: j.errors.read, write: j.errors.write, timeout: j.errors.timeout },
      statuses: j.statuses,
      firstBad: j.first_bad,
    };
    if (Number.isFinite(fromText.rps) && Math.abs(fromText.rps - r.rps) > 0.01 * r.rps + 1) {
      warnings.push(`wrk text says ${fromText.rps} req/s, script summary ${r.rps.toFixed(2)}`);
    }
  } else {
    warnings.push('BENCH_JSON line missing, using wrk text output only');
    r = { ...fromText, statuses: {}, firstBad: null };
  }
  if (!Number.isFinite(r.rps) || !Number.isFinite(r.p50) || !Number.isFinite(r.p99)) {
    throw new Error(`could not parse wrk output:\n${text}`);
  }
  r.socketErrors = r.socket.connect + r.socket.read + r.socket.write + r.socket.timeout;
  r.okShare = r.requests > 0 ? (r.requests - r.non2xx) / r.requests : 0;
  r.readingsPerSec = r.rps * readingsPerRequest * r.okShare;
  r.acceptedReadings = (r.requests - r.non2xx) * readingsPerRequest;
  r.warnings = warnings;
  return r;
}
