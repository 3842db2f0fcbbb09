/**
 * One uWebSockets.js listener (host:port) whose app is plain or, with a certificate and key,
 * TLS (uWS SSLApp), and whose certificate can be replaced while it runs (SIGHUP).
 *
 * An SSLApp reads its certificate once, when it is built, and uWS.js has no call to change it
 * for clients without SNI. So a reload builds a new app ("generation") from the files read
 * again, listens with it on the same port (uWS listens with SO_REUSEPORT on Linux; this works
 * for a port given in the config, not for an ephemeral port 0) and closes the previous listen
 * socket: new connections get the new certificate, open ones stay on the app that accepted
 * them. A retired generation is closed once its last tracked connection is gone (WebSocket),
 * or at stop (HTTP: uWS says nothing when an HTTP connection closes; keep-alive connections
 * end after uWS' 10 s idle timeout and leave an app with no socket behind).
 *
 * Caveat (kernel, not uWS): connections that completed their handshake in the old socket's
 * accept queue but were not yet accepted when it closes are reset, unless
 * net.ipv4.tcp_migrate_req=1 lets the kernel hand them to the new socket.
 * @module
 */
import type { TemplatedApp, us_listen_socket } from 'uWebSockets.js';
import { type CertificateInfo, checkTls, type UwsTls } from '../config/tls-files.ts';
import type { Uws } from './native/uws.ts';

export type { CertificateInfo, UwsTls } from '../config/tls-files.ts';

/** One app and what is known of its connections. */
export interface Generation {
  readonly app: TemplatedApp;
  /** Connections the owner counts (opened / closed); a retired generation closes at 0. */
  connections: number;
  retired: boolean;
}

export class UwsListener {
  readonly #uws: Uws;
  readonly #name: string;
  readonly #host: string;
  readonly #port: number;
  readonly #tls: UwsTls | undefined;
  readonly #build: (app: TemplatedApp, gen: Generation) => void;
  readonly #closeWhenIdle: boolean;
  /** Every generation still open; the newest (listening) one last. */
  readonly #gens: Generation[] = [];
  #apps: readonly TemplatedApp[] = [];
  #socket: us_listen_socket | undefined;
  #boundPort = 0;
  #draining = false;

  /**
   * @param build registers the routes / behaviours on a new app (called once per generation)
   * @param closeWhenIdle the owner reports connections (opened/closed): retired generations
   *   close when their last one is gone; otherwise they stay until close()
   */
  constructor(uws: Uws, name: string, host: string, port: number, tls: UwsTls | undefined, build: (app: TemplatedApp, gen: Generation) => void, closeWhenIdle = false) {
    this.#uws = uws;
    this.#name = name;
    this.#host = host;
    this.#port = port;
    this.#tls = tls;
    this.#build = build;
    this.#closeWhenIdle = closeWhenIdle;
  }

  get tls(): boolean {
    return this.#tls !== undefined;
  }

  /** Apps that still have connections (the listening one last): a publish goes to each. Not copied: do not keep. */
  get apps(): readonly TemplatedApp[] {
    return this.#apps;
  }

  #generationsChanged(): void {
    this.#apps = this.#gens.map((g) => g.app);
  }

  #newGeneration(): Generation {
    let app: TemplatedApp;
    if (this.#tls) {
      // the message of a failed SSLApp is only "App construction failed": check first
      checkTls(this.#tls);
      try {
        app = this.#uws.SSLApp({ cert_file_name: this.#tls.cert, key_file_name: this.#tls.key });
      } catch (err) {
        throw new Error(`${this.#name}: the TLS certificate or key was not accepted (${(err as Error).message})`);
      }
    } else {
      app = this.#uws.App();
    }
    const gen: Generation = { app, connections: 0, retired: false };
    this.#build(app, gen);
    return gen;
  }

  #listen(gen: Generation, port: number): Promise<us_listen_socket> {
    return new Promise((resolve, reject) => {
      gen.app.listen(this.#host, port, (socket) => {
        if (socket) resolve(socket);
        else reject(new Error(`${this.#name}: cannot listen on ${this.#host}:${port} (in use or not permitted)`));
      });
    });
  }

  /** Builds the first app and listens; resolves with the bound port. */
  async start(): Promise<number> {
    const gen = this.#newGeneration();
    this.#socket = await this.#listen(gen, this.#port);
    this.#gens.push(gen);
    this.#generationsChanged();
    this.#boundPort = this.#uws.us_socket_local_port(this.#socket as never);
    return this.#boundPort;
  }

  /**
   * Reads the certificate files again and serves new connections with them; open connections
   * stay. On any failure the previous certificate stays in use.
   * @returns the new certificate, or undefined when there is nothing to reload (plain, or draining)
   * @throws Error with a one-line message
   */
  async reload(): Promise<CertificateInfo | undefined> {
    if (!this.#tls || this.#draining || !this.#socket) return undefined;
    const info = checkTls(this.#tls);
    const gen = this.#newGeneration();
    let socket: us_listen_socket;
    try {
      socket = await this.#listen(gen, this.#boundPort);
    } catch (err) {
      (gen.app as TemplatedApp & { close(): void }).close();
      throw err;
    }
    if (this.#draining) {
      // a drain began meanwhile: the new socket must not keep accepting
      (gen.app as TemplatedApp & { close(): void }).close();
      return undefined;
    }
    const old = this.#gens[this.#gens.length - 1]!;
    this.#uws.us_listen_socket_close(this.#socket);
    this.#socket = socket;
    this.#gens.push(gen);
    this.#generationsChanged();
    old.retired = true;
    if (this.#closeWhenIdle && old.connections === 0) this.#retire(old);
    return info;
  }

  /** The owner's count of `gen`'s connections dropped by one. */
  connectionClosed(gen: Generation): void {
    gen.connections--;
    if (gen.retired && gen.connections <= 0 && this.#closeWhenIdle) this.#retire(gen);
  }

  #retire(gen: Generation): void {
    // never from inside one of the app's own callbacks
    setImmediate(() => {
      const i = this.#gens.indexOf(gen);
      if (i < 0) return;
      this.#gens.splice(i, 1);
      this.#generationsChanged();
      (gen.app as TemplatedApp & { close(): void }).close();
    });
  }

  /** Stops accepting connections; open ones stay. */
  drain(): void {
    this.#draining = true;
    if (this.#socket) this.#uws.us_listen_socket_close(this.#socket);
    this.#socket = undefined;
  }

  /** Closes every app and so every connection. */
  close(): void {
    this.drain();
    const gens = this.#gens.splice(0);
    this.#generationsChanged();
    for (const g of gens) (g.app as TemplatedApp & { close(): void }).close();
  }
}
