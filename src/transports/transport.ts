/**
 * What every listener (HTTP, metrics, later MQTT and WebSocket) offers the composition root.
 * @module
 */
export interface Transport {
  readonly name: string;
  /** Binds and starts serving; resolves with the bound port. */
  start(): Promise<number>;
  /** Stops accepting new connections/requests; in-flight ones finish. */
  drain(): Promise<void>;
  /** Closes everything that is left. */
  stop(): Promise<void>;
}
