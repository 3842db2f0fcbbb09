/**
 * The InfluxDB write endpoints without a server: the v2 and v1 URLs and headers, and what each
 * answer means for a batch (written, refused by InfluxDB, too large, a wrong setting, unavailable).
 */
import { describe, expect, test } from 'bun:test';
import { STATUS_CODES } from 'node:http';
import { authorization, describeInflux, type InfluxTarget, writeLines, writeUrl } from '../../../src/consumer/influx/write-api.ts';

const v2: InfluxTarget = { url: 'http://influx:8086', api: 'v2', org: 'neurobuildtech', bucket: 'sensor_data', token: 'tok', timeoutMs: 1000 };
const v1: InfluxTarget = { url: 'http://influx:8086/prefix/', api: 'v1', bucket: 'sensor data', token: 'writer:s3cret', timeoutMs: 1000 };

/** A fetch answering `status` (or throwing `error`), recording the request. */
function answering(status: number | Error, body = '', headers: Record<string, string> = {}) {
  const calls: { url: string; init: RequestInit }[] = [];
  const f = (async (url: string, init: RequestInit) => {
    calls.push({ url, init });
    if (status instanceof Error) throw status;
    return new Response(status === 204 ? null : body, { status, headers, statusText: STATUS_CODES[status] ?? '' });
  }) as unknown as typeof fetch;
  return { calls, f };
}

describe('influx write api', () => {
  test('influx write api - v2: /api/v2/write with org, bucket, precision=ns and Authorization: Token', async () => {
    expect(writeUrl(v2)).toBe('http://influx:8086/api/v2/write?org=neurobuildtech&bucket=sensor_data&precision=ns');
    const { calls, f } = answering(204);
    expect(await writeLines({ ...v2, fetch: f }, 'm f=1 1')).toEqual({ kind: 'written', status: 204 });
    expect(calls[0]!.init.method).toBe('POST');
    expect(calls[0]!.init.body).toBe('m f=1 1');
    expect(calls[0]!.init.headers).toMatchObject({ authorization: 'Token tok', 'content-type': 'text/plain; charset=utf-8' });
  });

  test('influx write api - v1: /write?db=&precision=ns under the URL\'s path; user:password as Basic, a bare token as Token, none without', () => {
    expect(writeUrl(v1)).toBe('http://influx:8086/prefix/write?db=sensor+data&precision=ns');
    expect(authorization(v1)).toBe(`Basic ${Buffer.from('writer:s3cret').toString('base64')}`);
    expect(authorization({ ...v1, token: 'abc' })).toBe('Token abc');
    expect(authorization({ ...v1, token: undefined })).toBeUndefined();
    expect(describeInflux('https://user:pw@influx.example:8086/x?token=1')).toBe('https://influx.example:8086/x');
  });

  test('influx write api - answers: 400/422 refused (with InfluxDB\'s message, 2.x and 1.x shapes), 413 too large, 401/403/404 misconfigured, 408/429/5xx unavailable with Retry-After', async () => {
    const cases: [number, string, Record<string, string>, unknown][] = [
      [400, '{"code":"invalid","message":"partial write: field type conflict"}', {}, { kind: 'refused', status: 400, message: 'partial write: field type conflict' }],
      [400, '{"error":"unable to parse \'x\': missing fields"}', {}, { kind: 'refused', status: 400, message: "unable to parse 'x': missing fields" }],
      [422, '{"code":"unprocessable entity","message":"points beyond retention"}', {}, { kind: 'refused', status: 422, message: 'points beyond retention' }],
      [413, 'too big', {}, { kind: 'too-large', status: 413, message: 'too big' }],
      [401, '{"code":"unauthorized","message":"unauthorized access"}', {}, { kind: 'misconfigured', status: 401, message: 'unauthorized access' }],
      [403, '{"error":"forbidden"}', {}, { kind: 'misconfigured', status: 403, message: 'forbidden' }],
      [404, '{"error":"database not found: \\"sensor_data\\""}', {}, { kind: 'misconfigured', status: 404, message: 'database not found: "sensor_data"' }],
      [503, '', { 'retry-after': '7' }, { kind: 'unavailable', status: 503, message: 'Service Unavailable', retryAfterMs: 7000 }],
      [429, 'slow down', { 'retry-after': '3600' }, { kind: 'unavailable', status: 429, message: 'slow down', retryAfterMs: 60_000 }],
      [500, 'boom', {}, { kind: 'unavailable', status: 500, message: 'boom' }],
      [408, '', {}, { kind: 'unavailable', status: 408, message: 'Request Timeout' }],
    ];
    for (const [status, body, headers, outcome] of cases) {
      const { f } = answering(status, body, headers);
      expect(await writeLines({ ...v2, fetch: f }, 'm f=1 1')).toEqual(outcome as never);
    }
  });

  test('influx write api - no answer within the timeout and network errors are unavailable, never thrown', async () => {
    const timeout = Object.assign(new Error('The operation timed out.'), { name: 'TimeoutError' });
    expect(await writeLines({ ...v2, fetch: answering(timeout).f }, 'm f=1 1')).toEqual({ kind: 'unavailable', message: 'no answer within 1000 ms' });
    const refused = Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } });
    expect(await writeLines({ ...v2, fetch: answering(refused).f }, 'm f=1 1')).toEqual({ kind: 'unavailable', message: 'ECONNREFUSED' });
  });
});
