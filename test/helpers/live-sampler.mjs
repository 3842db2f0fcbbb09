// Polls <url> every 20 ms (one request at a time) until SIGTERM, then prints one JSON line with
// the latency percentiles in ms. Runs under Node, apart from the test's own event loop, so the
// figures are the server's and not the test runner's.
const url = process.argv[2];
const times = [];
/** Samples over 25 ms: [ms since the start (Date.now based), latency]. */
const slow = [];
const t0 = Date.now();
let failed = 0;
let stop = false;
process.on('SIGTERM', () => (stop = true));
console.log(JSON.stringify({ started: true }));
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
  times.push(took);
  if (took > 25) slow.push([Date.now() - t0, Math.round(took)]);
  await new Promise((r) => setTimeout(r, 20));
}
times.sort((a, b) => a - b);
const at = (q) => Math.round((times[Math.min(times.length - 1, Math.floor(q * times.length))] ?? 0) * 10) / 10;
console.log(JSON.stringify({ n: times.length, failed, p50: at(0.5), p99: at(0.99), max: at(1), started_at: t0, slow: slow.slice(0, 50) }));
