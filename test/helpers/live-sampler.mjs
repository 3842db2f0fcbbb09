// Polls <url> every 20 ms (one request at a time) until SIGTERM, then prints one JSON line with
// the latency percentiles in ms. Runs under Node, apart from the test's own event loop, so the
// figures are the server's and not the test runner's. With a second argument N, the first N
// samples after a warm-up of WARMUP (the first requests open the connection and are compiled)
// are a baseline (the machine before any load): their percentiles are printed as a line of their
// own once taken, and they are left out of the final figures.
const url = process.argv[2];
const baselineSamples = Number(process.argv[3] ?? 0);
let times = [];
/** Samples over 25 ms: [ms since the start (Date.now based), latency]. */
const slow = [];
const t0 = Date.now();
let failed = 0;
let stop = false;
process.on('SIGTERM', () => (stop = true));
console.log(JSON.stringify({ started: true }));

const percentiles = (samples) => {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q) => Math.round((sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0) * 10) / 10;
  return { n: sorted.length, p50: at(0.5), p99: at(0.99), max: at(1) };
};

const WARMUP = 20;
let warm = baselineSamples === 0 ? WARMUP : 0;
let baselineDone = baselineSamples === 0;
while (!stop) {
  const t = performance.now();
  try {
    const res = await fetch(url);
    await res.arrayBuffer();
    if (res.status !== 200) failed++;
  } catch {
    failed++;
  }
  const took = performance.now() - t;
  if (warm < WARMUP) {
    warm++;
    await new Promise((r) => setTimeout(r, 20));
    continue;
  }
  times.push(took);
  if (!baselineDone && times.length >= baselineSamples) {
    baselineDone = true;
    console.log(JSON.stringify({ baseline: percentiles(times) }));
    times = [];
  } else if (baselineDone && took > 25) slow.push([Date.now() - t0, Math.round(took)]);
  await new Promise((r) => setTimeout(r, 20));
}
console.log(JSON.stringify({ ...percentiles(times), failed, started_at: t0, slow: slow.slice(0, 50) }));
