/**
 * The MQTT listener on node:net (or node:tls): accepts connections and hands each to a
 * ConnectionSet, which owns them (and their deadlines) from then on.
 * @module
 */
import { createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from 'node:tls';
import type { Transport } from '../transport.ts';
import { ConnectionSet } from './connection-set.ts';
import type { MqttContext } from './context.ts';
import { certificateIdentity, secureContextOptions, serverOptions, type TlsFiles } from './tls.ts';

export class MqttListener implements Transport {
  readonly name: string;
  readonly #tls: TlsFiles | undefined;
  readonly #ctx: MqttContext;
  readonly #host: string;
  readonly #port: number;
  readonly #connections: ConnectionSet;
  #server: Server | undefined;
  #listening = false;

  /** @param tls certificate and key files: a TLS listener (mqtts) instead of plain TCP */
  constructor(ctx: MqttContext, host: string, port: number, tls?: TlsFiles) {
    this.name = tls ? 'mqtts' : 'mqtt';
    this.#tls = tls;
    this.#ctx = ctx;
    this.#host = host;
    this.#port = port;
    this.#connections = new ConnectionSet(ctx);
  }

  get listening(): boolean {
    return this.#listening;
  }

  start(): Promise<number> {
    const perAddress = this.#ctx.perAddress;
    const accept = (socket: Socket) => {
      const address = socket.remoteAddress ?? '';
      if (!perAddress.tryAdd(address)) {
        this.#ctx.metrics.error('too_many_connections');
        socket.destroy();
        return;
      }
      const c = this.#connections.accept(socket, address);
      if (c !== undefined && this.#tls && this.#tls.clientCert !== 'off') c.certificate = certificateIdentity(socket as TLSSocket);
    };
    const server = this.#tls ? createTlsServer({ ...serverOptions(this.#tls), noDelay: true }, accept) : createServer({ noDelay: true }, accept);
    // a failed TLS handshake never becomes a connection; it must not reach the process either
    server.on('tlsClientError', () => this.#ctx.metrics.error('mqtt_tls_handshake_failed'));
    this.#server = server;
    return new Promise((resolve, reject) => {
      server.once('error', (err) => reject(new Error(`${this.name}: cannot listen on ${this.#host}:${this.#port}: ${err.message}`)));
      server.listen(this.#port, this.#host, () => {
        this.#listening = true;
        const addr = server.address();
        resolve(typeof addr === 'object' && addr ? addr.port : this.#port);
      });
    });
  }

  /** SIGHUP: reads the certificate files again; new handshakes use them, open connections stay. */
  reloadTls(): void {
    if (!this.#tls || !this.#server) return;
    (this.#server as TlsServer).setSecureContext(secureContextOptions(this.#tls));
  }

  /** Stops accepting connections; open ones keep working until stop(). */
  async drain(): Promise<void> {
    this.#listening = false;
    this.#server?.close();
  }

  /** Tells v5 clients the server is shutting down and closes every connection. */
  async stop(): Promise<void> {
    await this.drain();
    this.#connections.closeAll();
  }
}
