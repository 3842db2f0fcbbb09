/**
 * ClusterLink's own rules, on a store that records what it is asked (Redis itself is exercised by
 * test/integration/mqtt-instances.suite.ts): route keys counted per use and announced in one
 * batch per turn, a publish sent once per instance with a matching route, shared groups taking
 * turns over the instances that hold them (this one included), an instance's routes forgotten
 * when it goes.
 */
import { expect, test } from 'bun:test';
import pino from 'pino';
import { Packr } from 'msgpackr';
import type { ClaimResult, MqttShareStore, ShareHandlers } from '../../../../src/queue/mqtt-share.ts';
import { ClusterLink, type LinkTargets } from '../../../../src/transports/mqtt/cluster-link.ts';
import { delivery, type Delivery, type SessionState } from '../../../../src/transports/mqtt/session.ts';
import type { Message } from '../../../../src/transports/mqtt/message.ts';

const packr = new Packr({ useRecords: false, variableMapSize: true });

class RecordingStore implements MqttShareStore {
  readonly instance = 'here';
  readonly live = new Set(['here', 'b', 'c']);
  h: ShareHandlers | undefined;
  changes: { add: string[]; remove: string[] }[] = [];
  sent: { to: string; entry: unknown }[] = [];
  async start(h: ShareHandlers): Promise<void> {
    this.h = h;
    h.snapshot({ routes: new Map([['b', ['cmd/b', 'alerts/#', '\u0000jobs\u0000jobs/#']], ['c', ['alerts/#', '\u0000jobs\u0000jobs/#']]]), retained: [] });
  }
  async changeRoutes(add: readonly string[], remove: readonly string[]): Promise<void> {
    this.changes.push({ add: [...add], remove: [...remove] });
  }
  async resyncRoutes(): Promise<void> {}
  async send(to: string, data: Buffer): Promise<void> {
    this.sent.push({ to, entry: packr.unpack(data) });
  }
  async claim(): Promise<ClaimResult> {
    return { claimed: true, previous: undefined };
  }
  moves: { ids: string[]; to: string[] }[] = [];
  async move(ids: readonly string[], to: readonly string[]): Promise<boolean[]> {
    this.moves.push({ ids: [...ids], to: [...to] });
    return ids.map(() => true);
  }
  async settle(): Promise<void> {}
  async saveSession(): Promise<void> {}
  async dropSession(): Promise<void> {}
  async takeSession(): Promise<[Buffer, number] | null> {
    return null;
  }
  async touchSession(): Promise<void> {}
  async replaceAway(): Promise<void> {}
  async appendAway(): Promise<void> {}
  async readAway(): Promise<Buffer[]> {
    return [];
  }
  leavingSaid = false;
  async leaving(): Promise<void> {
    this.leavingSaid = true;
    this.h!.log({ kind: 'leaving', instance: this.instance });
  }
  async release(): Promise<void> {}
  async saveWill(): Promise<void> {}
  async dropWill(): Promise<void> {}
  async holderOf(): Promise<string | undefined> {
    return undefined;
  }
  async setRetained(): Promise<void> {}
  async stop(): Promise<void> {}
}

async function started(targets: Partial<LinkTargets> = {}): Promise<{ link: ClusterLink; store: RecordingStore }> {
  const store = new RecordingStore();
  const link = new ClusterLink({ store, log: pino({ level: 'silent' }), refusals: { note() {} } as never, maxTopicLevels: 16, lost() {} });
  await link.start({
    ...targets,
    deliverRouted() {},
    applyRetained() {},
    clearRetained() {},
    takenOver: () => undefined,
    adopt() {},
    deliverForwarded() {},
    claimedPersistent: () => [],
    handOver: () => undefined,
    fireWill() {},
    ...targets,
  });
  return { link, store };
}

const turn = () => new Promise((r) => setImmediate(r));
const message = (topic: string): Message => ({ topic, payload: Buffer.from('x'), qos: 1, retain: false });
/** The instances the batches sent this turn went to, with the groups each was to serve. */
const sentTo = (store: RecordingStore) => store.sent.map((s) => ({ to: s.to, groups: ((s.entry as [number, [unknown, number, string[] | null][]])[1]).map((e) => e[2]) }));

test('cluster link - a route key is announced once however many sessions hold it, and withdrawn when the last lets go; changes of one turn in one write', async () => {
  const { link, store } = await started();
  link.held('cmd/here');
  link.held('cmd/here');
  link.held('other/+');
  link.released('other/+'); // added and removed in the same turn: nothing to say
  await turn();
  expect(store.changes).toEqual([{ add: ['cmd/here'], remove: [] }]);
  link.released('cmd/here');
  await turn();
  expect(store.changes.length).toBe(1);
  link.released('cmd/here');
  await turn();
  expect(store.changes[1]).toEqual({ add: [], remove: ['cmd/here'] });
});

