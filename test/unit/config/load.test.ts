import { describe, expect, test } from 'bun:test';
import { parseCommandLine } from '../../../src/cli/args.ts';
import { ConfigError, loadConfig, queueBackendOf } from '../../../src/config/load.ts';

describe('config', () => {
  test('config - defaults with an empty environment, frozen', () => {
    const c = loadConfig({});
    expect(c.PORT).toBe(3000);
    expect(c.METRICS_PORT).toBe(9090);
    expect(c.QUEUE_NAME).toBe('sensor-data');
    expect(queueBackendOf(c)).toBe('memory');
    expect(Object.isFrozen(c)).toBe(true);
  });
  test('config - env values are converted; flags win over env', () => {
    const c = loadConfig({ PORT: '4000', REDIS_HOST: 'redis' }, { PORT: '5000' });
    expect(c.PORT).toBe(5000);
    expect(queueBackendOf(c)).toBe('redis');
  });
  test('config - TRUSTED_PROXIES: unset trusts nobody; a list of addresses and ranges of both families; a bad entry is named', () => {
    expect(loadConfig({}).TRUSTED_PROXIES).toBeUndefined();
    expect(loadConfig({}).MQTT_PROXY_PROTOCOL).toBe('required');
    expect(loadConfig({ TRUSTED_PROXIES: '10.0.0.0/8, fd00::/8 192.0.2.7' }).TRUSTED_PROXIES).toBe('10.0.0.0/8, fd00::/8 192.0.2.7');
    expect(() => loadConfig({ TRUSTED_PROXIES: '10.0.0.0/8,nginx' })).toThrow('invalid configuration: TRUSTED_PROXIES: "nginx" is not an IP address or CIDR range');
    expect(() => loadConfig({ TRUSTED_PROXIES: '10.0.0.0/40' })).toThrow(ConfigError);
    expect(() => loadConfig({ MQTT_PROXY_PROTOCOL: 'sometimes' })).toThrow('MQTT_PROXY_PROTOCOL="sometimes" must be one of required|optional');
  });
  test('config - a bad value names the variable, the value and what is allowed', () => {
    expect(() => loadConfig({ PORT: 'abc' })).toThrow('invalid configuration: PORT="abc" must be an integer from 0 to 65535');
    expect(() => loadConfig({ LOG_LEVEL: 'loud' })).toThrow('LOG_LEVEL="loud" must be one of fatal|error|warn|info|debug|trace|silent');
    expect(() => loadConfig({}, { METRICS_PORT: '70000' })).toThrow('--metrics-port="70000"');
    expect(() => loadConfig({ REDIS_URL: 'http://x' })).toThrow(ConfigError);
  });
  test('config - secrets are not echoed', () => {
    expect(() => loadConfig({ REDIS_URL: 'nope://user:hunter2@x' })).toThrow('REDIS_URL=<redacted>');
  });
  test('config - contradictions are refused', () => {
    expect(() => loadConfig({ QUEUE_BACKEND: 'redis' })).toThrow('QUEUE_BACKEND=redis needs REDIS_URL, REDIS_HOST or REDIS_CLUSTER_NODES');
    expect(() => loadConfig({ ACK_DURABILITY: 'fsync' })).toThrow('ACK_DURABILITY=fsync needs Redis');
    expect(loadConfig({ ACK_DURABILITY: 'replicas', REDIS_URL: 'redis://x:1' }).ACK_REPLICAS).toBe(1);
    expect(() => loadConfig({ TLS_CERT_FILE: '/c.pem' })).toThrow('TLS_CERT_FILE and TLS_KEY_FILE must be set together');
    expect(() => loadConfig({ TLS_KEY_FILE: '/k.pem' })).toThrow('TLS_CERT_FILE and TLS_KEY_FILE must be set together');
    expect(loadConfig({ TLS_CERT_FILE: '/c.pem', TLS_KEY_FILE: '/k.pem' }).TLS_KEY_FILE).toBe('/k.pem');
  });
  test('args - flags map to settings, first positional is the command', () => {
    const a = parseCommandLine(['serve', '--port', '1234', '--redis-url=redis://h:1']);
    expect(a.command).toBe('serve');
    expect(a.settings).toEqual({ PORT: '1234', REDIS_URL: 'redis://h:1' });
    expect(() => parseCommandLine(['--nope'])).toThrow("Unknown option '--nope'");
  });
});
