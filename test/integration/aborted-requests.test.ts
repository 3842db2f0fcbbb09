/**
 * Clients that go away mid-request: while sending the body, and while their reading waits
 * for Redis. The server must neither crash nor write to a closed response.
 */
import { expect, test } from 'bun:test';
import { connect } from 'node:net';
import { reading } from '../fixtures/readings.ts';
import { useStack } from '../helpers/stack.ts';
import { waitFor } from '../helpers/wait.ts';

const stack = useStack({ REDIS_COMMAND_TIMEOUT_MS: '500' });

function rawRequest(head: string, body: string, closeAfterMs: number): Promise<void> {
  return new Promise((resolve) => {
    const s = connect(stack.server.port, '127.0.0.1', () => {
      s.write(head + body);
      setTimeout(() => {
        s.destroy();
        resolve();
      }, closeAfterMs);
    });
    s.on('error', () => resolve());
  });
}

test('aborted - a client that hangs up halfway through its body', async () => {
  const body = JSON.stringify(reading());
  const head = `POST /api/v1/sensor-data HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`;
  await Promise.all(Array.from({ length: 20 }, () => rawRequest(head, body.slice(0, 20), 20)));
  expect((await stack.server.post('/api/v1/sensor-data', reading())).status).toBe(202);
});

test('aborted - a client that hangs up while its reading waits for a frozen Redis', async () => {
  const body = JSON.stringify(reading());
  const head = `POST /api/v1/sensor-data HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`;
  const unavailable = async () => (await stack.server.metric('sensor_data_errors_total{error_type="queue_unavailable"}')) ?? 0;
  const failedBefore = await unavailable();
  await stack.redis.stop('SIGSTOP');
  try {
    await Promise.all(Array.from({ length: 10 }, () => rawRequest(head, body, 100)));
    // past REDIS_COMMAND_TIMEOUT_MS the ten readings fail: their answers go to closed sockets
    await waitFor(async () => (await unavailable()) >= failedBefore + 10, 10_000, 'the ten readings answered');
  } finally {
    await stack.redis.stop('SIGCONT');
  }
  const ok = await stack.server.post('/api/v1/sensor-data', reading());
  expect(ok.status).toBe(202);
  expect(stack.server.proc.exitCode).toBeNull();
  expect(stack.server.stderr).toBe('');
});
