/**
 * A raw MQTT client on node:net + mqtt-packet, for what real clients will not send:
 * retransmissions with a chosen packet id, hostile bytes, silence.
 */
import { connect, type Socket } from 'node:net';
import * as mqtt from 'mqtt-packet';
import type { Packet } from 'mqtt-packet';
import { waitFor } from './wait.ts';

export class RawMqtt {
  readonly packets: Packet[] = [];
  closed = false;
  readonly #socket: Socket;
  readonly #version: number;

  private constructor(socket: Socket, version: number) {
    this.#socket = socket;
    this.#version = version;
    const parser = mqtt.parser({ protocolVersion: version });
    parser.on('packet', (p: Packet) => this.packets.push(p));
    socket.on('data', (d) => parser.parse(d));
    socket.on('close', () => (this.closed = true));
    socket.on('error', () => {});
  }

  static open(port: number, version = 4): Promise<RawMqtt> {
    return new Promise((resolve, reject) => {
      const s = connect(port, '127.0.0.1', () => resolve(new RawMqtt(s, version)));
      s.once('error', reject);
    });
  }

  /** Opens a connection and completes CONNECT/CONNACK. */
  static async connected(port: number, version = 4, clientId = `raw-${Math.random().toString(36).slice(2)}`, keepalive = 60): Promise<RawMqtt> {
    const c = await RawMqtt.open(port, version);
    c.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: version as 4 | 5, clean: true, clientId, keepalive });
    await c.next('connack');
    return c;
  }

  send(p: Packet): void {
    this.#socket.write(mqtt.generate(p, { protocolVersion: this.#version }));
  }

  write(bytes: Uint8Array): void {
    this.#socket.write(bytes);
  }

  /** The next received packet of type `cmd` (removed from the list). */
  async next(cmd: string, timeoutMs = 5000): Promise<Packet> {
    return waitFor<Packet | undefined>(() => {
      const i = this.packets.findIndex((p) => p.cmd === cmd);
      return i >= 0 ? this.packets.splice(i, 1)[0] : undefined;
    }, timeoutMs, `${cmd} packet`) as Promise<Packet>;
  }

  waitClosed(timeoutMs = 5000): Promise<boolean> {
    return waitFor(() => this.closed, timeoutMs, 'connection close');
  }

  end(): void {
    this.#socket.destroy();
  }
}
