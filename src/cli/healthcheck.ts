/**
 * `neurobuild-ingest healthcheck [--path /health]`: GET http://127.0.0.1:$PORT<path> and exit
 * 0 on 200, 1 otherwise. For the container's HEALTHCHECK: the runtime image has no curl.
 * @module
 */
import type { Config } from '../config/schema.ts';

export async function healthcheck(config: Config, path = '/health'): Promise<number> {
  const url = `http://127.0.0.1:${config.PORT}${path}`;
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(3000) });
    const body = await res.text();
    process.stdout.write(`${res.status} ${body}\n`);
    return res.status === 200 ? 0 : 1;
  } catch (err) {
    process.stdout.write(`${url}: ${(err as Error).message}\n`);
    return 1;
  }
}