test('cluster link - a publish goes to each instance with a matching route, batched per instance and turn, never to the others', async () => {
  const { link, store } = await started();
  expect(link.forward(message('cmd/b'), () => false)).toBeUndefined();
  expect(link.forward(message('alerts/fire'), () => false)).toBeUndefined();
  expect(link.forward(message('nobody/listens'), () => false)).toBeUndefined();
  await turn();
  // one batch per instance for the turn: b got both messages, c the alert
  const byInstance = Object.fromEntries(store.sent.map((s) => [s.to, (s.entry as [number, unknown[]])[1].length]));
  expect(byInstance).toEqual({ b: 2, c: 1 });
});

test('cluster link - a shared group held on b, c and here takes turns over the three: each message to one instance', async () => {
  const { link, store } = await started();
  const key = '\u0000jobs\u0000jobs/#';
  const local: number[] = [];
  for (let i = 0; i < 6; i++) {
    const skip = link.forward(message(`jobs/${i}`), (k) => k === key);
    if (skip === undefined || !skip.has(key)) local.push(i);
    await turn();
  }
  const remote = sentTo(store);
  expect(remote.every((r) => r.groups.every((g) => g !== null && g.length === 1 && g[0] === key))).toBe(true);
  // 6 messages over 3 instances: two each, and none both here and elsewhere
  expect(local.length).toBe(2);
  expect(remote.filter((r) => r.to === 'b').length).toBe(2);
  expect(remote.filter((r) => r.to === 'c').length).toBe(2);
});

test('cluster link - an instance that goes takes its routes with it', async () => {
  const { link, store } = await started();
  store.h!.gone('b');
  expect(link.forward(message('cmd/b'), () => false)).toBeUndefined();
  link.forward(message('alerts/x'), () => false);
  await turn();
  expect(store.sent.map((s) => s.to)).toEqual(['c']);
  expect(link.remoteRoutes).toBe(2);
});

test('cluster link - every copy of a published message carries the one id it was given where it was published', async () => {
  const { link, store } = await started();
  const m = message('alerts/x');
  link.forward(m, () => false);
  link.forward(message('alerts/y'), () => false);
  await turn();
  const ids = store.sent.map((s) => ((s.entry as [number, unknown[][]])[1]).map((e) => (e[0] as unknown[])[8]));
  // b and c each got both messages: the same two ids, different from each other
  expect(ids.length).toBe(2);
  expect(ids[0]).toEqual(ids[1]!);
  expect(ids[0]![0]).toBe(m.rid!);
  expect(ids[0]![0]).not.toBe(ids[0]![1]);
});

test('cluster link - an instance that stops moves each persistent session\'s claim, then its state, to the live instances not leaving; what still reaches one is forwarded after it; a takeover of one is passed on there', async () => {
  const state: SessionState = { expiryMs: 60_000, owner: '', subscriptions: [['cmd/d1', { qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 }]], qos2: [], inflight: [], queue: [] };
  const forwards = new Map<string, (d: Delivery) => void>();
  const { link, store } = await started({
    claimedPersistent: () => ['d1', 'd2', 'd3'],
    handOver: (clientId, forward) => {
      forwards.set(clientId, forward);
      return { state, remainingMs: 30_000 };
    },
  });
  // c is leaving too: nothing goes there
  store.h!.log({ kind: 'leaving', instance: 'c' });
  const done = link.handOver();
  await new Promise((r) => setTimeout(r, 20));
  expect(store.leavingSaid).toBe(true);
  expect(store.moves).toEqual([{ ids: ['d1', 'd2', 'd3'], to: ['b', 'b', 'b'] }]);
  const m = { ...message('cmd/d1'), rid: 'x.1' };
  forwards.get('d1')!(delivery(m, 1, false));
  // a reading (no id) reached every instance through the events channel: not forwarded
  forwards.get('d1')!(delivery(message('fleet/d1/data'), 1, false));
  await turn();
  const entries = store.sent.map((s) => s.entry as [number, unknown[]]);
  expect(store.sent.every((s) => s.to === 'b')).toBe(true);
  expect(entries[0]![0]).toBe(3); // ADOPT first
  expect((entries[0]![1] as unknown[][]).map((e) => [e[0], e[2]])).toEqual([['d1', 30_000], ['d2', 30_000], ['d3', 30_000]]);
  expect(entries[1]![0]).toBe(0); // then the forwarded message
  expect(entries[1]![1]).toEqual([[expect.anything(), 2, 'd1', 1, 0, null]]);
  // another instance's CONNECT of d2 reached this one: passed on to b, behind the session
  store.h!.inbox(packr.pack([1, 'd2', 'c']));
  expect((store.sent.at(-1)!.entry as unknown[]).slice(0, 3)).toEqual([1, 'd2', 'c']);
  // b answers that the sessions' routes are announced: the hand-over ends without waiting out the window
  const answeredAt = Date.now();
  store.h!.inbox(packr.pack([4]));
  expect(await done).toBe(3);
  expect(Date.now() - answeredAt).toBeLessThan(1000);
});
