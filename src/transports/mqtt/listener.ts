/**
 * The MQTT listener on node:net: accepts connections, hands each to MqttConnection, and
 * sweeps once a second for clients past their CONNECT deadline or keep-alive
 * (1.5 × the keep-alive they announced [MQTT-3.1.2-24]).
 * @module
 */
import { createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type TlsOptions } from 'node:tls';
import type { Transport } from '../transport.ts';
import { MqttConnection } from './connection.ts';
import type { MqttContext } from './context.ts';
import { Reason } from './reason-codes.ts';
import { expireSessions } from './sessions.ts';

export class MqttListener implements Transport {
  readonly name: string;
  readonly #tls: TlsOptions | undefined;
  readonly #ctx: MqttContext;
  readonly #host: string;
  readonly #port: number;
  readonly #connections = new Set<MqttConnection>();
  #server: Server | undefined;
  #sweeper: NodeJS.Timeout | undefined;
  #listening = false;

  /** @param tls certificate and key: a TLS listener (mqtts) instead of plain TCP */
  constructor(ctx: MqttContext, host: string, port: number, tls?: TlsOptions) {
    this.name = tls ? 'mqtts' : 'mqtt';
    this.#tls = tls;
    this.#ctx = ctx;
    this.#host = host;
    this.#port = port;
  }

  get listening(): boolean {
    return this.#listening;
  }

  start(): Promise<number> {
    const gauge = this.#ctx.metrics.activeConnections.labels({ connection_type: 'mqtt' });
    gauge.inc(0);
    const accept = (socket: Socket) => {
      const c = new MqttConnection(socket, this.#ctx);
      this.#connections.add(c);
      gauge.inc();
      socket.once('close', () => {
        this.#connections.delete(c);
        gauge.dec();
      });
    };
    const server = this.#tls ? createTlsServer({ ...this.#tls, noDelay: true }, accept) : createServer({ noDelay: true }, accept);
    // a failed TLS handshake never becomes a connection; it must not reach the process either
    server.on('tlsClientError', () => this.#ctx.metrics.error('mqtt_tls_handshake_failed'));
    this.#server = server;
    this.#sweeper = setInterval(() => this.#sweep(), 1000);
    this.#sweeper.unref();
    return new Promise((resolve, reject) => {
      server.once('error', (err) => reject(new Error(`${this.name}: cannot listen on ${this.#host}:${this.#port}: ${err.message}`)));
      server.listen(this.#port, this.#host, () => {
        this.#listening = true;
        const addr = server.address();
        resolve(typeof addr === 'object' && addr ? addr.port : this.#port);
      });
    });
  }

  #sweep(): void {
    const now = Date.now();
    expireSessions(this.#ctx, now);
    const { connectTimeoutMs } = this.#ctx.limits;
    for (const c of this.#connections) {
      if (c.state === 'awaiting-connect' && now - c.openedAt > connectTimeoutMs) c.destroy();
      else if (c.state === 'connected' && c.keepAlive > 0 && now - c.lastPacketAt > c.keepAlive * 1500) {
        c.disconnect(Reason.keepAliveTimeout, 'keep-alive timeout');
      }
    }
  }

  /** Stops accepting connections; open ones keep working until stop(). */
  async drain(): Promise<void> {
    this.#listening = false;
    this.#server?.close();
  }

  /** Tells v5 clients the server is shutting down and closes every connection. */
  async stop(): Promise<void> {
    await this.drain();
    clearInterval(this.#sweeper);
    for (const c of this.#connections) c.disconnect(Reason.serverShuttingDown, 'server shutting down');
  }
}
