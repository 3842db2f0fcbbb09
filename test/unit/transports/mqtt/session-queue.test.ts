/**
 * A session's outbound flow without a socket: Receive Maximum, the queue behind a congested
 * socket, the per-session and process-wide bounds (oldest QoS 0 first, then the newcomer
 * refused, each counted), resumption, and what a departing shared-subscription member hands back.
 */
import { describe, expect, test } from 'bun:test';
import type { MqttConnection } from '../../../../src/transports/mqtt/connection.ts';
import type { Message } from '../../../../src/transports/mqtt/message.ts';
import { OfflineBudget } from '../../../../src/transports/mqtt/offline-budget.ts';
import { delivery, Session, type Delivery, type DropReason } from '../../../../src/transports/mqtt/session.ts';
import { SharedGroup } from '../../../../src/transports/mqtt/shared-group.ts';

class FakeConnection {
  state: 'connected' | 'closed' = 'connected';
  congested = false;
  readonly sent: { payload: string; id: number | undefined; dup: boolean; qos: number }[] = [];
  readonly pubrels: number[] = [];
  sendPublish(d: Delivery, id: number | undefined, dup: boolean): boolean {
    this.sent.push({ payload: d.m.payload.toString(), id, dup, qos: d.qos });
    return true;
  }
  send(p: { cmd: string; messageId?: number }): void {
    if (p.cmd === 'pubrel') this.pubrels.push(p.messageId!);
  }
}

function setup(o: { maxQueuedMessages?: number; maxQueuedBytes?: number; budget?: number } = {}) {
  const drops: DropReason[] = [];
  const budget = new OfflineBudget(o.budget ?? 1_000_000);
  const session = new Session('c1', 60_000, { limits: { maxQueuedMessages: o.maxQueuedMessages ?? 100, maxQueuedBytes: o.maxQueuedBytes ?? 1_000_000 }, budget, dropped: (r) => drops.push(r) });
  const c = new FakeConnection();
  session.connection = c as unknown as MqttConnection;
  return { session, c, drops, budget };
}

const msg = (payload: string, qos: 0 | 1 | 2 = 1): Message => ({ topic: 't', payload: Buffer.from(payload), qos, retain: false });
const send = (s: Session, payload: string, qos: 0 | 1 | 2 = 1, group?: SharedGroup) => s.deliver(delivery(msg(payload, qos), qos, false, undefined, group));

