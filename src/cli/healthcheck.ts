/**
 * `neurobuild-ingest healthcheck [--path /health]`: GET http://127.0.0.1:$PORT<path> (https
 * when TLS_CERT_FILE is set) and exit 0 on 200, 1 otherwise. For the container's HEALTHCHECK:
 * the runtime image has no curl.
 * @module
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Config } from '../config/schema.ts';

export async function healthcheck(config: Config, path = '/health'): Promise<number> {
  const tls = Boolean(config.TLS_CERT_FILE && config.TLS_KEY_FILE);
  const url = `${tls ? 'https' : 'http'}://127.0.0.1:${config.PORT}${path}`;
  try {
    const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      // the certificate names the public host, not 127.0.0.1: this asks whether the process answers
      const req = (tls ? httpsRequest : httpRequest)(url, { timeout: 3000, ...(tls ? { rejectUnauthorized: false } : {}) }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error('timed out after 3000 ms')));
      req.on('error', reject);
      req.end();
    });
    process.stdout.write(`${status} ${body}\n`);
    return status === 200 ? 0 : 1;
  } catch (err) {
    process.stdout.write(`${url}: ${(err as Error).message}\n`);
    return 1;
  }
}
