/**
 * Waiting until a consumer group has read and acknowledged a whole stream (nothing pending,
 * its last-delivered id the stream's last id): for tests of consume processes.
 */
import type { Redis } from 'ioredis';
import { waitFor } from './wait.ts';

export async function groupSettled(client: Redis, stream: string, group: string, timeoutMs = 30_000): Promise<void> {
  await waitFor(async () => {
    const [pending] = (await client.xpending(stream, group)) as [number];
    const info = (await client.xinfo('STREAM', stream)) as unknown[];
    const last = info[info.indexOf('last-generated-id') + 1];
    const groups = (await client.xinfo('GROUPS', stream)) as unknown[][];
    const g = groups.find((x) => x[x.indexOf('name') + 1] === group);
    return Number(pending) === 0 && g !== undefined && g[g.indexOf('last-delivered-id') + 1] === last;
  }, timeoutMs, `group ${group} to have read and acknowledged the whole of ${stream}`);
}
