/**
 * The WebSocket listener on uWebSockets.js (`WS_PORT`): live readings on every path but
 * `/mqtt` (the platform's JSON protocol, or MessagePack on request), and MQTT over WebSocket
 * on `/mqtt` (subprotocol `mqtt`) served by the same MqttConnection as TCP. Over TLS (wss)
 * when TLS_CERT_FILE / TLS_KEY_FILE are set; see UwsListener for the certificate reload.
 * @module
 */
import type { HttpRequest, HttpResponse, TemplatedApp, us_socket_context_t, WebSocket, WebSocketBehavior } from 'uWebSockets.js';
import { ErrorCode, errorType } from '../../core/errors.ts';
import type { Logger } from 'pino';
import { ThrottledLog } from '../../log/throttled.ts';
import { type Authenticator, bearerOf } from '../../auth/authenticator.ts';
import { adminIdentity } from '../../auth/admin-token.ts';
import { ANONYMOUS, type Identity } from '../../auth/identity.ts';
import type { Metrics } from '../../metrics/registry.ts';
import type { ConnectionSet } from '../mqtt/connection-set.ts';
import type { Uws } from '../native/uws.ts';
import type { AddressLimit } from '../address-limit.ts';
import type { ClientAddress } from '../client-address/index.ts';
import type { Transport } from '../transport.ts';
import { type CertificateInfo, type Generation, UwsListener, type UwsTls } from '../uws-listener.ts';
import { Fanout } from './fanout.ts';
import { LiveFeed, type ReadingFeed } from '../live-feed.ts';
import { WsByteStream } from './mqtt-stream.ts';
import type { Format, Mode } from './protocol.ts';
import { StreamSession } from './stream-session.ts';

export interface WsOptions {
  host: string;
  port: number;
  maxConnections: number;
  maxBackpressure: number;
  slowTimeoutMs: number;
  idleTimeoutS: number;
  flushMs: number;
  retryAfterSeconds: number;
  /** Certificate and key: wss instead of ws. */
  tls?: UwsTls | undefined;
}

export interface WsDeps {
  auth: Authenticator;
  /** ADMIN_TOKEN: `?admin_token=` opens a subscriber session that may watch every reading (the console). */
  adminToken?: string | undefined;
  perAddress: AddressLimit;
  /** Who a connection's client is (TRUSTED_PROXIES: X-Forwarded-For from a trusted proxy). */
  addresses: ClientAddress;
  metrics: Metrics;
  log: Logger;
  sensorNames: readonly string[];
  /** Accepted readings from every instance (QueueBackend.onEvent): `listening` once they flow; returns an unsubscribe function. */
  feed: ReadingFeed;
  /** MQTT over WebSocket; absent: /mqtt is not served. */
  mqtt?: { connections: ConnectionSet; maxPacketBytes: number };
}

/** Close code for a subscriber that stayed too far behind (private range, RFC 6455 §7.4.2). */
export const CLOSE_TOO_SLOW = 4008;

interface StreamData {
  kind: 'stream';
  gen: Generation;
  address: string;
  format: Format;
  mode: Mode | undefined;
  identity: Identity;
  session?: StreamSession;
}
interface MqttData {
  kind: 'mqtt';
  gen: Generation;
  address: string;
  stream?: WsByteStream;
}
type Data = StreamData | MqttData;

export class WsTransport implements Transport {
  readonly name = 'ws';
  readonly fanout: Fanout;
  readonly #listener: UwsListener;
  readonly #opts: WsOptions;
  readonly #deps: WsDeps;
  /** Closings caused by clients, logged throttled (log/throttled.ts). */
  readonly #refusals: ThrottledLog;
  readonly #sessions = new Set<StreamSession>();
  readonly #gauge: { inc(): void; dec(): void };
  #open = 0;
  #sweeper: NodeJS.Timeout | undefined;

