/**
 * Attack (issue 16, finding 1): a session is the identity's, not the client id's. A device that
 * connects with its own valid key and another client's id (`dashboard-1`) must neither resume
 * that session (and with it a subscription to every device's readings) nor disconnect its
 * holder; and joining another identity's shared subscription group must not divert a share of
 * its messages. Failed on main before the fix: the device got sessionPresent true, the
 * dashboard was disconnected with 0x8E, and the intruder received half of the group's messages.
 */
import { describe, expect, test } from 'bun:test';
import { ADMIN, registerKey } from '../helpers/identities.ts';
import { connackCode, publishQos1, publishes, rawConnect, rawSubscribe, roundTrip } from '../helpers/mqtt5.ts';
import { useStack } from '../helpers/stack.ts';
import { waitFor } from '../helpers/wait.ts';

const stack = useStack({ AUTH_MODE: 'api-key', ADMIN_TOKEN: ADMIN });
const port = () => stack.server.mqttPort;
const persistent = { clean: false, properties: { sessionExpiryInterval: 300 } };

describe('security - MQTT sessions bound to the identity that made them', () => {
  test('security mqtt - another identity cannot resume, take over or clean-start a client id in use: 0x87 (3.1.1: 5), the holder stays connected and keeps its session', async () => {
    const dashKey = await registerKey(stack.server.base, 'dash', 'subscriber');
    const evilKey = await registerKey(stack.server.base, 'evil-dev');
    const dash = stack.track((await rawConnect(port(), { clientId: 'dashboard-1', username: 'dash', password: dashKey, ...persistent })).c);
    expect((await rawSubscribe(dash, [{ topic: 'neurobuild/sensors/#', qos: 1 }])).granted).toEqual([1]);

    for (const attempt of [
      { version: 5 as const, ...persistent },
      { version: 5 as const, clean: true },
      { version: 4 as const, clean: false },
    ]) {
      const { c, connack } = await rawConnect(port(), { clientId: 'dashboard-1', username: 'evil-dev', password: evilKey, ...attempt });
      stack.track(c);
      expect(connackCode(connack)).toBe(attempt.version === 5 ? 0x87 : 5);
      expect(connack.sessionPresent).toBe(false);
      await c.waitClosed();
    }
    // the dashboard was not disconnected, and still gets what its subscription matches
    await roundTrip(dash);
    expect(dash.packets.some((p) => p.cmd === 'disconnect')).toBe(false);
    const devKey = await registerKey(stack.server.base, 'dev-1');
    const dev = stack.track((await rawConnect(port(), { clientId: 'dev-1', username: 'dev-1', password: devKey })).c);
    await publishQos1(dev, 'neurobuild/sensors/dev-1/status', 'online');
    await waitFor(() => publishes(dash).some((p) => p.topic === 'neurobuild/sensors/dev-1/status'), 5000, 'the dashboard to receive the status');

    // kept while away: still refused to the other identity, resumed by its own
    dash.end();
    await dash.waitClosed();
    const { c: again, connack: refused } = await rawConnect(port(), { clientId: 'dashboard-1', username: 'evil-dev', password: evilKey, ...persistent });
    stack.track(again);
    expect(connackCode(refused)).toBe(0x87);
    const { c: back, connack: resumed } = await rawConnect(port(), { clientId: 'dashboard-1', username: 'dash', password: dashKey, ...persistent });
    stack.track(back);
    expect(connackCode(resumed)).toBe(0);
    expect(resumed.sessionPresent).toBe(true);
  });

  test('security mqtt - the same identity still takes over its own client id (0x8E to the old connection), whichever connection it comes from', async () => {
    const key = await registerKey(stack.server.base, 'dev-takeover');
    const first = stack.track((await rawConnect(port(), { clientId: 'dev-takeover', username: 'dev-takeover', password: key, ...persistent })).c);
    const { c: second, connack } = await rawConnect(port(), { clientId: 'dev-takeover', username: 'dev-takeover', password: key, ...persistent });
    stack.track(second);
    expect(connackCode(connack)).toBe(0);
    expect(connack.sessionPresent).toBe(true);
    const disconnect = await first.next('disconnect');
    expect((disconnect as { reasonCode?: number }).reasonCode).toBe(0x8e);
  });

  test("security mqtt - a shared subscription group is the identity's: another identity naming the same group gets a group of its own, not a share of the first one's messages", async () => {
    const analyticsKey = await registerKey(stack.server.base, 'analytics', 'subscriber');
    const intruderKey = await registerKey(stack.server.base, 'intruder', 'subscriber');
    const filter = '$share/analytics/neurobuild/sensors/+/status';
    const members = [];
    for (const [who, key, n] of [['analytics', analyticsKey, 1], ['analytics', analyticsKey, 2], ['intruder', intruderKey, 1]] as const) {
      const { c, connack } = await rawConnect(port(), { clientId: `${who}-${n}`, username: who, password: key });
      expect(connackCode(connack)).toBe(0);
      stack.track(c);
      expect((await rawSubscribe(c, [{ topic: filter, qos: 1 }])).granted).toEqual([1]);
      members.push(c);
    }
    const [a1, a2, intruder] = members as [(typeof members)[0], (typeof members)[0], (typeof members)[0]];
    const devKey = await registerKey(stack.server.base, 'dev-share');
    const dev = stack.track((await rawConnect(port(), { clientId: 'dev-share', username: 'dev-share', password: devKey })).c);
    const N = 20;
    for (let i = 0; i < N; i++) await publishQos1(dev, 'neurobuild/sensors/dev-share/status', `s${i}`);
    const count = (c: typeof a1) => publishes(c).filter((p) => p.topic === 'neurobuild/sensors/dev-share/status').length;
    // analytics' two members share the N messages; the intruder's group (of one) gets its own copy of each
    await waitFor(() => count(a1) + count(a2) === N && count(intruder) === N, 5000, 'every message to each group once');
    expect(count(a1)).toBeGreaterThan(0);
    expect(count(a2)).toBeGreaterThan(0);
  });
});
