import { describe, expect, test } from 'bun:test';
import { Fanout, type Frame, Subscriber, type SubscriberSocket } from '../../../../src/transports/ws/fanout.ts';
import { parseFilter, passesSensors, type Filter } from '../../../../src/transports/ws/filters.ts';

const SENSORS = ['ld2410', 'pir', 'mq134'];
const filter = (raw: unknown): Filter => parseFilter(raw, SENSORS) as Filter;

/** A fake uWS: topics with members; publish delivers to each member's received list. */
class FakeHub {
  readonly topics = new Map<string, Set<FakeSocket>>();
  publishes = 0;
  publish(topic: string, frame: Frame): void {
    this.publishes++;
    for (const s of this.topics.get(topic) ?? []) s.received.push(frame);
  }
}
class FakeSocket implements SubscriberSocket {
  readonly received: Frame[] = [];
  buffered = 0;
  ended: number | undefined;
  constructor(readonly hub: FakeHub) {}
  subscribe(t: string): void {
    if (!this.hub.topics.has(t)) this.hub.topics.set(t, new Set());
    this.hub.topics.get(t)!.add(this);
  }
  unsubscribe(t: string): void {
    this.hub.topics.get(t)?.delete(this);
  }
  send(f: Frame): void {
    this.received.push(f);
  }
  bufferedAmount(): number {
    return this.buffered;
  }
  end(code: number): void {
    this.ended = code;
  }
}

const reading = (device: string, sensors: string[], ts = '2026-01-01T00:00:00.000Z') =>
  JSON.stringify({ device_id: device, timestamp: ts, sensors: Object.fromEntries(sensors.map((s) => [s, {}])) });
const devices = (s: FakeSocket) => s.received.map((f) => JSON.parse(String(f)).data.device_id);

function setup() {
  const hub = new FakeHub();
  const fanout = new Fanout(hub, { flushMs: 0, maxBackpressure: 1000, slowTimeoutMs: 5000 });
  const sub = (raw: unknown, mode: 'stream' | 'latest' = 'stream') => {
    const s = new FakeSocket(hub);
    fanout.subscribe(new Subscriber(s, 'json'), filter(raw), mode);
    return s;
  };
  return { hub, fanout, sub };
}

describe('ws filters', () => {
  test('normalised: order and repeats do not matter; errors name the problem', () => {
    expect(filter({ device_id: ['b', 'a', 'a'] }).key).toBe(filter({ device_id: ['a', 'b'] }).key);
    expect(filter(undefined).key).toBe(filter({}).key);
    expect(parseFilter({ sensor_type: 'x' }, SENSORS)).toContain('not a known sensor type');
    expect(parseFilter({ device_id: [] }, SENSORS)).toContain('empty array');
    expect(parseFilter({ device_id: ['ok', 3] }, SENSORS)).toContain('non-empty string');
    expect(parseFilter([], SENSORS)).toBe('filters must be an object');
  });
  test('a reading passes a sensor filter with any of its sensor types', () => {
    const f = filter({ device_id: ['a', 'b'], sensor_type: ['pir', 'mq134'] });
    expect(passesSensors(f, ['pir'])).toBe(true);
    expect(passesSensors(f, ['ld2410', 'mq134'])).toBe(true);
    expect(passesSensors(f, ['ld2410'])).toBe(false);
    expect(passesSensors(filter({ device_id: 'a' }), ['ld2410'])).toBe(true);
  });
});

