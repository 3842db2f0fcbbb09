/** The part of qlobber's API this server uses (the package ships no types). */
declare module 'qlobber' {
  export interface QlobberOptions {
    separator?: string;
    wildcard_one?: string;
    wildcard_some?: string;
    match_empty_levels?: boolean;
    max_words?: number;
    max_wildcard_somes?: number;
  }
  export class Qlobber<V> {
    constructor(options?: QlobberOptions);
    add(topic: string, value: V): this;
    remove(topic: string, value?: V): this;
    /** Every value whose filter matches `topic` (a new array; no duplicates unless a value was added under several filters). */
    match(topic: string): V[];
    clear(): this;
  }
}
