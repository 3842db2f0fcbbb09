/**
 * The queue's live readings (QueueBackend.onEvent) taken by a transport only while one of its
 * subscriptions wants them: every reading crosses pub/sub to each instance that listens, paid
 * per reading whether anyone watches or not. Shared by the MQTT router and the WebSocket server.
 * @module
 */

/**
 * Subscribes to accepted readings (JSON, one per reading); returns the unsubscribe function.
 * `listening` is called once readings stored from then on reach the listener.
 */
export type ReadingFeed = (listener: (json: string) => void, listening?: () => void) => () => void;

export class LiveFeed {
  readonly #feed: ReadingFeed;
  readonly #listener: (json: string) => void;
  #unfeed: (() => void) | undefined;
  #fed: Promise<void> | undefined;

  constructor(feed: ReadingFeed, listener: (json: string) => void) {
    this.#feed = feed;
    this.#listener = listener;
  }

  /** Starts listening (once) when `on`, stops when not. */
  want(on: boolean): void {
    if (on) {
      if (this.#unfeed === undefined) this.#fed = new Promise((resolve) => (this.#unfeed = this.#feed(this.#listener, resolve)));
    } else if (this.#unfeed !== undefined) {
      this.#unfeed();
      this.#unfeed = undefined;
      this.#fed = undefined;
    }
  }

  get listening(): boolean {
    return this.#unfeed !== undefined;
  }

  /**
   * While listening: resolves once readings flow here. A subscription is confirmed to its client
   * (SUBACK, `subscribed`) after it, so that every reading stored from then on reaches it.
   */
  get fed(): Promise<void> | undefined {
    return this.#fed;
  }
}
