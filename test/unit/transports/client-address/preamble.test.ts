/**
 * The preamble over real TCP sockets: a header split over several writes is read and the bytes
 * after it reach the next reader; each refusal (untrusted, missing, malformed, truncated) and
 * silence end it once.
 */
import { afterEach, describe, expect, test } from 'bun:test';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { type HeaderMode, type Preamble, readPreamble, watchFirstBytes } from '../../../../src/transports/client-address/preamble.ts';
import { waitFor } from '../../../helpers/wait.ts';

let server: Server | undefined;
afterEach(() => server?.close());

/** Starts a server whose connections run readPreamble in `mode`; resolves with the outcome and what the socket reads afterwards. */
async function run(mode: HeaderMode, writes: (Buffer | string)[], opts: { end?: boolean; timeoutMs?: number } = {}): Promise<{ p: Preamble; after: Buffer }> {
  let result: { p: Preamble; after: Buffer } | undefined;
  server = createServer((socket: Socket) => {
    readPreamble(socket, mode, opts.timeoutMs ?? 2000, (p) => {
      const chunks: Buffer[] = [];
      result = { p, after: Buffer.alloc(0) };
      if (!p.ok) return socket.destroy();
      socket.on('data', (d: Buffer) => {
        chunks.push(d);
        result!.after = Buffer.concat(chunks);
      });
    });
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const client = connect(port, '127.0.0.1');
  client.on('error', () => {});
  await new Promise((r) => client.once('connect', r));
  // each write its own segment (no Nagle), handed to the kernel before the next
  client.setNoDelay(true);
  for (const w of writes) await new Promise((r) => client.write(w, r));
  if (opts.end) client.end();
  await waitFor(() => result !== undefined, 5000, 'preamble outcome');
  if (result!.p.ok) await waitFor(() => result!.after.length >= 4, 5000, 'bytes after the header');
  client.destroy();
  return result!;
}

describe('preamble', () => {
  test('preamble - required: a header in three writes, then the client\'s bytes unchanged', async () => {
    const { p, after } = await run('required', ['PROXY TCP4 203.', '0.113.9 192.0.2.1 1', '2345 1883\r\nMQTT']);
    expect(p).toEqual({ ok: true, header: { version: 1, source: '203.0.113.9', sourcePort: 12345, destination: '192.0.2.1', destinationPort: 1883 } });
    expect(after.toString()).toBe('MQTT');
  });
  test('preamble - required: no header is "missing"', async () => {
    const { p } = await run('required', [Buffer.from([0x10, 0x0c, 0x00, 0x04])]);
    expect(p).toMatchObject({ ok: false, problem: 'missing' });
  });
  test('preamble - optional: no header goes on with every byte', async () => {
    const { p, after } = await run('optional', [Buffer.from([0x10, 0x0c, 0x00, 0x04])]);
    expect(p).toEqual({ ok: true, header: undefined });
    expect([...after]).toEqual([0x10, 0x0c, 0x00, 0x04]);
  });
  test('preamble - refused: a header from a peer that is no trusted proxy is "untrusted"; anything else goes on', async () => {
    expect((await run('refused', ['PROXY TCP4 203.0.113.9 192.0.2.1 12345 1883\r\n'])).p).toMatchObject({ ok: false, problem: 'untrusted' });
    const { p, after } = await run('refused', ['\x16\x03\x01\x00']);
    expect(p).toEqual({ ok: true, header: undefined });
    expect(after.toString('latin1')).toBe('\x16\x03\x01\x00');
  });
  test('preamble - malformed, truncated then closed, truncated then silent', async () => {
    expect((await run('required', ['PROXY TCP9 x y 1 2\r\n'])).p).toMatchObject({ ok: false, problem: 'malformed' });
    const closed = (await run('required', ['PROXY TCP4 203.0'], { end: true })).p;
    expect(closed).toMatchObject({ ok: false, problem: 'malformed' });
    expect(!closed.ok && closed.detail).toContain('truncated');
    const silent = (await run('required', ['PROXY TCP4 203.0'], { timeoutMs: 300 })).p;
    expect(silent).toMatchObject({ ok: false, problem: 'malformed' });
    expect(!silent.ok && silent.detail).toContain('then nothing for 300 ms');
  });
  test('preamble - a peer that sends nothing is "silent", one that leaves "gone" (neither is reported)', async () => {
    expect((await run('required', [], { timeoutMs: 300 })).p).toMatchObject({ ok: false, problem: 'silent' });
    expect((await run('optional', [], { end: true })).p).toMatchObject({ ok: false, problem: 'gone' });
  });
  test('preamble - watchFirstBytes sees the first chunk before the reader registered after it, and puts it back', async () => {
    let header = 0;
    const seen: Buffer[] = [];
    server = createServer((socket) => {
      watchFirstBytes(socket, () => header++);
      socket.on('readable', () => {
        for (let c = socket.read() as Buffer | null; c !== null; c = socket.read() as Buffer | null) seen.push(c);
      });
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    const a = connect(port, '127.0.0.1', () => a.write(Buffer.from([0x10, 0x02, 0x00, 0x00])));
    await waitFor(() => Buffer.concat(seen).length === 4, 5000, 'the first chunk to reach the reader');
    expect(header).toBe(0);
    const b = connect(port, '127.0.0.1', () => b.write('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n'));
    await waitFor(() => header === 1, 5000, 'the header to be seen');
    a.destroy();
    b.destroy();
  });
});
