/**
 * Open connections per source address, over the MQTT and WebSocket listeners of this process
 * (MAX_CONNECTIONS_PER_IP; 0 = no limit): one address cannot take every socket.
 * @module
 */
export class AddressLimit {
  readonly #open = new Map<string, number>();

  constructor(readonly max: number) {}

  /** Counts a new connection from `address`; false (nothing counted) when it is at the limit. */
  tryAdd(address: string): boolean {
    if (this.max === 0) return true;
    const n = this.#open.get(address) ?? 0;
    if (n >= this.max) return false;
    this.#open.set(address, n + 1);
    return true;
  }

  remove(address: string): void {
    if (this.max === 0) return;
    const n = (this.#open.get(address) ?? 1) - 1;
    if (n <= 0) this.#open.delete(address);
    else this.#open.set(address, n);
  }
}
