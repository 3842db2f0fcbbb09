/**
 * Samples the server while a scenario runs: RSS from /proc every `intervalMs`, and from
 * /metrics ingest_in_flight and ingest_circuit_breaker_open. Follows a restarted server
 * (the getter is asked each time).
 * @module
 */
import type { ServerProcess } from '../../helpers/spawn-server.ts';

export interface Sample {
  t: number;
  rssMiB: number;
  inFlight?: number;
  breakerOpen?: number;
}

const gauge = (text: string, name: string): number | undefined => {
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : undefined;
};

/** Sum of the samples of metric `name` on the server's /metrics whose labels contain `labels` (0 if absent). */
export async function metricSum(server: ServerProcess, name: string, labels = ''): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${server.metricsPort}/metrics`, { signal: AbortSignal.timeout(2000) })).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name) || (line[name.length] !== '{' && line[name.length] !== ' ')) continue;
    if (labels && !line.includes(labels)) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

export class Sampler {
  readonly samples: Sample[] = [];
  #timer: NodeJS.Timeout | undefined;
  #busy = false;

  constructor(
    private readonly server: () => ServerProcess | undefined,
    private readonly intervalMs = 250,
  ) {}

  start(): this {
    this.#timer = setInterval(() => void this.#sample(), this.intervalMs);
    return this;
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  async #sample(): Promise<void> {
    if (this.#busy) return;
    const s = this.server();
    if (!s) return;
    this.#busy = true;
    const sample: Sample = { t: Date.now(), rssMiB: s.rssMiB() };
    try {
      const res = await fetch(`http://127.0.0.1:${s.metricsPort}/metrics`, { signal: AbortSignal.timeout(1000) });
      const text = await res.text();
      const inFlight = gauge(text, 'ingest_in_flight');
      const breakerOpen = gauge(text, 'ingest_circuit_breaker_open');
      if (inFlight !== undefined) sample.inFlight = inFlight;
      if (breakerOpen !== undefined) sample.breakerOpen = breakerOpen;
    } catch {
      // the server is down or busy: RSS only
    }
    if (sample.rssMiB > 0) this.samples.push(sample);
    this.#busy = false;
  }

  peakRssMiB(from = 0, to = Infinity): number {
    return Math.max(0, ...this.samples.filter((s) => s.t >= from && s.t < to).map((s) => s.rssMiB));
  }

  peakInFlight(from = 0, to = Infinity): number {
    return Math.max(0, ...this.samples.filter((s) => s.t >= from && s.t < to).map((s) => s.inFlight ?? 0));
  }

  /** Whether the breaker was seen open in [from, to). */
  breakerSeen(from = 0, to = Infinity): boolean {
    return this.samples.some((s) => s.t >= from && s.t < to && s.breakerOpen === 1);
  }

  /** Least-squares slope of RSS in MiB per minute over samples in [from, to). */
  rssSlopeMiBPerMin(from = 0, to = Infinity): number {
    const xs = this.samples.filter((s) => s.t >= from && s.t < to);
    if (xs.length < 2) return 0;
    const mx = xs.reduce((a, s) => a + s.t, 0) / xs.length;
    const my = xs.reduce((a, s) => a + s.rssMiB, 0) / xs.length;
    let num = 0;
    let den = 0;
    for (const s of xs) {
      num += (s.t - mx) * (s.rssMiB - my);
      den += (s.t - mx) ** 2;
    }
    return den === 0 ? 0 : (num / den) * 60_000;
  }
}