  constructor(uws: Uws, opts: WsOptions, deps: WsDeps) {
    this.#opts = opts;
    this.#deps = deps;
    this.#refusals = new ThrottledLog(deps.log);
    // after a certificate reload, connections of the previous app stay until they close: each app publishes to its own
    this.#listener = new UwsListener(uws, 'ws', opts.host, opts.port, opts.tls, (app, gen) => this.#serve(app, gen), true);
    this.fanout = new Fanout(
      {
        publish: (topic, frame) => {
          for (const app of this.#listener.apps) app.publish(topic, frame, typeof frame !== 'string');
        },
      },
      { flushMs: opts.flushMs, maxBackpressure: opts.maxBackpressure, slowTimeoutMs: opts.slowTimeoutMs, onSkipped: (n) => deps.metrics.wsFramesSkipped(n) },
    );
    const gauge = deps.metrics.activeConnections.labels({ connection_type: 'websocket' });
    gauge.inc(0);
    this.#gauge = gauge;
  }

  #serve(app: TemplatedApp, gen: Generation): void {
    if (this.#deps.mqtt) app.ws('/mqtt', this.#mqttBehavior(this.#deps.mqtt, gen));
    app.ws('/*', this.#streamBehavior(gen));
    app.any('/*', (res) => {
      res.writeStatus('426 Upgrade Required').writeHeader('Content-Type', 'application/json');
      res.end(JSON.stringify({ error: 'Upgrade Required', details: 'this port speaks WebSocket: live readings on /, MQTT over WebSocket on /mqtt' }));
    });
  }

  get tls(): boolean {
    return this.#listener.tls;
  }

  get connections(): number {
    return this.#open;
  }

  #common(): Pick<WebSocketBehavior<Data>, 'idleTimeout' | 'sendPingsAutomatically' | 'maxBackpressure' | 'closeOnBackpressureLimit'> {
    return { idleTimeout: this.#opts.idleTimeoutS, sendPingsAutomatically: true, maxBackpressure: this.#opts.maxBackpressure, closeOnBackpressureLimit: false as never };
  }

  /** Refuses the upgrade with 503 when a connection limit is reached; the source address when it may go on. */
  #admit(res: HttpResponse, req: HttpRequest): string | undefined {
    const address = this.#deps.addresses.ofRequest(res, req);
    if (this.#open < this.#opts.maxConnections && this.#deps.perAddress.tryAdd(address)) return address;
    const perAddress = this.#open < this.#opts.maxConnections;
    this.#refuseUpgrade(res, perAddress ? `at most ${this.#deps.perAddress.max} connections per source address` : `this instance serves at most ${this.#opts.maxConnections} WebSocket connections`);
    return undefined;
  }

  /** Answers an upgrade 503 (too many connections, `details` saying which limit). */
  #refuseUpgrade(res: HttpResponse, details: string): void {
    this.#deps.metrics.error(errorType[ErrorCode.TOO_MANY_CONNECTIONS]);
    res
      .writeStatus('503 Service Unavailable')
      .writeHeader('Content-Type', 'application/json')
      .writeHeader('Retry-After', String(this.#opts.retryAfterSeconds))
      .end(JSON.stringify({ error: 'Too many WebSocket connections', code: ErrorCode.TOO_MANY_CONNECTIONS, details }));
  }

  #streamBehavior(gen: Generation): WebSocketBehavior<Data> {
    return {
      ...this.#common(),
      maxPayloadLength: 64 * 1024,
      upgrade: (res: HttpResponse, req: HttpRequest, context: us_socket_context_t) => {
        const address = this.#admit(res, req);
        if (address === undefined) return;
        const query = new URLSearchParams(req.getQuery() ?? '');
        const offered = req
          .getHeader('sec-websocket-protocol')
          .split(',')
          .map((p) => p.trim())
          .filter(Boolean);
        const msgpack = query.get('format') === 'msgpack' || offered.includes('msgpack');
        const mode = query.get('mode');
        const data: StreamData = { kind: 'stream', gen, address, format: msgpack ? 'msgpack' : 'json', mode: mode === 'latest' || mode === 'stream' ? mode : undefined, identity: ANONYMOUS };
        const protocol = offered.includes('msgpack') ? 'msgpack' : offered.includes('json') ? 'json' : '';
        const key = req.getHeader('sec-websocket-key');
        const extensions = req.getHeader('sec-websocket-extensions');
        if (!this.#deps.auth.enabled) return res.upgrade(data, key, protocol, extensions, context);
        // browsers cannot set headers on a WebSocket: the query string may carry the credentials
        const credentials = {
          apiKey: req.getHeader('x-api-key') || query.get('api_key') || undefined,
          bearer: bearerOf(req.getHeader('authorization')) ?? query.get('token') ?? undefined,
        };
        const adminToken = query.get('admin_token');
        let aborted = false;
        res.onAborted(() => {
          aborted = true;
          this.#deps.perAddress.remove(address);
        });
        (adminToken !== null ? Promise.resolve(adminIdentity(adminToken, this.#deps.adminToken)) : this.#deps.auth.authenticate(credentials)).then(
          (who) => {
            if (aborted) return;
            res.cork(() => {
              if (!('role' in who)) {
                this.#deps.perAddress.remove(address);
                this.#deps.metrics.error(errorType[who.code]);
                res.writeStatus(who.code === ErrorCode.UNAUTHENTICATED ? '401 Unauthorized' : '503 Service Unavailable').writeHeader('Content-Type', 'application/json');
                res.end(JSON.stringify({ error: who.message, code: who.code, details: who.details }));
                return;
              }
              data.identity = who;
              res.upgrade(data, key, protocol, extensions, context);
            });
          },
          () => !aborted && res.cork(() => res.writeStatus('500 Internal Server Error').end()),
        );
      },
      open: (ws: WebSocket<Data>) => {
        this.#opened(gen);
        const data = ws.getUserData() as StreamData;
        const session = new StreamSession(ws, data.format, data.mode, data.identity, this.fanout, this.#deps.sensorNames, this.#deps.metrics);
        data.session = session;
        this.#sessions.add(session);
        session.greet();
      },
      message: (ws: WebSocket<Data>, message: ArrayBuffer, isBinary: boolean) => (ws.getUserData() as StreamData).session!.onMessage(message, isBinary),
      drain: (ws: WebSocket<Data>) => this.fanout.drained((ws.getUserData() as StreamData).session!.subscriber),
      close: (ws: WebSocket<Data>) => {
        const session = (ws.getUserData() as StreamData).session!;
        session.closed();
        this.#sessions.delete(session);
        this.#closed((ws.getUserData() as StreamData).address, gen);
      },
    };
  }

  #mqttBehavior(mqtt: NonNullable<WsDeps['mqtt']>, gen: Generation): WebSocketBehavior<Data> {
    // several packets may share one message; the framer enforces the packet limit itself
    const maxPayloadLength = Math.max(mqtt.maxPacketBytes + 8, 64 * 1024);
    return {
      ...this.#common(),
      maxPayloadLength,
      upgrade: (res: HttpResponse, req: HttpRequest, context: us_socket_context_t) => {
        // /mqtt sockets are nobody's until their CONNECT: at most MAX_UNAUTHENTICATED_CONNECTIONS
        // of them (with the TCP ones), so they cannot take every WS_MAX_CONNECTIONS slot
        if (mqtt.connections.unauthenticatedFull) return this.#refuseUpgrade(res, 'too many MQTT connections without an accepted CONNECT (MAX_UNAUTHENTICATED_CONNECTIONS)');
        const address = this.#admit(res, req);
        if (address === undefined) return;
        const offered = req
          .getHeader('sec-websocket-protocol')
          .split(',')
          .map((p) => p.trim());
        const protocol = offered.find((p) => p === 'mqtt' || p === 'mqttv3.1') ?? '';
        res.upgrade({ kind: 'mqtt', gen, address } satisfies MqttData, req.getHeader('sec-websocket-key'), protocol, req.getHeader('sec-websocket-extensions'), context);
      },
      open: (ws: WebSocket<Data>) => {
        this.#opened(gen);
        const data = ws.getUserData() as MqttData;
        // unread bytes are bounded: a client that keeps sending while its publishes wait is cut off
        data.stream = new WsByteStream(ws as never, 4 * maxPayloadLength);
        mqtt.connections.accept(data.stream);
      },
      message: (ws: WebSocket<Data>, message: ArrayBuffer) => {
        const stream = (ws.getUserData() as MqttData).stream!;
        if (!stream.receive(message)) {
          this.#deps.metrics.error('mqtt_protocol_error');
          this.#refusals.note('ws_mqtt_unread', {}, 'mqtt over websocket: client sent far more than it lets the server handle; closed');
          ws.end(1008, 'too much unread data');
        }
      },
      drain: (ws: WebSocket<Data>) => (ws.getUserData() as MqttData).stream!.drained(),
      close: (ws: WebSocket<Data>) => {
        (ws.getUserData() as MqttData).stream!.socketClosed();
        this.#closed((ws.getUserData() as MqttData).address, gen);
      },
    };
  }

  #opened(gen: Generation): void {
    gen.connections++;
    this.#open++;
    this.#gauge.inc();
  }

  #closed(address: string, gen: Generation): void {
    this.#deps.perAddress.remove(address);
    this.#open--;
    this.#gauge.dec();
    this.#listener.connectionClosed(gen);
  }

  /** Closes the live-stream connections of a revoked identity (policy violation, 1008). */
  revoked(id: string): void {
    for (const s of this.#sessions) if (s.identity.via !== 'none' && s.identity.id === id) s.end(1008, 'credentials revoked');
  }

  start(): Promise<number> {
    this.#deps.auth.onRevoked((id) => this.revoked(id));
    // the queue's events only while a live subscription is open here (live-feed.ts)
    this.fanout.live = new LiveFeed(this.#deps.feed, (json) => this.fanout.push(json));
    this.#sweeper = setInterval(() => this.#sweep(), 1000);
    this.#sweeper.unref();
    return this.#listener.start();
  }

  /** SIGHUP: new connections get the certificate files read again; open ones stay. */
  reloadTls(): Promise<CertificateInfo | undefined> {
    return this.#listener.reload();
  }

  /** Subscribers too slow for too long are closed with 4008. */
  #sweep(): void {
    for (const sub of this.fanout.sweep(Date.now())) {
      this.#deps.metrics.error('ws_subscriber_slow');
      this.#refusals.note('ws_subscriber_slow', { buffered: sub.socket.bufferedAmount() }, 'websocket subscriber too slow: closed');
      sub.socket.end(CLOSE_TOO_SLOW, 'subscriber too slow');
    }
  }

  async drain(): Promise<void> {
    this.#listener.drain();
  }

  async stop(): Promise<void> {
    await this.drain();
    clearInterval(this.#sweeper);
    this.fanout.live?.want(false);
    for (const s of this.#sessions) s.end(1001, 'server shutting down');
    this.#listener.close();
  }
}
