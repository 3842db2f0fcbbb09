/**
 * The life of one condition (a rule on a device), pure: the first matching reading fires;
 * further matching readings are suppressed until `suppressMs` after the last firing (then one
 * fires again as a reminder, same episode); the first reading that no longer matches resolves
 * it, and the next match starts a new episode. The state lives in Redis (alerts/store.ts) so
 * it outlives a restart and is shared by every consumer of the group; `now` is injected.
 *
 * Readings are applied in stream order: one whose entry id is not after the last one applied
 * (a redelivered entry, or an older entry claimed from a crashed consumer after newer ones
 * were handled) changes nothing.
 * @module
 */

export interface ConditionState {
  status: 'firing' | 'resolved';
  /** When the current (or last) episode first fired, ms. */
  since: number;
  /** When it last fired (first time or reminder), ms. */
  lastFired: number;
  /** Stream id of the last reading applied. */
  lastId: string;
}

export interface Step {
  /** The state after the reading (unchanged when `changed` is false). */
  state: ConditionState | undefined;
  changed: boolean;
  event?: 'firing' | 'resolved';
  /** A firing of an episode that was already firing (suppression time passed). */
  reminder?: boolean;
  /** Matched while firing, inside the suppression time. */
  suppressed?: boolean;
  /** Not after the last reading applied: ignored. */
  stale?: boolean;
}

/** Orders stream ids `<ms>-<seq>` ('' is before every id). */
export function compareIds(a: string, b: string): number {
  if (a === b) return 0;
  if (a === '') return -1;
  if (b === '') return 1;
  const [am = '0', as = '0'] = a.split('-');
  const [bm = '0', bs = '0'] = b.split('-');
  const d = BigInt(am) - BigInt(bm);
  if (d !== 0n) return d < 0n ? -1 : 1;
  const s = BigInt(as) - BigInt(bs);
  return s === 0n ? 0 : s < 0n ? -1 : 1;
}

export function advance(state: ConditionState | undefined, outcome: 'match' | 'clear', entryId: string, now: number, suppressMs: number): Step {
  if (state && compareIds(entryId, state.lastId) <= 0) return { state, changed: false, stale: true };
  if (outcome === 'clear') {
    if (!state) return { state, changed: false };
    if (state.status === 'firing') return { state: { ...state, status: 'resolved', lastId: entryId }, changed: true, event: 'resolved' };
    return { state: { ...state, lastId: entryId }, changed: true };
  }
  if (!state || state.status === 'resolved') {
    return { state: { status: 'firing', since: now, lastFired: now, lastId: entryId }, changed: true, event: 'firing' };
  }
  if (now - state.lastFired >= suppressMs) {
    return { state: { ...state, lastFired: now, lastId: entryId }, changed: true, event: 'firing', reminder: true };
  }
  return { state: { ...state, lastId: entryId }, changed: true, suppressed: true };
}
