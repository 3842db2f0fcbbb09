import { describe, expect, test } from 'bun:test';
import { AddressSet, normalizeAddress } from '../../src/util/ip-address.ts';

describe('ip-address', () => {
  test('ip-address - one spelling per address: IPv4 as is, IPv4-mapped IPv6 as IPv4, IPv6 in RFC 5952 form without zone', () => {
    expect(normalizeAddress('127.0.0.1')).toBe('127.0.0.1');
    expect(normalizeAddress('::ffff:127.0.0.1')).toBe('127.0.0.1');
    // uWebSockets.js writes IPv6 in full
    expect(normalizeAddress('0000:0000:0000:0000:0000:ffff:7f00:0001')).toBe('127.0.0.1');
    expect(normalizeAddress('2001:DB8:0:0:0:0:0:1')).toBe('2001:db8::1');
    expect(normalizeAddress('fe80::1%eth0')).toBe('fe80::1');
    expect(normalizeAddress('::1')).toBe('::1');
  });
  test('ip-address - anything else is not an address', () => {
    for (const bad of ['', 'localhost', '127.0.0.01', '1.2.3', '1.2.3.4.5', '256.1.1.1', '::g', '1.2.3.4:80', '[::1]', 'unknown']) expect(normalizeAddress(bad)).toBeUndefined();
  });
  test('ip-address - a set of addresses and CIDR ranges of both families', () => {
    const set = AddressSet.parse(' 10.0.0.0/8, 192.0.2.7 fd00::/8,::1 ');
    expect(set.entries).toEqual(['10.0.0.0/8', '192.0.2.7', 'fd00::/8', '::1']);
    expect(set.empty).toBe(false);
    for (const a of ['10.1.2.3', '192.0.2.7', 'fd12::5', '::1']) expect(set.has(a)).toBe(true);
    for (const a of ['11.0.0.1', '192.0.2.8', 'fe00::1', '::2', '', 'garbage']) expect(set.has(a)).toBe(false);
  });
  test('ip-address - unset or empty: an empty set that trusts nobody', () => {
    for (const text of [undefined, '', ' , ']) {
      const set = AddressSet.parse(text);
      expect(set.empty).toBe(true);
      expect(set.has('127.0.0.1')).toBe(false);
    }
  });
  test('ip-address - a bad entry is refused, naming it', () => {
    expect(() => AddressSet.parse('10.0.0.0/8,nginx')).toThrow('"nginx" is not an IP address or CIDR range');
    expect(() => AddressSet.parse('10.0.0.0/33')).toThrow('"10.0.0.0/33": the prefix length must be 0 to 32');
    expect(() => AddressSet.parse('fd00::/129')).toThrow('0 to 128');
    expect(() => AddressSet.parse('10.0.0.0/08')).toThrow('prefix length');
    expect(() => AddressSet.parse('10.0.0.0/')).toThrow('prefix length');
    expect(() => AddressSet.parse('fe80::1%eth0')).toThrow('not an IP address');
  });
});
