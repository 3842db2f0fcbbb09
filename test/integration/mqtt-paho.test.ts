/**
 * MQTT 5 with a second, independent client implementation: Eclipse paho-mqtt for Python
 * (Debian's python3-paho-mqtt, run with /usr/bin/python3: the pyenv python3 on PATH has no
 * paho). test/helpers/paho-checks.py runs one check per call and prints what it observed as a
 * JSON line; the assertions are here. Skipped, with the reason, when /usr/bin/python3 cannot
 * import paho.
 */
import { describe, expect, test } from 'bun:test';
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { useStack } from '../helpers/stack.ts';
import { runCommand } from '../helpers/run-command.ts';

const PYTHON = '/usr/bin/python3';
const SCRIPT = resolve(import.meta.dir, '../helpers/paho-checks.py');

const probe = spawnSync(PYTHON, ['-c', 'import paho.mqtt, paho.mqtt.client; print(paho.mqtt.__version__)'], { encoding: 'utf8', timeout: 10_000 });
const pahoVersion = probe.status === 0 ? probe.stdout.trim() : undefined;
const skipReason = pahoVersion === undefined ? `${PYTHON} cannot import paho.mqtt (Debian package python3-paho-mqtt): ${probe.error?.message ?? probe.stderr.trim()}` : undefined;
if (skipReason !== undefined) console.warn(`mqtt-paho.test.ts skipped: ${skipReason}`);

type Result = Record<string, unknown> & { check: string };

describe.skipIf(skipReason !== undefined)(`mqtt paho - paho-mqtt ${pahoVersion ?? '(missing)'} MQTTv5 clients`, () => {
  const stack = useStack();

  /** Runs one check of paho-checks.py against the server; its JSON line (an "error" fails the test with paho's message). */
  async function check(name: string, timeoutMs = 20_000): Promise<Result> {
    const { code, stdout, stderr } = await runCommand(PYTHON, [SCRIPT, String(stack.server.mqttPort), name], timeoutMs);
    const line = stdout
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as Result)
      .find((r) => r.check === name);
    if (line === undefined) throw new Error(`paho-checks.py ${name}: no result (exit ${code}): ${stderr}${stdout}`);
    if (typeof line.error === 'string') throw new Error(`paho-checks.py ${name}: ${line.error}${stderr ? `\n${stderr}` : ''}`);
    return line;
  }

  test('mqtt paho - shared subscription: each message to exactly one member of $share/g (members take turns), every message to a non-shared subscriber [MQTT-4.8.2]', async () => {
    const r = (await check('shared_subscription')) as Result & { sent: string[]; g1: string[]; g2: string[]; plain: string[] };
    const members = [...r.g1, ...r.g2];
    expect(members.length).toBe(r.sent.length); // none twice
    expect([...members].sort()).toEqual([...r.sent].sort()); // none lost
    expect(r.g1.filter((m) => r.g2.includes(m))).toEqual([]);
    expect(Math.abs(r.g1.length - r.g2.length)).toBeLessThanOrEqual(1);
    expect(r.plain).toEqual(r.sent);
  });

  test('mqtt paho - subscription identifiers: a message matching both subscriptions carries ids 5 and 6, one matching only the wildcard carries 6 [MQTT-3.3.4-3]', async () => {
    const r = (await check('subscription_identifiers')) as Result & { messages: { topic: string; payload: string; ids: number[] | null }[] };
    expect(r.messages.map((m) => [m.payload, [...(m.ids ?? [])].sort()])).toEqual([
      ['to-a', [5, 6]],
      ['to-b', [6]],
    ]);
  });

  test('mqtt paho - will delay: a will with WillDelayInterval 2 is published about 2 s after the connection drops [MQTT-3.1.3-9]', async () => {
    const r = (await check('will_delay')) as Result & { payload: string; elapsed_s: number };
    expect(r.payload).toBe('gone');
    expect(r.elapsed_s).toBeGreaterThanOrEqual(1.7);
    expect(r.elapsed_s).toBeLessThan(4.5); // the session (expiry 10 s) would end much later
  });

  test('mqtt paho - request/response: Response Topic, Correlation Data, Content Type and User Properties reach the responder; its answer brings the Correlation Data back [MQTT-3.3.2-15..18]', async () => {
    const r = (await check('request_response')) as Result & {
      request: { payload: string; response_topic: string; correlation: string; content_type: string; user_properties: [string, string][] };
      reply: { payload: string; correlation: string };
    };
    expect(r.request.payload).toBe('question');
    expect(r.request.response_topic).toMatch(/^paho\/[0-9a-f]+\/rr\/response$/);
    expect(r.request.correlation).toBe(Buffer.from('\u0000corr-7\u00ff', 'latin1').toString('hex'));
    expect(r.request.content_type).toBe('text/plain');
    expect(r.request.user_properties).toEqual([
      ['k', 'v1'],
      ['k', 'v2'],
      ['x', 'y'],
    ]);
    expect(r.reply).toEqual({ payload: 'answer:question', correlation: r.request.correlation });
  });

  test('mqtt paho - user properties arrive in the order they were published, a name repeated between others included [MQTT-3.3.2-18]', async () => {
    const r = (await check('user_property_order')) as Result & { sent: [string, string][]; received: [string, string][] };
    expect(r.received).toEqual(r.sent);
  });

  test('mqtt paho - server-to-client topic aliases (client TopicAliasMaximum 1): topic + alias 1 first, then an empty topic + alias 1; a second topic goes out in full; every topic resolves', async () => {
    const r = (await check('topic_aliases')) as Result & { sent: [string, string][]; wire: { topic: string; alias: number | null; payload: string }[]; resolved: string[] };
    const [a, b] = [r.sent[0]![0], r.sent[2]![0]];
    // paho-mqtt 1.6.1 hands the topic over as it came on the wire (it does not resolve aliases): the raw form is visible
    expect(r.wire).toEqual([
      { topic: a, alias: 1, payload: 'a1' },
      { topic: '', alias: 1, payload: 'a2' },
      { topic: b, alias: null, payload: 'b1' },
      { topic: '', alias: 1, payload: 'a3' },
      { topic: b, alias: null, payload: 'b2' },
    ]);
    expect(r.resolved).toEqual(r.sent.map(([t]) => t));
  });

  // paho-mqtt 1.6.1 sends each PUBACK itself as soon as on_message returns (manual acknowledgement,
  // Client(manual_ack=True) / Client.ack(), came with paho-mqtt 2.0), so a client's Receive
  // Maximum window cannot be held full from it; paho-checks.py's flow_control check says so too.
  // The window is covered with a raw client in mqtt5-sessions.test.ts (Receive Maximum 20).
  test.skip(`mqtt paho - flow control: ReceiveMaximum 2 with manual acks (skipped: paho-mqtt ${pahoVersion ?? '?'} has no manual acknowledgement)`, () => {});
});
