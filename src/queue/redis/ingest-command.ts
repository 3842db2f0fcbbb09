/**
 * The ingest script's call, written as one RESP buffer: the entries are packed (MessagePack, read
 * by the script with cmsgpack) straight into the command's own bytes, behind its header, in a
 * buffer reused once Redis has answered the command it carried.
 *
 * ioredis' own script command (`defineCommand`) takes the packed entries as a Buffer argument and
 * copies them, with the header, into a fresh buffer for every call: two copies of every batch
 * into freshly mapped memory (page faults included), about 4 % of the server's CPU under MQTT
 * load in a profile. A reply to the command means Redis read all of it, so its buffer cannot be
 * in a socket's queue any more and goes back to the pool; a command that failed keeps its buffer
 * (a timed-out command's bytes may still be queued) and the garbage collector takes it.
 *
 * The rest is ioredis' Script, kept: the first call on each connection is an EVAL (loading the
 * script, the entries as an ordinary Buffer argument), later ones EVALSHA; NOSCRIPT (a Redis that
 * restarted, SCRIPT FLUSH) sends it again as an EVAL. Keys (and so Cluster's routing) come from
 * the arguments as for any command.
 * @module
 */
import { createHash } from 'node:crypto';
import { type Cluster, Command, type Redis } from 'ioredis';
import { packedBound, packStrings, packStringsAt } from './pack-strings.ts';

/** Room for the entries' length line: `$` + up to 10 digits + CRLF. */
const LENGTH_LINE = 16;
/** Buffers kept for reuse: one per command in flight, a handful at most. */
const POOL_SIZE = 8;
/** Smallest buffer made: a batch of a few readings, with room to grow into. */
const MIN_BUFFER = 64 * 1024;

export class IngestScript {
  readonly sha: string;
  readonly #lua: string;
  readonly #numberOfKeys: number;
  /** Connections (sockets) that have run the script: EVALSHA there. */
  readonly #loaded = new WeakSet<object>();
  readonly #pool: Buffer[] = [];

  constructor(lua: string, numberOfKeys: number) {
    this.#lua = lua;
    this.#numberOfKeys = numberOfKeys;
    this.sha = createHash('sha1').update(lua).digest('hex');
  }

  /** Runs the script with `args` (keys first, then the other arguments) and the packed `entries` last. */
  call(conn: Redis | Cluster, args: readonly (string | number)[], entries: readonly string[]): Promise<string[]> {
    const cmd = this.#command(args, entries);
    const reply = (cmd.promise as Promise<string[]>).catch((err: Error) => {
      if (!err.message.includes('NOSCRIPT')) throw err;
      // its connection forgot the script (#command's reject took it out of #loaded): EVAL again
      const again = this.#command(args, entries);
      void conn.sendCommand(again);
      return again.promise as Promise<string[]>;
    });
    void conn.sendCommand(cmd);
    return reply;
  }

  #command(args: readonly (string | number)[], entries: readonly string[]): Command {
    // an empty Buffer in place of the entries: ioredis writes Buffer arguments as bytes (the EVAL)
    const cmd = new Command('evalsha', [this.sha, this.#numberOfKeys, ...args, Buffer.alloc(0)], { replyEncoding: 'utf8' });
    let buffer: Buffer | undefined;
    // back to the pool once answered (only then is it surely no longer being written)
    cmd.promise.then(
      () => {
        if (buffer !== undefined && this.#pool.length < POOL_SIZE) this.#pool.push(buffer);
      },
      () => {},
    );
    const script = this;
    const toWritable = cmd.toWritable.bind(cmd);
    cmd.toWritable = function (socket: object): string | Buffer {
      const reject = this.reject;
      this.reject = (err: Error) => {
        if (err.message.includes('NOSCRIPT')) script.#loaded.delete(socket);
        reject.call(this, err);
      };
      if (!script.#loaded.has(socket)) {
        script.#loaded.add(socket);
        this.name = 'eval';
        this.args[0] = script.#lua;
        this.args[this.args.length - 1] = packStrings(entries);
        return toWritable(socket);
      }
      this.name = 'evalsha';
      this.args[0] = script.sha;
      if (buffer !== undefined) {
        // written before on a connection since lost: that buffer may still sit in its queue
        buffer = undefined;
      }
      const written = script.#write(this.args as (string | Buffer)[], entries);
      buffer = written.buffer;
      return written.bytes;
    };
    return cmd;
  }

  /** `*n`, EVALSHA and every argument but the last as RESP bulk strings, then the packed entries. */
  #write(args: readonly (string | Buffer)[], entries: readonly string[]): { buffer: Buffer; bytes: Buffer } {
    let head = `*${args.length + 1}\r\n$7\r\nevalsha\r\n`;
    for (let i = 0; i < args.length - 1; i++) {
      const a = String(args[i]);
      head += `$${Buffer.byteLength(a)}\r\n${a}\r\n`;
    }
    const headBytes = Buffer.byteLength(head);
    const at = headBytes + LENGTH_LINE;
    const need = at + packedBound(entries) + 2;
    let b = this.#pool.pop();
    if (b === undefined || b.length < need) b = Buffer.allocUnsafeSlow(Math.max(need, MIN_BUFFER, b === undefined ? 0 : b.length * 2));
    const end = packStringsAt(b, at, entries);
    const lengthLine = `$${end - at}\r\n`;
    const start = at - lengthLine.length - headBytes;
    b.write(head, start, 'utf8');
    b.write(lengthLine, at - lengthLine.length, 'latin1');
    b[end] = 13;
    b[end + 1] = 10;
    return { buffer: b, bytes: b.subarray(start, end + 2) };
  }
}
