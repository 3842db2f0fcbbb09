/**
 * When a reading counts as stored, so that it may be acknowledged (ACK_DURABILITY):
 * - `append`: Redis accepted the append (in memory; persisted per its own AOF/RDB policy).
 * - `fsync`: the append is on Redis' disk. Redis 7.2+ is asked with WAITAOF after every batch;
 *   older Redis answers only after the fsync when it runs with `appendonly yes` and
 *   `appendfsync always`, which is checked at start and on every reconnect (warned about
 *   when it is not so, or cannot be read).
 * - `replicas`: ACK_REPLICAS replicas confirmed the append (WAIT), within ACK_WAIT_TIMEOUT_MS.
 * A batch whose confirmation falls short fails as a whole: its readings are not acknowledged
 * (503 / MQTT ack held) and a retry is caught by dedupe.
 * @module
 */
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { isCluster, type RedisClient } from './connection.ts';

export type DurabilityLevel = 'append' | 'fsync' | 'replicas';

export interface Durability {
  level: DurabilityLevel;
  /** Replicas that must confirm (level `replicas`). */
  replicas: number;
  timeoutMs: number;
}

/** The confirmation command to send after a batch, or undefined when the reply itself is enough. */
export type Confirm = { cmd: 'waitaof'; args: [number, number, number] } | { cmd: 'wait'; args: [number, number] } | undefined;

/** Why a confirmation reply falls short of the level, or undefined when it is enough. */
export function shortfall(confirm: Confirm, reply: unknown): string | undefined {
  if (confirm === undefined) return undefined;
  if (confirm.cmd === 'wait') {
    const n = Number(reply);
    return n >= confirm.args[0] ? undefined : `${n} of ${confirm.args[0]} replicas confirmed the append within ${confirm.args[1]} ms`;
  }
  const [local] = Array.isArray(reply) ? reply.map(Number) : [0];
  return (local ?? 0) >= 1 ? undefined : `Redis did not confirm the fsync within ${confirm.args[2]} ms`;
}

/** Reads what this Redis offers and decides how batches are confirmed; logs what the operator must know. */
export async function probeDurability(client: RedisClient, d: Durability, log: Logger): Promise<Confirm> {
  if (d.level === 'append') return undefined;
  // on Cluster every primary confirms its own shards' appends: each is asked
  const primaries: Redis[] = isCluster(client) ? client.nodes('master') : [client];
  if (d.level === 'replicas') {
    for (const node of primaries) {
      const info = await node.info('replication').catch(() => '');
      const connected = Number(/connected_slaves:(\d+)/.exec(info)?.[1] ?? NaN);
      if (!(connected >= d.replicas)) {
        log.warn(
          { primary: `${node.options.host}:${node.options.port}`, connected_replicas: Number.isNaN(connected) ? 'unknown' : connected, required: d.replicas },
          'ACK_DURABILITY=replicas: fewer replicas connected than ACK_REPLICAS; appends are not acknowledged (503 / acks held) until enough confirm',
        );
      }
    }
    return { cmd: 'wait', args: [d.replicas, d.timeoutMs] };
  }
  const cmd = primaries[0] ?? (client as Redis);
  const version = /redis_version:(\d+)\.(\d+)/.exec(await cmd.info('server').catch(() => ''));
  const [major, minor] = version ? [Number(version[1]), Number(version[2])] : [0, 0];
  if (major > 7 || (major === 7 && minor >= 2)) return { cmd: 'waitaof', args: [1, 0, d.timeoutMs] };
  const cfg = await configOf(cmd, ['appendonly', 'appendfsync']);
  if (cfg === undefined) {
    log.warn('ACK_DURABILITY=fsync: cannot read the Redis configuration (CONFIG GET refused) and this Redis has no WAITAOF (7.2+): make sure it runs with appendonly yes and appendfsync always, or acknowledged readings can be lost on a crash of the Redis host');
  } else if (cfg.appendonly !== 'yes' || cfg.appendfsync !== 'always') {
    log.warn(
      { appendonly: cfg.appendonly, appendfsync: cfg.appendfsync },
      'ACK_DURABILITY=fsync but Redis does not fsync every write: set appendonly yes and appendfsync always, or acknowledged readings can be lost on a crash of the Redis host (up to a second of writes with everysec)',
    );
  }
  return undefined;
}

async function configOf(cmd: Redis, keys: string[]): Promise<Record<string, string> | undefined> {
  try {
    const flat = (await cmd.config('GET', ...keys)) as string[];
    const out: Record<string, string> = {};
    for (let i = 0; i + 1 < flat.length; i += 2) out[flat[i]!] = flat[i + 1]!;
    return out;
  } catch {
    return undefined;
  }
}
