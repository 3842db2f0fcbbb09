/**
 * The young generation's size. Under load every reading in flight (its packet, parsed value,
 * entry, continuations) survives one or two scavenges while it waits for Redis, and a scavenge
 * costs what survives it: with V8's default 16 MiB semi-space the garbage collector took 24 % of
 * the server's CPU under MQTT QoS 1 load; with 64 MiB, 9 % (32: 12 %, 128: 8.6 %), the same
 * objects surviving four times fewer scavenges. The heap reserve grows by 3 × 48 MiB at most, and
 * only under allocation pressure (an idle server's young generation stays small).
 *
 * A V8 flag is read when the heap is set up: it cannot be set from inside the process. The
 * workers of `--workers` get it from their primary; a single process from its command line or
 * NODE_OPTIONS (the Dockerfile sets it, `npm start` passes it), else a line at start says so.
 * @module
 */

export const SEMI_SPACE_MB = 64;
export const SEMI_SPACE_FLAG = `--max-semi-space-size=${SEMI_SPACE_MB}`;

/** Whether the process was started with a semi-space size of its own (any value: an operator's choice stands). */
export function semiSpaceSet(execArgv: readonly string[] = process.execArgv, nodeOptions: string = process.env.NODE_OPTIONS ?? ''): boolean {
  const named = (a: string): boolean => /^--max[-_]semi[-_]space[-_]size(=|$)/.test(a);
  return execArgv.some(named) || nodeOptions.split(/\s+/).some(named);
}

/** Node options for a worker process: the parent's, plus the semi-space size unless one is set. */
export function workerExecArgv(execArgv: readonly string[] = process.execArgv, nodeOptions?: string): string[] {
  return semiSpaceSet(execArgv, nodeOptions) ? [...execArgv] : [...execArgv, SEMI_SPACE_FLAG];
}
