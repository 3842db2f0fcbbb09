/**
 * Waiting until a consumer group has read and acknowledged a whole stream (nothing pending,
 * its last-delivered id the stream's last id): for tests of consume processes.
 *
 * The stream's and the group's state are read in one MULTI: read one after the other, a
 * poll could see "nothing pending" between two batches and then "everything delivered" once
 * the last batch was read, and call a group settled while that batch was still in hand.
 */
import type { Redis } from 'ioredis';
import { waitFor } from './wait.ts';

export async function groupSettled(client: Redis, stream: string, group: string, timeoutMs = 30_000): Promise<void> {
  await waitFor(async () => {
    const replies = (await client.multi().xinfo('STREAM', stream).xinfo('GROUPS', stream).exec()) ?? [];
    const [[e1, info], [e2, groups]] = replies as [[Error | null, unknown[]], [Error | null, unknown[][]]];
    if (e1 || e2) throw e1 ?? e2;
    const last = info[info.indexOf('last-generated-id') + 1];
    const g = groups.find((x) => x[x.indexOf('name') + 1] === group);
    return g !== undefined && Number(g[g.indexOf('pending') + 1]) === 0 && g[g.indexOf('last-delivered-id') + 1] === last;
  }, timeoutMs, `group ${group} to have read and acknowledged the whole of ${stream}`);
}