describe('ws fanout', () => {
  test('equal filters share one topic: one publish per reading for any number of subscribers', () => {
    const { hub, fanout, sub } = setup();
    const socks = Array.from({ length: 100 }, () => sub({ sensor_type: 'pir' }));
    expect(fanout.size).toEqual({ subscribers: 100, groups: 1 });
    fanout.push(reading('a', ['pir']));
    fanout.push(reading('b', ['mq134']));
    fanout.flush();
    expect(hub.publishes).toBe(1);
    for (const s of socks) expect(devices(s)).toEqual(['a']);
  });

  test('each subscriber gets a reading once, whatever filters overlap', () => {
    const { fanout, sub } = setup();
    const all = sub({});
    const dev = sub({ device_id: 'a' });
    const both = sub({ device_id: ['a', 'b'], sensor_type: ['pir', 'ld2410'] });
    fanout.push(reading('a', ['pir', 'ld2410']));
    fanout.push(reading('b', ['mq134']));
    fanout.flush();
    expect(devices(all)).toEqual(['a', 'b']);
    expect(devices(dev)).toEqual(['a']);
    expect(devices(both)).toEqual(['a']);
  });

  test('unsubscribing the last member removes the group; nothing is queued without subscribers', () => {
    const hub = new FakeHub();
    const fanout = new Fanout(hub, { flushMs: 0, maxBackpressure: 1000, slowTimeoutMs: 5000 });
    const s = new Subscriber(new FakeSocket(hub), 'json');
    fanout.subscribe(s, filter({ device_id: 'a' }), 'stream');
    fanout.unsubscribe(s);
    expect(fanout.size).toEqual({ subscribers: 0, groups: 0 });
    fanout.push(reading('a', ['pir']));
    fanout.flush();
    expect(hub.publishes).toBe(0);
  });

  test('latest mode: behind, it keeps only the newest frame per device and sensor, sent when drained', () => {
    const { fanout, sub } = setup();
    const s = sub({}, 'latest');
    s.buffered = 10_000;
    fanout.push(reading('a', ['pir'], 't1'));
    fanout.flush(); // falls behind before this flush: off its topic
    for (const ts of ['t2', 't3']) fanout.push(reading('a', ['pir'], ts));
    fanout.push(reading('b', ['pir', 'mq134'], 't4'));
    fanout.push(reading('b', ['mq134'], 't5'));
    fanout.flush();
    expect(s.received).toEqual([]);
    s.buffered = 0;
    fanout.sweep(Date.now());
    expect(s.received.map((f) => JSON.parse(String(f)).data.timestamp).sort()).toEqual(['t3', 't4', 't5']);
    fanout.push(reading('a', ['pir'], 't6'));
    fanout.flush();
    expect(JSON.parse(String(s.received.at(-1))).data.timestamp).toBe('t6');
  });

  test('a stream-mode subscriber past maxBackpressure for slowTimeoutMs is reported once too slow', () => {
    const { fanout, sub } = setup();
    const s = sub({});
    const ok = sub({ device_id: 'x' });
    s.buffered = 5000;
    expect(fanout.sweep(1000)).toEqual([]);
    expect(fanout.sweep(3000)).toEqual([]);
    const slow = fanout.sweep(6000);
    expect(slow.map((x) => x.socket)).toEqual([s]);
    s.buffered = 0;
    expect(fanout.sweep(20_000)).toEqual([]);
    expect(ok.ended).toBeUndefined();
  });

  test('a stream-mode subscriber behind leaves its topic: no publish, frames counted as skipped, back on its topic once drained', () => {
    const hub = new FakeHub();
    let skipped = 0;
    const fanout = new Fanout(hub, { flushMs: 0, maxBackpressure: 1000, slowTimeoutMs: 5000, onSkipped: (n) => (skipped += n) });
    const sock = new FakeSocket(hub);
    const sub = new Subscriber(sock, 'json');
    fanout.subscribe(sub, filter({}), 'stream');
    sock.buffered = 1000;
    fanout.sweep(1000);
    for (let i = 0; i < 5; i++) fanout.push(reading('a', ['pir']));
    fanout.flush();
    expect(hub.publishes).toBe(0);
    expect(skipped).toBe(5);
    sock.buffered = 600; // above half of maxBackpressure: still behind
    fanout.drained(sub);
    fanout.push(reading('b', ['pir']));
    fanout.flush();
    expect(sock.received).toEqual([]);
    sock.buffered = 0;
    fanout.drained(sub);
    fanout.push(reading('c', ['pir']));
    fanout.flush();
    expect(devices(sock)).toEqual(['c']);
    expect(skipped).toBe(6);
    expect(fanout.sweep(60_000)).toEqual([]);
  });

  test('readings are parsed only when a filter, MessagePack or latest mode needs it', () => {
    const { hub, fanout, sub } = setup();
    const parse = JSON.parse;
    let parses = 0;
    JSON.parse = ((text: string, reviver?: (k: string, v: unknown) => unknown) => {
      parses++;
      return parse(text, reviver);
    }) as typeof JSON.parse;
    try {
      const all = sub({});
      for (let i = 0; i < 10; i++) fanout.push(reading(`d${i}`, ['pir']));
      fanout.push('not json');
      fanout.flush();
      expect(parses).toBe(0);
      expect(all.received).toHaveLength(10);
      const one = sub({ device_id: 'd3' });
      for (let i = 0; i < 10; i++) fanout.push(reading(`d${i}`, ['pir']));
      fanout.push('{"broken": 1'); // not a JSON object's text: never framed
      fanout.push('{"broken": }'); // parsed for the device index, not a reading: dropped there
      fanout.flush();
      expect(parses).toBe(11);
      expect(devices(one)).toEqual(['d3']);
      expect(hub.publishes).toBe(21);
    } finally {
      JSON.parse = parse;
    }
  });
});
