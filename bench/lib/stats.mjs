// Aggregation of benchmark runs: medians over rounds per scenario and target, and ratios between
// two targets computed per round (the runs of a round are close in time) and then medianed.
//
// A run is { round, scenario: <scenario id>, target: 'ours' | 'baseline', rps, readingsPerSec,
// p50, p99, non2xx, socketErrors, stored: { ok } , ... } as assembled by bench/http/run.mjs.

/** Median of the finite values of xs; NaN when there are none. */
export function median(xs) {
  const v = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (!v.length) return NaN;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

function aggregate(rs) {
  return {
    rps: median(rs.map((r) => r.rps)),
    readingsPerSec: median(rs.map((r) => r.readingsPerSec)),
    p50: median(rs.map((r) => r.p50)),
    p99: median(rs.map((r) => r.p99)),
    non2xx: rs.reduce((a, r) => a + r.non2xx, 0),
    socketErrors: rs.reduce((a, r) => a + r.socketErrors, 0),
    checksFailed: rs.filter((r) => !r.stored.ok).length,
    n: rs.length,
  };
}

/**
 * Median over rounds of runs[a][key] / runs[b][key], where a and b are the runs of targets `a`
 * and `b` in the same round of scenario `scenarioId` (rounds missing either are skipped).
 */
export function perRoundRatio(runs, scenarioId, a, b, key) {
  const rounds = [...new Set(runs.filter((r) => r.scenario === scenarioId).map((r) => r.round))];
  return median(
    rounds.map((round) => {
      const x = runs.find((r) => r.scenario === scenarioId && r.round === round && r.target === a);
      const y = runs.find((r) => r.scenario === scenarioId && r.round === round && r.target === b);
      return x && y ? x[key] / y[key] : NaN;
    }),
  );
}

/**
 * Per scenario (in the given order): medians of the targets 'ours' and 'baseline' over the
 * rounds, and the medians of the per-round ratios ours/baseline of readings/s, p50 and p99.
 * @returns {{scenario: object, ours: object, baseline: object, ratio: {throughput: number, p50: number, p99: number}}[]}
 */
export function summarize(runs, scenarios) {
  return scenarios.map((s) => {
    const per = (t) => runs.filter((r) => r.scenario === s.id && r.target === t);
    const ratio = (key) => perRoundRatio(runs, s.id, 'ours', 'baseline', key);
    return {
      scenario: s,
      ours: aggregate(per('ours')),
      baseline: aggregate(per('baseline')),
      ratio: { throughput: ratio('readingsPerSec'), p50: ratio('p50'), p99: ratio('p99') },
    };
  });
}
