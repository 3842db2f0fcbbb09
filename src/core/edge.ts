/**
 * Edge-triggered notices: a condition that can hold for millions of readings is logged
 * once when it starts and once when it ends (its events are counted in metrics meanwhile).
 * @module
 */
export class Edge {
  #on = false;
  readonly #enter: () => void;
  readonly #leave: () => void;

  constructor(enter: () => void, leave: () => void) {
    this.#enter = enter;
    this.#leave = leave;
  }

  get active(): boolean {
    return this.#on;
  }

  set(on: boolean): void {
    if (on === this.#on) return;
    this.#on = on;
    (on ? this.#enter : this.#leave)();
  }
}
