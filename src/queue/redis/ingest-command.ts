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
 * (a timed-out command's bytes may still be queued) and the garbage collector takes it. A resend
 * (a reconnection, a Cluster redirection, NOSCRIPT) writes the same bytes.
 *
 * The rest is ioredis' Script, kept: the first call on each connection is an EVAL (loading the
 * script, the entries as an ordinary Buffer argument), later ones EVALSHA; NOSCRIPT (a Redis that
 * restarted, SCRIPT FLUSH) sends it again as an EVAL. Keys (and so Cluster's routing) come from
 * the arguments as for any command.
 * @module
 */
import { createHash } from 'node:crypto';
import { type Cluster, Command, type Redis } from 'ioredis';
import { packedBound, packStringsAt } from './pack-strings.ts';

/** Room for the entries' length line: `$` + up to 10 digits + CRLF. */
const LENGTH_LINE = 16;
/** Buffers kept for reuse: about one per command in flight. */
const POOL_SIZE = 64;
/** Smallest buffer made. */
const MIN_BUFFER = 16 * 1024;

/** One call's bytes: the whole EVALSHA command, and the packed entries within it (for an EVAL). */
interface Frame {
  buffer: Buffer;
  evalsha: Buffer;
  entries: Buffer;
}

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

  /**
   * Runs the script with `args` (keys first, then the other arguments) and the packed `entries`
   * last. The entries are packed at once (a string kept until the reply would survive young
   * collections: packing when ioredis writes the command tripled the server's GC time under MQTT
   * load), and the same bytes serve a resend.
   */
  call(conn: Redis | Cluster, args: readonly (string | number)[], entries: readonly string[]): Promise<string[]> {
    const frame = this.#frame(args, entries);
    const first = this.#command(args, frame);
    const reply = (first.promise as Promise<string[]>).catch((err: Error) => {
      if (!err.message.includes('NOSCRIPT')) throw err;
      // its connection forgot the script (the command's reject took it out of #loaded): EVAL again
      const again = this.#command(args, frame);
      void conn.sendCommand(again);
      return again.promise as Promise<string[]>;
    });
    void conn.sendCommand(first);
    // back to the pool once answered (only then is it surely no longer being written)
    reply.then(
      () => {
        if (this.#pool.length < POOL_SIZE) this.#pool.push(frame.buffer);
      },
      () => {},
    );
    return reply;
  }

  #command(args: readonly (string | number)[], frame: Frame): Command {
    // the entries as a Buffer argument: ioredis writes it as bytes (the EVAL)
    const cmd = new Command('evalsha', [this.sha, this.#numberOfKeys, ...args, frame.entries], { replyEncoding: 'utf8' });
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
        return toWritable(socket);
      }
      this.name = 'evalsha';
      this.args[0] = script.sha;
      return frame.evalsha;
    };
    return cmd;
  }

  /** `*n`, EVALSHA and its arguments as RESP bulk strings, the packed entries last. */
  #frame(args: readonly (string | number)[], entries: readonly string[]): Frame {
    let head = `*${args.length + 4}\r\n$7\r\nevalsha\r\n$40\r\n${this.sha}\r\n`;
    for (const arg of [this.#numberOfKeys, ...args]) {
      const a = String(arg);
      head += `$${Buffer.byteLength(a)}\r\n${a}\r\n`;
    }
    const headBytes = Buffer.byteLength(head);
    const at = headBytes + LENGTH_LINE;
    const need = at + packedBound(entries) + 2;
    let b: Buffer | undefined;
    for (let i = this.#pool.length - 1; i >= 0; i--) {
      if (this.#pool[i]!.length >= need) {
        b = this.#pool[i]!;
        this.#pool[i] = this.#pool[this.#pool.length - 1]!;
        this.#pool.pop();
        break;
      }
    }
    // sizes in powers of two, so that a pooled one fits the next batches
    if (b === undefined) b = Buffer.allocUnsafeSlow(Math.max(MIN_BUFFER, 2 ** Math.ceil(Math.log2(need))));
    const end = packStringsAt(b, at, entries);
    const lengthLine = `$${end - at}\r\n`;
    const start = at - lengthLine.length - headBytes;
    b.write(head, start, 'utf8');
    b.write(lengthLine, at - lengthLine.length, 'latin1');
    b[end] = 13;
    b[end + 1] = 10;
    return { buffer: b, evalsha: b.subarray(start, end + 2), entries: b.subarray(at, end) };
  }
}
