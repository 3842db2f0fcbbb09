/**
 * The open MQTT connections of one listener (TCP, TLS or WebSocket): counted in
 * `active_connections{connection_type="mqtt"}` and swept once a second for clients past their
 * CONNECT deadline or keep-alive (1.5 × the keep-alive, from the last bytes received [MQTT-3.1.2-22]).
 * @module
 */
import type { Duplex } from 'node:stream';
import { MqttConnection, type ConnectionOwner } from './connection.ts';
import type { MqttContext } from './context.ts';
import { Bound } from './bounds.ts';
import { Reason } from './reason-codes.ts';

export class ConnectionSet implements ConnectionOwner {
  readonly #connections = new Set<MqttConnection>();
  readonly #ctx: MqttContext;
  readonly #gauge: { inc(): void; dec(): void };
  #sweeper: NodeJS.Timeout | undefined;

  constructor(ctx: MqttContext) {
    this.#ctx = ctx;
    const gauge = ctx.metrics.activeConnections.labels({ connection_type: 'mqtt' });
    gauge.inc(0);
    this.#gauge = gauge;
  }

  get size(): number {
    return this.#connections.size;
  }

  /** Whether MAX_UNAUTHENTICATED_CONNECTIONS connections are waiting for their CONNECT (a new one would be closed). */
  get unauthenticatedFull(): boolean {
    return this.#ctx.preConnect.full;
  }

  /**
   * A new MQTT connection on `socket`, tracked until the socket closes; `address` is released
   * from MAX_CONNECTIONS_PER_IP then. Undefined (the socket destroyed, `address` released) when
   * MAX_UNAUTHENTICATED_CONNECTIONS connections are still without an accepted CONNECT.
   */
  accept(socket: Duplex, address?: string): MqttConnection | undefined {
    if (!this.#ctx.preConnect.tryAdd()) {
      this.#ctx.bounds.hit(Bound.preConnect, 'MAX_UNAUTHENTICATED_CONNECTIONS');
      this.#ctx.metrics.error('mqtt_too_many_unauthenticated');
      if (address !== undefined) this.#ctx.perAddress.remove(address);
      socket.destroy();
      return undefined;
    }
    const c = new MqttConnection(socket, this.#ctx, this, address, true);
    this.#connections.add(c);
    this.#gauge.inc();
    if (!this.#sweeper) {
      this.#sweeper = setInterval(() => this.#sweep(), 1000);
      this.#sweeper.unref();
    }
    return c;
  }

  /** `c`'s socket closed. */
  closed(c: MqttConnection): void {
    if (this.#connections.delete(c)) this.#gauge.dec();
  }

  #sweep(): void {
    const now = Date.now();
    const { connectTimeoutMs } = this.#ctx.limits;
    for (const c of this.#connections) {
      if (c.state === 'awaiting-connect' && now - c.openedAt > connectTimeoutMs) c.destroy();
      else if (c.state === 'connected' && c.keepAliveExpired(now)) {
        c.disconnect(Reason.keepAliveTimeout, 'keep-alive timeout');
      }
    }
  }

  /** Tells v5 clients the server is shutting down and closes every connection. */
  closeAll(): void {
    clearInterval(this.#sweeper);
    this.#sweeper = undefined;
    for (const c of this.#connections) c.disconnect(Reason.serverShuttingDown, 'server shutting down');
  }
}
