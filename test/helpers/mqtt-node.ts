/** Drives test/helpers/mqtt-node-client.mjs (MQTT.js under Node) from a Bun test. */
import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { onLines } from './lines.ts';
import { waitFor } from './wait.ts';

type Line = { event?: string; id?: number; ok?: boolean; code?: number; message?: string; topic?: string; payload?: string };

export class NodeMqttClient {
  readonly lines: Line[] = [];
  #next = 1;

  private constructor(readonly proc: ChildProcess) {
    onLines(proc.stdout!, (line) => this.lines.push(JSON.parse(line) as Line));
  }

  static async connect(url: string, version: 4 | 5): Promise<NodeMqttClient> {
    const proc = spawn('node', [resolve(import.meta.dir, 'mqtt-node-client.mjs'), url, String(version)], { stdio: ['pipe', 'pipe', 'inherit'] });
    const c = new NodeMqttClient(proc);
    await waitFor(() => {
      const bad = c.lines.find((l) => l.event === 'error' || l.event === 'close');
      if (bad) throw new Error(`MQTT.js could not connect: ${bad.message ?? bad.event}`);
      return c.lines.some((l) => l.event === 'connected');
    }, 5000, 'MQTT.js connected');
    return c;
  }

  #call(cmd: Record<string, unknown>): Promise<Line> {
    const id = this.#next++;
    this.proc.stdin!.write(`${JSON.stringify({ id, ...cmd })}\n`);
    return waitFor(() => this.lines.find((l) => l.id === id), 5000, `answer to ${String(cmd.op)}`) as Promise<Line>;
  }

  publish(topic: string, payload: string, qos: 0 | 1 | 2): Promise<Line> {
    return this.#call({ op: 'publish', topic, payload, qos });
  }

  subscribe(topics: string[], qos: 0 | 1 | 2 = 1): Promise<Line> {
    return this.#call({ op: 'subscribe', topics, qos });
  }

  messages(): { topic: string; payload: string }[] {
    return this.lines.filter((l) => l.event === 'message').map((l) => ({ topic: l.topic!, payload: l.payload! }));
  }

  kill(): void {
    this.proc.kill('SIGKILL');
  }
}
