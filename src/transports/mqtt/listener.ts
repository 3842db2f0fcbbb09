/**
 * The MQTT listener on node:net (or node:tls): accepts connections and hands each to a
 * ConnectionSet, which owns them (and their deadlines) from then on. The client's address (what
 * MAX_CONNECTIONS_PER_IP counts) comes from ClientAddress: from a trusted proxy, the PROXY
 * protocol header read before MQTT or TLS sees a byte (preamble.ts); from anyone else, the peer.
 * TLS is terminated here (a proxy passes it through), behind a plain TCP server: the PROXY
 * header comes before the TLS handshake, so the handshake is started on the socket afterwards.
 * @module
 */
import { createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from 'node:tls';
import { ThrottledLog } from '../../log/throttled.ts';
import { type ClientAddress, peerOf, type Preamble, readPreamble, watchFirstBytes } from '../client-address/index.ts';
import type { Transport } from '../transport.ts';
import { ConnectionSet } from './connection-set.ts';
import type { MqttConnection } from './connection.ts';
import type { MqttContext } from './context.ts';
import { certificateIdentity, secureContextOptions, serverOptions, type TlsFiles } from './tls.ts';

export class MqttListener implements Transport {
  readonly name: string;
  readonly #tls: TlsFiles | undefined;
  readonly #ctx: MqttContext;
  readonly #host: string;
  readonly #port: number;
  readonly #connections: ConnectionSet;
  readonly #addresses: ClientAddress;
  /** Connections closed for their PROXY header (or its absence): a proxy set up wrong, or someone claiming another address. */
  readonly #proxyRefusals: ThrottledLog;
  #server: Server | undefined;
  /** mqtts: the TLS server sockets are handed to once their preamble is read (it listens on nothing itself). */
  #tlsServer: TlsServer | undefined;
  /** mqtts: the client address of each socket in its TLS handshake, by the socket's remote address and port (unique while it is open). */
  readonly #handshaking = new Map<string, string>();
  #listening = false;

  /**
   * @param tls certificate and key files: a TLS listener (mqtts) instead of plain TCP
   * @param addresses who the client is (TRUSTED_PROXIES, MQTT_PROXY_PROTOCOL)
   */
  constructor(ctx: MqttContext, host: string, port: number, tls: TlsFiles | undefined, addresses: ClientAddress) {
    this.name = tls ? 'mqtts' : 'mqtt';
    this.#tls = tls;
    this.#ctx = ctx;
    this.#host = host;
    this.#port = port;
    this.#connections = new ConnectionSet(ctx);
    this.#addresses = addresses;
    this.#proxyRefusals = new ThrottledLog(ctx.log, 'warn');
  }

  get listening(): boolean {
    return this.#listening;
  }

  start(): Promise<number> {
    const server = this.#tls ? this.#tlsFront(this.#tls) : createServer({ noDelay: true }, (socket) => this.#acceptTcp(socket));
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

  /** Counts `socket` from `address` in MAX_CONNECTIONS_PER_IP and hands it to the connection set; undefined when refused. */
  #admit(socket: Socket, address: string): MqttConnection | undefined {
    if (!this.#ctx.perAddress.tryAdd(address)) {
      this.#ctx.metrics.error('too_many_connections');
      socket.destroy();
      return undefined;
    }
    return this.#connections.accept(socket, address);
  }

  /** Plain TCP: a trusted proxy's connection is read for its PROXY header first; anyone else's goes to MQTT at once. */
  #acceptTcp(socket: Socket): void {
    const peer = peerOf(socket);
    const mode = this.#addresses.headerMode(peer);
    if (mode === 'refused') {
      let c: MqttConnection | undefined;
      watchFirstBytes(socket, () => {
        this.#refused(peer, { ok: false, problem: 'untrusted', detail: 'a PROXY protocol header from a peer not in TRUSTED_PROXIES' });
        if (c !== undefined) c.destroy();
        else socket.destroy();
      });
      c = this.#admit(socket, peer);
      return;
    }
    readPreamble(socket, mode, this.#ctx.limits.connectTimeoutMs, (p) => {
      const address = this.#afterPreamble(socket, peer, p);
      if (address !== undefined) this.#admit(socket, address);
    });
  }

  /** mqtts: a TCP server reads each connection's preamble, then starts the TLS handshake on it. */
  #tlsFront(files: TlsFiles): Server {
    const tlsServer = createTlsServer({ ...serverOptions(files), noDelay: true }, (tlsSocket: TLSSocket) => {
      const key = `${peerOf(tlsSocket)}|${tlsSocket.remotePort}`;
      const address = this.#handshaking.get(key) ?? peerOf(tlsSocket);
      this.#handshaking.delete(key);
      const c = this.#admit(tlsSocket, address);
      if (c !== undefined && files.clientCert !== 'off') c.certificate = certificateIdentity(tlsSocket);
    });
    // a failed TLS handshake never becomes a connection; it must not reach the process either
    tlsServer.on('tlsClientError', (_err, tlsSocket) => {
      this.#handshaking.delete(`${peerOf(tlsSocket)}|${tlsSocket.remotePort}`);
      this.#ctx.metrics.error('mqtt_tls_handshake_failed');
    });
    this.#tlsServer = tlsServer;
    return createServer({ noDelay: true }, (socket) => {
      const peer = peerOf(socket);
      readPreamble(socket, this.#addresses.headerMode(peer), this.#ctx.limits.connectTimeoutMs, (p) => {
        const address = this.#afterPreamble(socket, peer, p);
        if (address === undefined) return;
        const key = `${peer}|${socket.remotePort}`;
        this.#handshaking.set(key, address);
        // the handshake may not begin (the socket closed meanwhile): the entry goes with the socket
        socket.once('close', () => this.#handshaking.delete(key));
        tlsServer.emit('connection', socket);
      });
    });
  }

  /** The client address after a connection's preamble; undefined when it was closed (logged and counted). */
  #afterPreamble(socket: Socket, peer: string, p: Preamble): string | undefined {
    if (p.ok) return this.#addresses.resolve(peer, () => p.header?.source);
    if (p.problem !== 'silent' && p.problem !== 'gone') this.#refused(peer, p);
    socket.destroy();
    return undefined;
  }

  #refused(peer: string, p: Preamble & { ok: false }): void {
    this.#ctx.metrics.error(`proxy_protocol_${p.problem}`);
    const hint =
      p.problem === 'untrusted' ? 'add the proxy to TRUSTED_PROXIES, or stop it sending PROXY headers'
      : p.problem === 'missing' ? 'turn on proxy_protocol at the proxy, or set MQTT_PROXY_PROTOCOL=optional'
      : 'the proxy sent an invalid PROXY protocol header';
    this.#proxyRefusals.note(`proxy_protocol_${p.problem}`, { listener: this.name, peer, reason: p.detail, hint }, `${this.name}: connection from ${peer} closed: PROXY protocol ${p.problem}`);
  }

  /** SIGHUP: reads the certificate files again; new handshakes use them, open connections stay. */
  reloadTls(): void {
    if (!this.#tls || !this.#tlsServer) return;
    this.#tlsServer.setSecureContext(secureContextOptions(this.#tls));
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
