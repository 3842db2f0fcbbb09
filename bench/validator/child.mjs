// One figure of bench/validator/run.mjs:
//   node child.mjs <validate|pipeline> <iterations> <bundle>=<case> [<bundle>=<case>]
// prints {"values": [...], "ratio": …}: per bundle and case, CPU ns per reading (validate) or
// readings per CPU second (pipeline), the median over slices; with two, `ratio` is the median over
// slice pairs of second / first (two trees on one case, or one tree on two cases).
//
// Both run in this one process, slice by slice in turn (the order swapped every pair): on
// a shared machine the load drifts over seconds, so two figures taken milliseconds apart compare
// better than two processes run one after the other. Slices are timed in this process's CPU time
// (user + system, all its threads, GC included), so time spent waiting for a core does not count;
// a full GC (--expose-gc) before each slice keeps one's garbage off the other's time.
// Every reading is unique (device id and timestamp), so dedupe never shortens the pipeline's work.
const [, , measure, itersArg, ...specs] = process.argv;
const ITER = Number(itersArg);
const targets = await Promise.all(
  specs.map(async (spec) => {
    const at = spec.lastIndexOf('=');
    return { m: await import(spec.slice(0, at)), kase: spec.slice(at + 1) };
  }),
);

const BASE = Date.now() - 60_000;
const DEVICES = 1000;
/** The JSON text of reading `i` in the shape of `kase`. */
function text(kase, i) {
  const t = BASE + Math.floor(i / DEVICES);
  const device = `bench-${i % DEVICES}`;
  const sensors = { ld2410: { presence: true, distance: 150, energy: 75 }, pir: { motion_detected: true }, mq134: { gas_concentration: 250, unit: 'ppm' } };
  switch (kase) {
    case 'canonical':
      return JSON.stringify({ device_id: device, timestamp: new Date(t).toISOString(), sensors });
    case 'offset':
      return JSON.stringify({ device_id: device, timestamp: new Date(t + 7_200_000).toISOString().replace('Z', '+02:00'), sensors });
    case 'epoch-ms':
      return JSON.stringify({ device_id: device, timestamp: t, sensors });
    case 'naive':
      return JSON.stringify({ device_id: device, timestamp: new Date(t).toISOString().slice(0, -1), sensors });
    case 'unknown-keep':
    case 'unknown-strip':
      return JSON.stringify({ device_id: device, timestamp: new Date(t).toISOString(), rssi: -60, sensors: { ...sensors, pir: { motion_detected: true, sensitivity: 3 } } });
    default:
      throw new Error(`unknown case ${kase}`);
  }
}
const N = 100_000;
// texts made up front, per case: their building is not part of the figure
const textsOf = new Map();
for (const { kase } of targets) if (!textsOf.has(kase)) textsOf.set(kase, Array.from({ length: N }, (_, i) => text(kase, i)));
const cpuNs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) * 1000;
};
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** Per bundle: `slice(k)` runs slice k and returns its figure. */
function validateRunner(m, kase) {
  const texts = textsOf.get(kase);
  // an earlier tree's constructor takes two arguments and ignores the third
  const validator = new m.ReadingValidator(m.builtinSensorTypes, 300_000, { unknownFields: kase === 'unknown-strip' ? 'strip' : 'keep', naiveTimestamps: 'utc' });
  const now = Date.now();
  const once = (i) => {
    const r = validator.validate(m.parseJson(texts[i % N]), now);
    if (r instanceof Error) throw new Error(`refused: ${r.details}`);
  };
  const SLICE = 20_000;
  return {
    slices: Math.max(5, Math.round(ITER / SLICE)),
    warm: () => {
      for (let i = 0; i < 20_000; i++) once(i);
    },
    slice: async (k) => {
      const start = cpuNs();
      for (let i = k * SLICE; i < (k + 1) * SLICE; i++) once(i);
      return (cpuNs() - start) / SLICE;
    },
  };
}

function pipelineRunner(m, kase) {
  const payloads = textsOf.get(kase).map((t) => Buffer.from(t));
  const validator = new m.ReadingValidator(m.builtinSensorTypes, 300_000, { unknownFields: kase === 'unknown-strip' ? 'strip' : 'keep', naiveTimestamps: 'utc' });
  const backend = new m.MemoryBackend({ maxLen: 10_000, dedupeWindowMs: 60_000 });
  const metrics = m.createMetrics({ queueSizes: async () => ({}), queueUp: () => true, inFlight: () => 0 }, { defaultMetrics: false });
  const quality = new m.QualityChecks({ ld2410NearCm: 100, ld2410MinEnergy: 50, mq134MaxStepPpm: 200, stepWindowMs: 60_000 });
  const pipeline = new m.Pipeline({ validator, backend, metrics, log: m.pino({ level: 'silent' }), quality }, { dedupeWindowMs: 60_000, queueBatchSize: 1000, maxInFlight: 50_000 });
  /** Ingests payloads [from, to) with 100 in flight; each unique within this pipeline's dedupe window. */
  const run = async (from, to) => {
    let next = from;
    const worker = async () => {
      while (next < to) {
        const i = next++;
        const o = await pipeline.ingest({ source: 'http', payload: payloads[i] });
        if (!o.ok) throw new Error(`refused: ${o.error.details ?? o.error.message}`);
      }
    };
    await Promise.all(Array.from({ length: 100 }, worker));
  };
  const WARM = 10_000;
  const slices = 9;
  const SLICE = Math.floor(Math.min(ITER, N - WARM) / slices);
  return {
    slices,
    warm: () => run(0, WARM),
    slice: async (k) => {
      const from = WARM + k * SLICE;
      const start = cpuNs();
      await run(from, from + SLICE);
      return SLICE / ((cpuNs() - start) / 1e9);
    },
  };
}

const runners = targets.map(({ m, kase }) => (measure === 'validate' ? validateRunner(m, kase) : pipelineRunner(m, kase)));
for (const r of runners) await r.warm();
const slices = runners[0].slices;
const figures = runners.map(() => []);
const ratios = [];
for (let k = 0; k < slices; k++) {
  const order = k % 2 === 0 ? runners.map((_, i) => i) : runners.map((_, i) => i).reverse();
  const got = [];
  for (const i of order) {
    // each slice starts on a collected heap: the other one's garbage is not collected on its time
    globalThis.gc?.();
    got[i] = await runners[i].slice(k);
  }
  got.forEach((v, i) => figures[i].push(v));
  if (runners.length === 2) ratios.push(got[1] / got[0]);
}
console.log(JSON.stringify({ values: figures.map(median), ratio: ratios.length ? median(ratios) : null }));
