/**
 * Debian's nginx (with libnginx-mod-stream) running deploy/gateway/nginx.conf itself, on free
 * ports in front of a test server: the file's listen ports and upstream addresses are replaced,
 * its paths moved into a temp dir, and nginx connects to the server from `bind` (proxy_bind), so
 * the server can tell the proxy from clients that connect directly. Every replacement must apply:
 * a change to the file that the test no longer matches fails the start, not silently the test.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort } from './free-port.ts';
import { waitFor } from './wait.ts';

const BINARY = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((p) => existsSync(p));
const STREAM_MODULE = ['/usr/lib/nginx/modules/ngx_stream_module.so', '/usr/lib64/nginx/modules/ngx_stream_module.so'].find((p) => existsSync(p));
export const CONFIG = resolve(import.meta.dir, '../../deploy/gateway/nginx.conf');

/** Why the nginx tests cannot run here (undefined: they can). */
export function nginxMissing(): string | undefined {
  if (BINARY === undefined) return 'nginx is not installed (Debian: apt-get install nginx libnginx-mod-stream)';
  if (STREAM_MODULE === undefined) return 'nginx\'s stream module is not installed (Debian: apt-get install libnginx-mod-stream)';
  return undefined;
}

export interface Upstream {
  http: number;
  ws: number;
  mqtt: number;
  mqtts: number;
}

export class Nginx {
  #proc: ChildProcess | undefined;
  #stderr = '';

  private constructor(
    readonly dir: string,
    readonly http: number,
    readonly mqtt: number,
    readonly mqtts: number,
  ) {}

  /** Starts nginx with the deploy config in front of `upstream` (ports on 127.0.0.1), connecting from `bind`. */
  static async start(upstream: Upstream, bind: string): Promise<Nginx> {
    const missing = nginxMissing();
    if (missing) throw new Error(missing);
    const dir = mkdtempSync(join(tmpdir(), 'nb-nginx-'));
    const n = new Nginx(dir, await freePort(), await freePort(), await freePort());
    const conf = join(dir, 'nginx.conf');
    writeFileSync(conf, n.#render(readFileSync(CONFIG, 'utf8'), upstream, bind));
    const proc = spawn(BINARY!, ['-p', dir, '-c', conf, '-g', 'daemon off;'], { stdio: ['ignore', 'ignore', 'pipe'] });
    proc.stderr!.on('data', (d) => (n.#stderr += d));
    n.#proc = proc;
    const listening = (port: number) =>
      new Promise<boolean>((done) => {
        const s = connect(port, '127.0.0.1', () => {
          s.destroy();
          done(true);
        });
        s.on('error', () => done(false));
      });
    await waitFor(async () => {
      if (proc.exitCode !== null) throw new Error(`nginx exited with ${proc.exitCode}: ${n.#stderr}${n.errorLog()}`);
      return (await listening(n.http)) && (await listening(n.mqtt)) && (await listening(n.mqtts));
    }, 10_000, 'nginx to listen');
    return n;
  }

  #render(text: string, up: Upstream, bind: string): string {
    const d = this.dir;
    const edits: [string | RegExp, string][] = [
      ['pid /run/nginx.pid;', `pid ${d}/nginx.pid;`],
      ['include /etc/nginx/modules-enabled/*.conf;', `load_module ${STREAM_MODULE};`],
      ['worker_processes auto;', 'worker_processes 1;'],
      ['error_log /var/log/nginx/error.log;', `error_log ${d}/error.log info;`],
      ['access_log /var/log/nginx/access.log;', `access_log ${d}/access.log;`],
      ['listen 80;', `listen 127.0.0.1:${this.http};`],
      ['listen 1883;', `listen 127.0.0.1:${this.mqtt};`],
      ['listen 8883;', `listen 127.0.0.1:${this.mqtts};`],
      ['server data-ingestion:3000;', `server 127.0.0.1:${up.http};`],
      ['server data-ingestion:3001;', `server 127.0.0.1:${up.ws};`],
      ['server data-ingestion:1883;', `server 127.0.0.1:${up.mqtt};`],
      ['server data-ingestion:8883;', `server 127.0.0.1:${up.mqtts};`],
      [
        /^http \{$/m,
        `http {\n    proxy_bind ${bind};\n` +
          ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `    ${t}_temp_path ${d}/${t};\n`).join(''),
      ],
      [/^stream \{$/m, `stream {\n    proxy_bind ${bind};\n`],
    ];
    for (const [from, to] of edits) {
      const found = typeof from === 'string' ? text.includes(from) : from.test(text);
      if (!found) throw new Error(`deploy/gateway/nginx.conf no longer has ${String(from)}: update test/helpers/nginx.ts with it`);
      text = text.replace(from, to);
    }
    // running as root: workers as root too, so they may use the temp dir (otherwise `user` is ignored)
    return text.replace('user www-data;', process.getuid?.() === 0 ? 'user root;' : '');
  }

  errorLog(): string {
    try {
      return readFileSync(join(this.dir, 'error.log'), 'utf8');
    } catch {
      return '';
    }
  }

  async stop(): Promise<void> {
    const p = this.#proc;
    if (p && p.exitCode === null && p.signalCode === null) {
      await new Promise<void>((done) => {
        p.once('exit', () => done());
        // fast shutdown: open client connections are not waited for
        p.kill('SIGTERM');
      });
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
