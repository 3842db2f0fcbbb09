/**
 * A stand-in for InfluxDB 2's write API in the test process (node:http on a free 127.0.0.1
 * port), for what Debian's InfluxDB 1.6.7 lacks: `POST /api/v2/write`. Every request's method,
 * path, query (org, bucket, precision=ns), Authorization and Content-Type are checked, and
 * every line is parsed by a strict line-protocol parser written here (independent of the
 * sink's encoder): a line that does not parse fails the request with 400 and is recorded in
 * `errors`. Points are kept as InfluxDB keeps them: one per series and timestamp, a second
 * write of the same one overwriting its fields. `GET /ping` answers 204 with a version.
 *
 * `answer` decides a request's status before it is stored (503, 401, 413, a 400 for some
 * lines…); requests and their bodies are recorded in `requests`.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { freePort } from './free-port.ts';

export type FieldValue = { type: 'float'; value: number } | { type: 'integer'; value: number } | { type: 'boolean'; value: boolean } | { type: 'string'; value: string };

export interface ParsedPoint {
  measurement: string;
  tags: Record<string, string>;
  fields: Record<string, FieldValue>;
  /** ns since the epoch, as text */
  timestamp: string;
}

export interface Recorded {
  url: URL;
  headers: IncomingMessage['headers'];
  body: string;
  lines: string[];
  status: number;
}

/** Returns a status (and optional body / headers) to answer instead of storing, `hang` to never answer, or undefined to store. */
export type Answer = (req: { url: URL; headers: IncomingMessage['headers']; lines: string[]; points: ParsedPoint[] }) => { status: number; body?: string; headers?: Record<string, string> } | 'hang' | undefined;

/**
 * Reads a key or tag value up to a char of `stops` not preceded by a backslash (InfluxDB's own
 * rule: it looks at the byte before only), then unescapes `\` + a char of `unescapable`.
 */
function scanKey(line: string, i: number, stops: string, unescapable: string): [string, number] {
  const start = i;
  while (i < line.length && !(stops.includes(line[i]!) && (i === start || line[i - 1] !== '\\'))) i++;
  let out = line.slice(start, i);
  for (const c of unescapable) out = out.replaceAll(`\\${c}`, c);
  return [out, i];
}

/** Parses one line as InfluxDB 1.x/2.x does; throws with the reason when it does not parse. */
export function parseLine(line: string): ParsedPoint {
  if (/[\n]/.test(line)) throw new Error('raw newline in a line');
  let [measurement, i] = scanKey(line, 0, ', ', ', ');
  if (measurement === '') throw new Error('missing measurement');
  const tags: Record<string, string> = {};
  while (line[i] === ',') {
    const [k, j] = scanKey(line, i + 1, '=, ', ',= ');
    if (line[j] !== '=' || k === '') throw new Error(`bad tag key at ${i + 1}`);
    const [v, l] = scanKey(line, j + 1, ', =', ',= ');
    if (v === '') throw new Error(`missing tag value for ${k}`);
    if (line[l] === '=') throw new Error(`unescaped = in tag value of ${k}`);
    tags[k] = v;
    i = l;
  }
  if (line[i] !== ' ') throw new Error(`expected a space after the tags at ${i}`);
  const fields: Record<string, FieldValue> = {};
  for (;;) {
    const [k, j] = scanKey(line, i + 1, '=, ', ',= ');
    if (line[j] !== '=' || k === '') throw new Error(`bad field key at ${i + 1}`);
    let p = j + 1;
    if (line[p] === '"') {
      let s = '';
      p++;
      for (;;) {
        if (p >= line.length) throw new Error(`unterminated string in field ${k}`);
        const c = line[p]!;
        if (c === '\\' && (line[p + 1] === '"' || line[p + 1] === '\\')) {
          s += line[p + 1];
          p += 2;
        } else if (c === '"') {
          p++;
          break;
        } else {
          s += c;
          p++;
        }
      }
      fields[k] = { type: 'string', value: s };
    } else {
      const m = /^[^, ]+/.exec(line.slice(p));
      if (!m) throw new Error(`missing value of field ${k}`);
      const raw = m[0];
      p += raw.length;
      if (/^(t|T|true|True|TRUE)$/.test(raw)) fields[k] = { type: 'boolean', value: true };
      else if (/^(f|F|false|False|FALSE)$/.test(raw)) fields[k] = { type: 'boolean', value: false };
      else if (/^-?\d+i$/.test(raw)) fields[k] = { type: 'integer', value: Number(raw.slice(0, -1)) };
      else if (/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(raw)) fields[k] = { type: 'float', value: Number(raw) };
      else throw new Error(`invalid value ${raw} of field ${k}`);
    }
    i = p;
    if (line[i] === ',') continue;
    break;
  }
  if (line[i] !== ' ') throw new Error('missing timestamp');
  const ts = line.slice(i + 1);
  if (!/^-?\d{1,19}$/.test(ts)) throw new Error(`bad timestamp ${ts}`);
  return { measurement, tags, fields, timestamp: ts };
}

