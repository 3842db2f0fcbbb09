/**
 * The ack tracker: every reading a load generator offered, and every one the server
 * acknowledged (HTTP 202 / batch item "accepted" with its message_id, a 409 or batch
 * "duplicate" answer to a resend, MQTT PUBACK), keyed by device_id|timestamp, which is unique
 * per reading. The checker compares it with the stream afterwards.
 * @module
 */

export type Transport = 'http' | 'mqtt';

export interface Ack {
  /** When the reading was first offered / acknowledged (Date.now(), shared by the processes of this machine). */
  offeredAt: number;
  ackedAt: number;
  transport: Transport;
  /** The message_id of a 202 (absent for MQTT and for duplicate answers). */
  messageId?: string;
  /** Acknowledged as already stored (409, batch "duplicate"): the answer to a resend. */
  asDuplicate?: boolean;
}

/** device_id|timestamp: what a stored entry is matched by. */
export const keyOf = (deviceId: string, timestamp: string): string => `${deviceId}|${timestamp}`;

export class AckTracker {
  readonly offered = new Map<string, { at: number; transport: Transport }>();
  readonly acked = new Map<string, Ack>();
  /** Answers by transport and kind ("202", "503 QUEUE_SATURATED", "connection error", "puback", "puback 0x80" …). */
  readonly answers: Record<Transport, Record<string, number>> = { http: {}, mqtt: {} };
  /** Acknowledgements per whole second since the epoch, per transport. */
  readonly perSecond = new Map<number, { http: number; mqtt: number }>();

  offer(key: string, transport: Transport, at = Date.now()): void {
    if (!this.offered.has(key)) this.offered.set(key, { at, transport });
  }

  /** Records an acknowledgement; a second one for the same key (a resend answered as duplicate) keeps the first. */
  ack(key: string, transport: Transport, extra: { messageId?: string; asDuplicate?: boolean; at?: number; offeredAt?: number } = {}): void {
    if (this.acked.has(key)) return;
    const at = extra.at ?? Date.now();
    const offeredAt = extra.offeredAt ?? this.offered.get(key)?.at ?? at;
    const a: Ack = { offeredAt, ackedAt: at, transport };
    if (extra.messageId !== undefined) a.messageId = extra.messageId;
    if (extra.asDuplicate) a.asDuplicate = true;
    this.acked.set(key, a);
    const s = Math.floor(at / 1000);
    const bucket = this.perSecond.get(s) ?? { http: 0, mqtt: 0 };
    bucket[transport]++;
    this.perSecond.set(s, bucket);
  }

  answer(transport: Transport, kind: string, n = 1): void {
    this.answers[transport][kind] = (this.answers[transport][kind] ?? 0) + n;
  }

  count(transport?: Transport): { offered: number; acknowledged: number } {
    let offered = 0;
    let acknowledged = 0;
    for (const o of this.offered.values()) if (!transport || o.transport === transport) offered++;
    for (const a of this.acked.values()) if (!transport || a.transport === transport) acknowledged++;
    return { offered, acknowledged };
  }

  /** Acknowledgements with ackedAt in [from, to) per second. */
  rate(from: number, to: number, transport?: Transport): number {
    let n = 0;
    for (const a of this.acked.values()) if (a.ackedAt >= from && a.ackedAt < to && (!transport || a.transport === transport)) n++;
    return (n * 1000) / Math.max(1, to - from);
  }

  /**
   * Seconds from `since` until the first acknowledgement of a reading offered at or after
   * `since`, per transport (undefined: none yet): how long until new readings get through again.
   * `only`: the readings (by key) to look at, e.g. those of the shards a fault touched.
   */
  recovery(since: number, only?: (key: string) => boolean): Partial<Record<Transport, number>> {
    const out: Partial<Record<Transport, number>> = {};
    for (const [key, a] of this.acked) {
      if (a.offeredAt < since || (only && !only(key))) continue;
      const s = (a.ackedAt - since) / 1000;
      if (out[a.transport] === undefined || s < out[a.transport]!) out[a.transport] = s;
    }
    return out;
  }

  /**
   * Readings offered in [from, to) and acknowledged before `to`: while the queue is gone this
   * must be 0 (acknowledgements of earlier readings may arrive late; these cannot be early).
   */
  ackedWithin(from: number, to: number): number {
    let n = 0;
    for (const a of this.acked.values()) if (a.offeredAt >= from && a.ackedAt < to) n++;
    return n;
  }

  /** Percentiles (ms) of the acknowledgement latency of readings offered in [from, to). */
  latency(from: number, to: number, ps: number[] = [50, 99]): number[] {
    const l: number[] = [];
    for (const a of this.acked.values()) if (a.offeredAt >= from && a.offeredAt < to) l.push(a.ackedAt - a.offeredAt);
    l.sort((x, y) => x - y);
    return ps.map((p) => (l.length === 0 ? NaN : l[Math.min(l.length - 1, Math.floor((p / 100) * l.length))]!));
  }
}
