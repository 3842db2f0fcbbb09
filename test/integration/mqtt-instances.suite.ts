/**
 * Three server instances on one Redis (or the test Redis Cluster) as one MQTT broker
 * (docs/mqtt-cluster.md): a relay publish reaches every matching subscriber on every instance
 * exactly once; shared subscription members on different instances each get their share; a
 * retained message set on one is seen on the others and cleared from any; a client id
 * connected on one is taken over by a CONNECT on another (0x8E within a second); a client id
 * held by another identity stays refused whichever instance is asked. Run by
 * mqtt-instances.test.ts and test/cluster/.
 */
import { describe, expect, test } from 'bun:test';
import mqtt, { type MqttClient } from 'mqtt';
import type { IDisconnectPacket } from 'mqtt-packet';
import { type StackOptions, useStack } from '../helpers/stack.ts';
import { waitFor } from '../helpers/wait.ts';

interface Got {
  topic: string;
  payload: string;
  retain: boolean;
  dup?: boolean;
}

/** @param prefix put before every test name (e.g. "cluster - ") */
export function mqttInstancesSuite(prefix = '', opts: StackOptions = {}): void {
  // a dead instance is noticed after 2 s (the default 5 s: the same code, a longer wait)
  const stack = useStack({ MQTT_INSTANCE_TIMEOUT_MS: '2000' }, { ...opts, servers: 3 });
  let n = 0;

  async function client(server: number, o: mqtt.IClientOptions = {}): Promise<{ c: MqttClient; got: Got[] }> {
    const c = stack.track(
      await mqtt.connectAsync(`mqtt://127.0.0.1:${stack.servers[server]!.mqttPort}`, { protocolVersion: 5, reconnectPeriod: 0, clientId: `inst-${server}-${n++}-${Date.now()}`, ...o }),
    );
    const got: Got[] = [];
    c.on('message', (topic, payload, packet) => got.push({ topic, payload: payload.toString(), retain: packet.retain }));
    return { c, got };
  }

  /**
   * Publishes a probe on `topic` from `pub` until every subscriber in `subs` got one: the
   * subscriptions made on the other instances are known to the publisher's instance by then.
   */
  async function routed(pub: MqttClient, topic: string, subs: { got: Got[] }[]): Promise<void> {
    await waitFor(
      async () => {
        await pub.publishAsync(topic, 'probe', { qos: 1 });
        return subs.every((s) => s.got.some((g) => g.payload === 'probe'));
      },
      10_000,
      'the routes known to the publishing instance',
    );
    // the last probes may still be on their way: let them land before counting
    await pub.publishAsync(topic, 'fence', { qos: 1 });
    await waitFor(() => subs.every((s) => s.got.some((g) => g.payload === 'fence')), 5000, 'fence');
    for (const s of subs) s.got.length = 0;
  }

  describe(`${prefix}mqtt across instances`, () => {
    test(`${prefix}mqtt instances - a relay publish on A reaches subscribers on A, B and C exactly once each (exact and wildcard filters, overlapping ones merged)`, async () => {
      const a = await client(0);
      const b = await client(1);
      const c = await client(2);
      const c2 = await client(2);
      await a.c.subscribeAsync('cmd/room-1/#', { qos: 1 });
      await b.c.subscribeAsync('cmd/room-1/lamp', { qos: 1 });
      // two overlapping filters of one session: one copy [MQTT-3.3.4-2]
      await c.c.subscribeAsync(['cmd/+/lamp', 'cmd/room-1/lamp'], { qos: 1 });
      await c2.c.subscribeAsync('cmd/#', { qos: 0 });
      const pub = (await client(0)).c;
      await routed(pub, 'cmd/room-1/lamp', [a, b, c, c2]);

      const sent = Array.from({ length: 50 }, (_, i) => `on-${i}`);
      for (const p of sent) await pub.publishAsync('cmd/room-1/lamp', p, { qos: 1 });
      await pub.publishAsync('cmd/room-1/lamp', 'end', { qos: 1 });
      for (const s of [a, b, c, c2]) await waitFor(() => s.got.some((g) => g.payload === 'end'), 5000, 'end');
      for (const s of [a, b, c]) expect(s.got.map((g) => g.payload)).toEqual([...sent, 'end']);
      // QoS 0 on the way: none lost here either (loopback), still exactly once each
      expect(c2.got.map((g) => g.payload)).toEqual([...sent, 'end']);
      // A's route table holds B's and C's filters; every instance sees three alive
      expect(await stack.servers[0]!.metric('mqtt_remote_routes')).toBeGreaterThanOrEqual(3);
      for (const s of stack.servers) expect(await s.metric('mqtt_instances')).toBe(3);
    });

    test(`${prefix}mqtt instances - $share/g members on A, B and C each get a share; every message goes to exactly one member`, async () => {
      const members = [await client(0), await client(1), await client(2)];
      for (const m of members) await m.c.subscribeAsync('$share/g/jobs/#', { qos: 1 });
      // a marker per member (plain subscription) shows the routes are known before counting
      for (const [i, m] of members.entries()) await m.c.subscribeAsync(`marker/${i}`, { qos: 1 });
      const pub = (await client(1)).c;
      for (const [i, m] of members.entries()) await routed(pub, `marker/${i}`, [m]);

      const sent = Array.from({ length: 60 }, (_, i) => `job-${i}`);
      for (const p of sent) await pub.publishAsync(`jobs/${p}`, p, { qos: 1 });
      for (const [i] of members.entries()) await pub.publishAsync(`marker/${i}`, 'end', { qos: 1 });
      for (const m of members) await waitFor(() => m.got.some((g) => g.payload === 'end'), 5000, 'end');
      const shares = members.map((m) => m.got.filter((g) => g.topic.startsWith('jobs/')).map((g) => g.payload));
      expect(shares.flat().sort()).toEqual([...sent].sort());
      for (const s of shares) expect(s.length).toBeGreaterThanOrEqual(10);
    });

    test(`${prefix}mqtt instances - a retained message set on A is seen on B and C, cleared on C, gone for a new subscriber on A`, async () => {
      const topic = `status/dev-${Date.now()}`;
      const a = await client(0);
      await a.c.publishAsync(topic, 'online', { qos: 1, retain: true });
      for (const server of [1, 2]) {
        const s = await client(server);
        // the retained copy reaches the other instances through the shared log: a new subscriber sees it there
        await waitFor(
          async () => {
            s.got.length = 0;
            await s.c.subscribeAsync('status/+', { qos: 1 });
            await s.c.unsubscribeAsync('status/+');
            return s.got.some((g) => g.topic === topic && g.payload === 'online' && g.retain);
          },
          5000,
          `the retained message on instance ${server}`,
        );
      }
      const c = await client(2);
      await c.c.publishAsync(topic, '', { qos: 1, retain: true });
      const later = await client(0);
      await waitFor(
        async () => {
          later.got.length = 0;
          await later.c.subscribeAsync(topic, { qos: 1 });
          await later.c.unsubscribeAsync(topic);
          await later.c.publishAsync(`marker-${topic}`, 'x', { qos: 1 });
          return later.got.length === 0;
        },
        5000,
        'the retained message cleared on A',
      );
      // and Redis holds it no more (what an instance joining later would load)
      expect(await stack.client.hexists('{mqtt}:retained', topic)).toBe(0);
    });

    test(`${prefix}mqtt instances - the same client id connecting on B takes over its connection on A (DISCONNECT 0x8E within a second)`, async () => {
      const clientId = `taken-${Date.now()}`;
      const first = await client(0, { clientId });
      const reason = new Promise<number | undefined>((resolve) => first.c.on('disconnect', (p: IDisconnectPacket) => resolve(p.reasonCode)));
      const closed = new Promise<void>((resolve) => first.c.on('close', () => resolve()));
      const started = Date.now();
      const second = await client(1, { clientId });
      expect(await reason).toBe(0x8e);
      await closed;
      expect(Date.now() - started).toBeLessThan(1000);
      expect(second.c.connected).toBe(true);
      // and back again: the connection on B is taken over by one on C
      const third = await client(2, { clientId });
      await waitFor(() => !second.c.connected, 2000, 'the connection on B closed');
      expect(third.c.connected).toBe(true);
    });

    test(`${prefix}mqtt instances - a persistent session made on A resumes on C with sessionPresent and its 10 queued QoS 1 messages in order (v3.1.1 and v5)`, async () => {
      for (const version of [4, 5] as const) {
        const clientId = `roaming-v${version}-${Date.now()}`;
        const persistent: mqtt.IClientOptions = { clientId, clean: false, protocolVersion: version, ...(version === 5 ? { properties: { sessionExpiryInterval: 300 } } : {}) };
        const first = await client(0, persistent);
        await first.c.subscribeAsync(`roam/${clientId}/cmd`, { qos: 1 });
        // B knows the session's route before the client leaves
        const pub = (await client(1)).c;
        await routed(pub, `roam/${clientId}/cmd`, [first]);
        await first.c.endAsync();
        // published on B while the client is away: queued by its session on A
        for (let i = 0; i < 10; i++) await pub.publishAsync(`roam/${clientId}/cmd`, `cmd-${i}`, { qos: 1 });
        const received: Got[] = [];
        // the handler is in place before the CONNACK: the queue follows it at once
        const again = stack.track(mqtt.connect(`mqtt://127.0.0.1:${stack.servers[2]!.mqttPort}`, { ...persistent, reconnectPeriod: 0 }));
        again.on('message', (topic, p, packet) => received.push({ topic, payload: p.toString(), retain: packet.retain }));
        expect(await new Promise<boolean>((resolve) => again.once('connect', (ack) => resolve(ack.sessionPresent)))).toBe(true);
        await waitFor(() => received.length >= 10, 5000, 'the queued messages on C');
        expect(received.map((g) => g.payload)).toEqual(Array.from({ length: 10 }, (_, i) => `cmd-${i}`));
        // the session's subscription lives on C now: a command published at once reaches it
        // there, once (A forwards what still reaches it there while B learns C's route)
        await pub.publishAsync(`roam/${clientId}/cmd`, 'after', { qos: 1 });
        await waitFor(() => received.some((g) => g.payload === 'after'), 5000, 'a command after the move');
        expect(received.map((g) => g.payload).slice(10)).toEqual(['after']);
        await again.endAsync();
      }
    });

    test(`${prefix}mqtt instances - commands published without pause while a persistent session moves from A to C (and back to B) each reach it once`, async () => {
      const clientId = `moving-${Date.now()}`;
      const topic = `move/${clientId}/cmd`;
      const persistent: mqtt.IClientOptions = { clientId, clean: false, properties: { sessionExpiryInterval: 300 } };
      const first = await client(0, persistent);
      await first.c.subscribeAsync(topic, { qos: 1 });
      const pub = (await client(1)).c;
      await routed(pub, topic, [first]);
      const received: { payload: string; dup: boolean; via: number }[] = [];
      first.c.on('message', (_t, p, packet) => received.push({ payload: p.toString(), dup: packet.dup, via: 0 }));
      let sent = 0;
      let publishing = true;
      const publisher = (async () => {
        while (publishing) await pub.publishAsync(topic, `n-${sent++}`, { qos: 1 });
      })();
      const moveTo = async (server: number) => {
        await waitFor(() => received.length >= sent - 5 && sent > 20, 5000, 'commands flowing');
        const next = stack.track(mqtt.connect(`mqtt://127.0.0.1:${stack.servers[server]!.mqttPort}`, { protocolVersion: 5, ...persistent, reconnectPeriod: 0 }));
        next.on('message', (_t, p, packet) => received.push({ payload: p.toString(), dup: packet.dup, via: server }));
        expect(await new Promise<boolean>((resolve) => next.once('connect', (ack) => resolve(ack.sessionPresent)))).toBe(true);
        return next;
      };
      await moveTo(2);
      const last = await moveTo(1);
      const moved = sent;
      await waitFor(() => sent > moved + 20, 5000, 'commands after the moves');
      publishing = false;
      await publisher;
      await waitFor(() => new Set(received.map((r) => r.payload)).size >= sent, 5000, `all ${sent} commands`).catch((err: unknown) => {
        const got = new Set(received.map((r) => r.payload));
        const missing = Array.from({ length: sent }, (_, i) => `n-${i}`).filter((p) => !got.has(p));
        throw new Error(`${String(err)}; missing ${missing.join(' ')}; received in order ${received.map((r) => `${r.payload}@${r.via}${r.dup ? 'D' : ''}`).join(' ')}`);
      }).catch(async (err: unknown) => {
        const drops = await Promise.all(stack.servers.map(async (s) => (await (await fetch(`http://127.0.0.1:${s.metricsPort}/metrics`)).text()).split('\n').filter((l) => l.startsWith('mqtt_messages_dropped_total')).join(' ')));
        throw new Error(`${String(err)}; drops: ${drops.join(' || ')}`);
      });
      const counts = new Map<string, number>();
      for (const r of received) counts.set(r.payload, (counts.get(r.payload) ?? 0) + 1);
      expect([...counts.keys()].sort()).toEqual(Array.from({ length: sent }, (_, i) => `n-${i}`).sort());
      // a second copy only of one sent but not acknowledged when the connection was taken over,
      // flagged DUP [MQTT-4.4.0-1]: each sent once without DUP (which copy the client reads first
      // depends on which of its two sockets it reads first)
      const twice = [...counts].filter(([, n]) => n > 1).map(([p]) => p);
      const sentTwice = twice.filter((p) => received.filter((r) => r.payload === p && !r.dup).length > 1);
      expect(sentTwice.map((p) => received.filter((r) => r.payload === p))).toEqual([]);
      // (at most what was in flight at the two moves: the publisher waits for each PUBACK)
      expect(twice.length).toBeLessThan(sent / 4);
      await last.endAsync();
    });

    test(`${prefix}mqtt instances - an instance that stops (SIGTERM) hands its persistent sessions to the others: commands published throughout reach them once they reconnect elsewhere`, async () => {
      const d = await stack.startServer();
      const stamp = Date.now();
      const devices: { id: string; topic: string; version: 4 | 5 }[] = Array.from({ length: 6 }, (_, i) => ({ id: `leaving-${i}-${stamp}`, topic: `leave/${i}-${stamp}/cmd`, version: i % 2 === 0 ? 5 : 4 }));
      const options = (dev: (typeof devices)[number]): mqtt.IClientOptions => ({
        clientId: dev.id,
        clean: false,
        protocolVersion: dev.version,
        reconnectPeriod: 0,
        ...(dev.version === 5 ? { properties: { sessionExpiryInterval: 300 } } : {}),
      });
      const received = new Map<string, Got[]>(devices.map((dev) => [dev.id, []]));
      const record = (c: MqttClient, got: Got[]) => c.on('message', (topic, p, packet) => got.push({ topic, payload: p.toString(), retain: packet.retain, dup: packet.dup }));
      const pub = (await client(0)).c;
      for (const dev of devices) {
        const c = stack.track(await mqtt.connectAsync(`mqtt://127.0.0.1:${d.mqttPort}`, options(dev)));
        const got = received.get(dev.id)!;
        record(c, got);
        await c.subscribeAsync(dev.topic, { qos: 1 });
        await routed(pub, dev.topic, [{ got }]);
      }
      let sent = 0;
      let publishing = true;
      const publisher = (async () => {
        while (publishing) {
          const n = sent++;
          await Promise.all(devices.map((dev) => pub.publishAsync(dev.topic, `n-${n}`, { qos: 1 })));
        }
      })();
      await waitFor(() => sent > 20, 5000, 'commands flowing');
      expect(await d.stop()).toBe(0);
      const stoppedAt = sent;
      await waitFor(() => sent > stoppedAt + 20, 5000, 'commands published after the stop');
      // the devices come back on B (whichever instance adopted their sessions)
      for (const dev of devices) {
        const c = stack.track(mqtt.connect(`mqtt://127.0.0.1:${stack.servers[1]!.mqttPort}`, options(dev)));
        record(c, received.get(dev.id)!);
        expect(await new Promise<boolean>((resolve) => c.once('connect', (ack) => resolve(ack.sessionPresent)))).toBe(true);
      }
      const back = sent;
      await waitFor(() => sent > back + 20, 5000, 'commands after the reconnects');
      publishing = false;
      await publisher;
      for (const dev of devices) {
        const got = received.get(dev.id)!;
        await waitFor(() => new Set(got.map((r) => r.payload)).size >= sent, 5000, `all ${sent} commands for ${dev.id}`);
        const payloads = got.filter((r) => !r.dup).map((r) => r.payload);
        expect(new Set(payloads).size).toBe(payloads.length);
        expect(new Set(got.map((r) => r.payload)).size).toBe(sent);
      }
    });

    // last: it kills the third instance
    test(`${prefix}mqtt instances - an instance SIGKILLed is forgotten by the others within MQTT_INSTANCE_TIMEOUT_MS (2 s here) and a heartbeat: its registration, routes and inbox deleted, its wills fired once by one survivor (a delayed one cancelled by a reconnect elsewhere), its persistent sessions taken up (by a client back at once, by the survivor that cleans up), routing goes on`, async () => {
      const killed = stack.servers[2]!;
      const watchers = [await client(0), await client(1)];
      for (const w of watchers) await w.c.subscribeAsync('wills/#', { qos: 1 });
      const willOf = (id: string, delay: number): mqtt.IClientOptions => ({
        clientId: id,
        will: { topic: `wills/${id}`, payload: Buffer.from('offline'), qos: 1, retain: false, properties: { willDelayInterval: delay } },
      });
      const stamp = Date.now();
      const publisherOnA = await client(0);
      const pub0 = () => publisherOnA.c;
      await client(2, willOf(`will-now-${stamp}`, 0));
      await client(2, willOf(`will-later-${stamp}`, 1));
      await client(2, willOf(`will-delayed-${stamp}`, 2));
      const onKilled = await client(2);
      await onKilled.c.subscribeAsync('gone/topic', { qos: 1 });
      // persistent sessions on the instance about to die: one client back before its death is
      // noticed (its takeover unanswered, it takes the session's record), one after (adopted by
      // the survivor that cleans up, which queues what is published meanwhile)
      const persistent = (id: string): mqtt.IClientOptions => ({ clientId: id, clean: false, properties: { sessionExpiryInterval: 300 } });
      const early = `crash-early-${stamp}`;
      const late = `crash-late-${stamp}`;
      for (const id of [early, late]) {
        const p = await client(2, persistent(id));
        await p.c.subscribeAsync(`crash/${id}/cmd`, { qos: 1 });
        // recorded in Redis (written at the end of the turn of the SUBSCRIBE)
        await waitFor(async () => (await stack.client.hget(`mqtt:session:{${id}}`, 'd')) !== null, 5000, `the record of ${id}`);
        await routed(pub0(), `crash/${id}/cmd`, [p]);
        if (id === late) {
          // the late client leaves before the death: a command queued for it is kept in Redis too
          await p.c.endAsync();
          await pub0().publishAsync(`crash/${id}/cmd`, 'queued before the death', { qos: 1 });
          await waitFor(async () => (await stack.client.llen(`mqtt:away:{${id}}`)) === 1, 5000, 'the queued command kept in Redis');
        }
      }
      const live = await client(1);
      await live.c.subscribeAsync('gone/topic', { qos: 1 });
      const pub = (await client(0)).c;
      await routed(pub, 'gone/topic', [onKilled, live]);
      const before = await stack.client.zrange('{mqtt}:instances', 0, -1);
      expect(before.length).toBe(3);
      const killedAt = Date.now();
      killed.proc.kill('SIGKILL');
      // back on B at once: the dead instance does not answer the takeover; its record of the session is taken up after 2 s
      const earlyBack = stack.track(mqtt.connect(`mqtt://127.0.0.1:${stack.servers[1]!.mqttPort}`, { protocolVersion: 5, ...persistent(early), reconnectPeriod: 0 }));
      const earlyGot: Got[] = [];
      earlyBack.on('message', (topic, p, packet) => earlyGot.push({ topic, payload: p.toString(), retain: packet.retain }));
      const earlyPresent = new Promise<boolean>((resolve) => earlyBack.once('connect', (ack) => resolve(ack.sessionPresent)));
      await waitFor(async () => (await stack.client.zcard('{mqtt}:instances')) === 2, 10_000, 'the killed instance deregistered by the others');
      const forgottenMs = Date.now() - killedAt;
      expect(forgottenMs).toBeLessThan(5000);
      const left = await stack.client.zrange('{mqtt}:instances', 0, -1);
      const dead = before.find((i) => !left.includes(i))!;
      // one key per EXISTS: on Cluster they live in different slots
      for (const key of [`mqtt:inbox:{${dead}}`, `{mqtt}:routes:${dead}`]) expect(await stack.client.exists(key)).toBe(0);
      // will-later's client is back, on B, within its 1 s delay: that will never goes
      await client(1, { clientId: `will-later-${stamp}` });
      // will-delayed (2 s) goes after will-later's moment has passed on the same survivor's timers
      for (const w of watchers) await waitFor(() => w.got.some((g) => g.topic === `wills/will-delayed-${stamp}`), 8000, 'the delayed will on every surviving instance');
      for (const w of watchers) expect(w.got.filter((g) => g.topic.startsWith('wills/')).map((g) => g.topic)).toEqual([`wills/will-now-${stamp}`, `wills/will-delayed-${stamp}`]);
      for (const key of [`mqtt:will:{will-now-${stamp}}`, `mqtt:wills:{${dead}}`]) expect(await stack.client.exists(key)).toBe(0);
      // the survivors still route to each other
      live.got.length = 0;
      await pub.publishAsync('gone/topic', 'after', { qos: 1 });
      await waitFor(() => live.got.some((g) => g.payload === 'after'), 5000, 'delivery on B after C died');

      // the early client resumed its session (subscriptions from the record) on B
      expect(await earlyPresent).toBe(true);
      await routed(pub, `crash/${early}/cmd`, [{ got: earlyGot }]);
      // the late client's session was taken up by the survivor that cleaned up: a command published there now is queued
      const adopter = await stack.client.hget(`mqtt:session:{${late}}`, 'i');
      const survivor = [0, 1].find((k) => adopter?.includes(`-${stack.servers[k]!.proc.pid}-`));
      expect(survivor).toBeDefined();
      const there = (await client(survivor!)).c;
      await there.publishAsync(`crash/${late}/cmd`, 'queued while away', { qos: 1 });
      // it comes back on the other survivor: its session, with the command
      const lateBack = stack.track(mqtt.connect(`mqtt://127.0.0.1:${stack.servers[1 - survivor!]!.mqttPort}`, { protocolVersion: 5, ...persistent(late), reconnectPeriod: 0 }));
      const lateGot: string[] = [];
      lateBack.on('message', (_t, p) => lateGot.push(p.toString()));
      expect(await new Promise<boolean>((resolve) => lateBack.once('connect', (ack) => resolve(ack.sessionPresent)))).toBe(true);
      await waitFor(() => lateGot.includes('queued while away'), 5000, 'the command queued by the adopted session');
      // the one queued on the dead instance came back from Redis, first
      expect(lateGot.filter((p) => !p.startsWith('probe') && p !== 'fence')).toEqual(['queued before the death', 'queued while away']);
    });
  });
}
