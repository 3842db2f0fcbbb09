/**
 * Process-wide bound on MQTT publishes awaiting the queue, in payload bytes. Past it every
 * connection stops reading (TCP backpressure reaches the devices) until the queue catches
 * up, so held acknowledgements never turn into unbounded memory [DESIGN §2].
 * @module
 */
export class InFlightBudget {
  #bytes = 0;
  readonly #limit: number;
  readonly #waiting = new Set<() => void>();

  constructor(limitBytes: number) {
    this.#limit = limitBytes;
  }

  get bytes(): number {
    return this.#bytes;
  }

  get exhausted(): boolean {
    return this.#bytes >= this.#limit;
  }

  take(n: number): void {
    this.#bytes += n;
  }

  give(n: number): void {
    this.#bytes -= n;
    // resume readers only below half the limit, so they do not flap at the edge
    if (this.#waiting.size > 0 && this.#bytes < this.#limit / 2) {
      const resume = [...this.#waiting];
      this.#waiting.clear();
      for (const r of resume) r();
    }
  }

  /** Calls `resume` once there is room again. */
  whenRoom(resume: () => void): void {
    this.#waiting.add(resume);
  }

  forget(resume: () => void): void {
    this.#waiting.delete(resume);
  }
}
