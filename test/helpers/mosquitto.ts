/** A real Mosquitto broker (Debian package) on a free port, no persistence, for bridge tests. */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './free-port.ts';
import { waitFor } from './wait.ts';

const BINARY = ['/usr/sbin/mosquitto', '/usr/bin/mosquitto'].find((p) => existsSync(p)) ?? 'mosquitto';

export class Mosquitto {
  #proc: ChildProcess | undefined;
  readonly #dir = mkdtempSync(join(tmpdir(), 'nb-mosquitto-'));

  private constructor(readonly port: number) {}

  static async start(): Promise<Mosquitto> {
    const m = new Mosquitto(await freePort());
    await m.restart();
    return m;
  }

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  async restart(): Promise<void> {
    const conf = join(this.#dir, 'mosquitto.conf');
    writeFileSync(conf, `listener ${this.port} 127.0.0.1\nallow_anonymous true\npersistence false\n`);
    this.#proc = spawn(BINARY, ['-c', conf], { stdio: 'ignore' });
    await waitFor(() => new Promise<boolean>((resolve) => {
      const s = connect(this.port, '127.0.0.1', () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    }), 10_000, `mosquitto on ${this.port}`);
  }

  async stop(): Promise<void> {
    const p = this.#proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      p.once('exit', () => resolve());
      p.kill('SIGKILL');
    });
  }

  async dispose(): Promise<void> {
    await this.stop();
    rmSync(this.#dir, { recursive: true, force: true });
  }
}
