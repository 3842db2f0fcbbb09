/**
 * How a handler says "this batch is handled, except these entries, which never can be": it
 * throws a FailedEntriesError naming them (stream id → reason). The consumer then
 * acknowledges the rest and moves the named entries to the DLQ at once, without the retries
 * and the entry-by-entry pass that any other error costs. For failures the handler has proved
 * are the entries' own (a reading that cannot be encoded, a write the database refused for
 * those entries alone), not for outages.
 * @module
 */
export class FailedEntriesError extends Error {
  override name = 'FailedEntriesError';

  /** @param failed stream entry id → why that entry can never be handled */
  constructor(readonly failed: ReadonlyMap<string, string>) {
    super([...failed].map(([id, why]) => `entry ${id}: ${why}`).join('; ') || 'no failed entries named');
  }
}