describe('mqtt session queue', () => {
  test('session queue - at most Receive Maximum QoS 1/2 unacknowledged; the rest wait and go in order as acks arrive [MQTT-3.3.4-9]', () => {
    const { session, c, drops } = setup();
    session.maxInflight = 2;
    for (const p of ['m1', 'm2', 'm3', 'm4']) send(session, p);
    expect(c.sent.map((s) => s.payload)).toEqual(['m1', 'm2']);
    expect(session.queued).toBe(2);
    session.acknowledged('puback', c.sent[0]!.id!);
    expect(c.sent.map((s) => s.payload)).toEqual(['m1', 'm2', 'm3']);
    session.acknowledged('puback', c.sent[1]!.id!);
    session.acknowledged('puback', c.sent[2]!.id!);
    expect(c.sent.map((s) => s.payload)).toEqual(['m1', 'm2', 'm3', 'm4']);
    expect(drops).toEqual([]);
  });

  test('session queue - QoS 2: PUBREC releases (PUBREL sent), PUBCOMP frees the window; a PUBREC >= 0x80 ends the exchange', () => {
    const { session, c } = setup();
    session.maxInflight = 1;
    send(session, 'a', 2);
    send(session, 'b', 2);
    send(session, 'c', 2);
    expect(c.sent.length).toBe(1);
    session.acknowledged('pubrec', c.sent[0]!.id!);
    expect(c.pubrels).toEqual([c.sent[0]!.id!]);
    expect(c.sent.length).toBe(1);
    session.acknowledged('pubcomp', c.sent[0]!.id!);
    expect(c.sent.map((s) => s.payload)).toEqual(['a', 'b']);
    session.acknowledged('pubrec', c.sent[1]!.id!, 0x80);
    expect(c.sent.map((s) => s.payload)).toEqual(['a', 'b', 'c']);
  });

  test('session queue - nothing is written while the socket is congested; QoS 0 waits too, in order', () => {
    const { session, c } = setup();
    c.congested = true;
    send(session, 'q0', 0);
    send(session, 'q1', 1);
    expect(c.sent).toEqual([]);
    c.congested = false;
    session.pump();
    expect(c.sent.map((s) => [s.payload, s.qos])).toEqual([
      ['q0', 0],
      ['q1', 1],
    ]);
  });

  test('session queue - past its bound the oldest queued QoS 0 goes first, then the newcomer is refused; each counted', () => {
    const { session, c, drops } = setup({ maxQueuedMessages: 3 });
    c.congested = true;
    send(session, 'a0', 0);
    send(session, 'b1', 1);
    send(session, 'c0', 0);
    send(session, 'd1', 1); // full: a0 (oldest QoS 0) goes
    send(session, 'e1', 1); // full: c0 goes
    send(session, 'f1', 1); // full, no QoS 0 left: f1 refused
    expect(drops).toEqual(['session_queue_full', 'session_queue_full', 'session_queue_full']);
    c.congested = false;
    session.pump();
    expect(c.sent.map((s) => s.payload)).toEqual(['b1', 'd1', 'e1']);
  });

  test('session queue - the bytes bound and the process-wide budget refuse too; the budget is given back as messages leave', () => {
    const { session, c, drops, budget } = setup({ budget: 200 });
    c.congested = true;
    for (let i = 0; i < 5; i++) send(session, 'x'.repeat(40));
    expect(drops).toContain('offline_budget');
    expect(budget.bytes).toBeLessThanOrEqual(200);
    expect(budget.bytes).toBe(session.queuedBytes);
    c.congested = false;
    session.pump();
    expect(budget.bytes).toBe(0);
    const small = setup({ maxQueuedBytes: 100 });
    small.c.congested = true;
    send(small.session, 'y'.repeat(60));
    send(small.session, 'y'.repeat(60));
    expect(small.drops).toEqual(['session_queue_full']);
  });

  test('session queue - a client away: QoS 0 is not kept (counted), QoS 1/2 queued; on resumption unacknowledged ones are resent with DUP, then the queue', () => {
    const { session, c, drops } = setup();
    session.maxInflight = 1;
    send(session, 'inflight');
    session.detach();
    send(session, 'away0', 0);
    send(session, 'away1', 1);
    expect(drops).toEqual(['qos0_offline']);
    const again = new FakeConnection();
    session.resume(again as unknown as MqttConnection);
    expect(again.sent.map((s) => [s.payload, s.dup])).toEqual([['inflight', true]]);
    session.acknowledged('puback', again.sent[0]!.id!);
    expect(again.sent.map((s) => [s.payload, s.dup])).toEqual([
      ['inflight', true],
      ['away1', false],
    ]);
    expect(c.sent.length).toBe(1);
  });

  test('session queue - a departing shared member hands back queued and in-flight QoS 1, keeps a QoS 2 exchange under way (MQTT 5 §4.8.2)', () => {
    const { session, c } = setup();
    const group = new SharedGroup('', 'g', 'jobs/#');
    session.maxInflight = 2;
    send(session, 's1', 1, group);
    send(session, 's2', 2, group);
    send(session, 's3', 1, group);
    send(session, 'own', 1);
    expect(c.sent.map((s) => s.payload)).toEqual(['s1', 's2']);
    const back = session.detach();
    expect(back.map((d) => d.m.payload.toString()).sort()).toEqual(['s1', 's3']);
    expect(session.inflight).toBe(1);
    expect(session.queued).toBe(1);
  });

  test('session queue - expired messages are not sent (counted as expired)', () => {
    const { session, c, drops } = setup();
    c.congested = true;
    const late: { -readonly [K in keyof Message]: Message[K] } = { ...msg('late'), expiresAt: Date.now() + 60_000 };
    session.deliver(delivery(late, 1, false));
    send(session, 'ok');
    late.expiresAt = Date.now() - 1; // expires while queued
    c.congested = false;
    session.pump();
    expect(c.sent.map((s) => s.payload)).toEqual(['ok']);
    expect(drops).toEqual(['expired']);
  });
});