/** The key InfluxDB keeps one point under: measurement, sorted tags, timestamp. */
export const pointKey = (p: ParsedPoint) => `${p.measurement},${Object.keys(p.tags).sort().map((k) => `${k}=${p.tags[k]}`).join(',')} ${p.timestamp}`;

export class LineProtocolReceiver {
  readonly requests: Recorded[] = [];
  readonly errors: string[] = [];
  readonly points = new Map<string, ParsedPoint>();
  answer: Answer = () => undefined;

  private constructor(
    readonly server: Server,
    readonly port: number,
    readonly expect: { org: string; bucket: string; token: string },
  ) {}

  static async start(expect: { org: string; bucket: string; token: string }): Promise<LineProtocolReceiver> {
    const port = await freePort();
    const server = createServer();
    const r = new LineProtocolReceiver(server, port, expect);
    server.on('request', (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const url = new URL(req.url ?? '/', `http://127.0.0.1:${port}`);
        if (req.method === 'GET' && url.pathname === '/ping') {
          res.writeHead(204, { 'x-influxdb-version': 'v2.7.10', 'x-influxdb-build': 'OSS' }).end();
          return;
        }
        const body = Buffer.concat(chunks).toString('utf8');
        const lines = body.split('\n').filter((l) => l !== '');
        const reply = (status: number, text = '', headers: Record<string, string> = {}) => {
          r.requests.push({ url, headers: req.headers, body, lines, status });
          res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(text);
        };
        const problems: string[] = [];
        if (req.method !== 'POST' || url.pathname !== '/api/v2/write') problems.push(`${req.method} ${url.pathname}`);
        if (url.searchParams.get('org') !== expect.org) problems.push(`org=${url.searchParams.get('org')}`);
        if (url.searchParams.get('bucket') !== expect.bucket) problems.push(`bucket=${url.searchParams.get('bucket')}`);
        if (url.searchParams.get('precision') !== 'ns') problems.push(`precision=${url.searchParams.get('precision')}`);
        if (req.headers['content-type'] !== 'text/plain; charset=utf-8') problems.push(`content-type ${req.headers['content-type']}`);
        if (problems.length > 0) {
          r.errors.push(...problems);
          reply(400, JSON.stringify({ code: 'invalid', message: problems.join('; ') }));
          return;
        }
        if (req.headers.authorization !== `Token ${expect.token}`) {
          reply(401, JSON.stringify({ code: 'unauthorized', message: 'unauthorized access' }));
          return;
        }
        const points: ParsedPoint[] = [];
        for (const line of lines) {
          try {
            points.push(parseLine(line));
          } catch (err) {
            r.errors.push(`${(err as Error).message}: ${line}`);
            reply(400, JSON.stringify({ code: 'invalid', message: `unable to parse '${line}': ${(err as Error).message}` }));
            return;
          }
        }
        const forced = r.answer({ url, headers: req.headers, lines, points });
        if (forced === 'hang') {
          r.requests.push({ url, headers: req.headers, body, lines, status: 0 });
          return;
        }
        if (forced) {
          reply(forced.status, forced.body ?? JSON.stringify({ code: 'forced', message: `forced ${forced.status}` }), forced.headers);
          return;
        }
        for (const p of points) {
          const key = pointKey(p);
          const old = r.points.get(key);
          r.points.set(key, old ? { ...p, fields: { ...old.fields, ...p.fields } } : p);
        }
        reply(204);
      });
    });
    await new Promise<void>((res) => server.listen(port, '127.0.0.1', res));
    return r;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Points of a measurement, optionally of one device. */
  of(measurement: string, deviceId?: string): ParsedPoint[] {
    return [...this.points.values()].filter((p) => p.measurement === measurement && (deviceId === undefined || p.tags.device_id === deviceId));
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((res) => this.server.close(() => res()));
  }
}
