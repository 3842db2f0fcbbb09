/** The queue's live readings taken only while wanted (src/transports/live-feed.ts). */
import { expect, test } from 'bun:test';
import { LiveFeed, type ReadingFeed } from '../../../src/transports/live-feed.ts';

function fakeQueue() {
  const q = { listeners: [] as ((json: string) => void)[], listening: [] as (() => void)[], unsubscribed: 0 };
  const feed: ReadingFeed = (listener, listening) => {
    q.listeners.push(listener);
    if (listening) q.listening.push(listening);
    return () => {
      q.listeners.splice(q.listeners.indexOf(listener), 1);
      q.unsubscribed++;
    };
  };
  return { q, feed };
}

test('live feed - subscribes once while wanted, fed resolves when the queue says readings flow, unsubscribes when no longer wanted', async () => {
  const { q, feed } = fakeQueue();
  const got: string[] = [];
  const live = new LiveFeed(feed, (json) => got.push(json));
  expect(live.listening).toBe(false);
  expect(live.fed).toBeUndefined();
  live.want(true);
  live.want(true);
  expect(q.listeners.length).toBe(1);
  expect(live.listening).toBe(true);
  let fed = false;
  void live.fed!.then(() => (fed = true));
  await Promise.resolve();
  expect(fed).toBe(false);
  q.listening[0]!();
  await live.fed;
  expect(fed).toBe(true);
  q.listeners[0]!('{"a":1}');
  expect(got).toEqual(['{"a":1}']);
  live.want(false);
  live.want(false);
  expect(q.unsubscribed).toBe(1);
  expect(q.listeners.length).toBe(0);
  expect(live.listening).toBe(false);
  expect(live.fed).toBeUndefined();
  // wanted again: a new subscription and a new promise
  live.want(true);
  expect(q.listeners.length).toBe(1);
  expect(q.listening.length).toBe(2);
});
