import { describe, expect, test } from 'bun:test';
import { clientFromForwardedFor, forwardedAddress } from '../../../../src/transports/client-address/forwarded-for.ts';
import { ClientAddress } from '../../../../src/transports/client-address/index.ts';
import { AddressSet } from '../../../../src/util/ip-address.ts';

const trusted = AddressSet.parse('10.0.0.0/8, fd00::/8');

describe('X-Forwarded-For', () => {
  test('x-forwarded-for - the right-most address that is not a trusted proxy is the client', () => {
    // nginx appended the client (203.0.113.9); what the client wrote before it is ignored
    expect(clientFromForwardedFor('10.0.0.2', '198.51.100.1, 203.0.113.9', trusted)).toBe('203.0.113.9');
    // two trusted proxies in a row are stepped over
    expect(clientFromForwardedFor('10.0.0.2', '1.1.1.1, 203.0.113.9, 10.0.0.7, fd00::3', trusted)).toBe('203.0.113.9');
    expect(clientFromForwardedFor('10.0.0.2', '2001:db8::7', trusted)).toBe('2001:db8::7');
  });
  test('x-forwarded-for - elements with ports, brackets, odd spacing and several header lines', () => {
    expect(clientFromForwardedFor('10.0.0.2', '[2001:DB8::7]:4711', trusted)).toBe('2001:db8::7');
    expect(clientFromForwardedFor('10.0.0.2', '203.0.113.9:4711', trusted)).toBe('203.0.113.9');
    expect(clientFromForwardedFor('10.0.0.2', '  203.0.113.9 ,, ', trusted)).toBe('203.0.113.9');
    // two header lines joined in order: the proxy's line is the later one
    expect(clientFromForwardedFor('10.0.0.2', '6.6.6.6,203.0.113.9', trusted)).toBe('203.0.113.9');
    expect(clientFromForwardedFor('10.0.0.2', '::ffff:203.0.113.9', trusted)).toBe('203.0.113.9');
  });
  test('x-forwarded-for - every element trusted: the left-most; none: the peer', () => {
    expect(clientFromForwardedFor('10.0.0.2', '10.0.0.5, 10.0.0.6', trusted)).toBe('10.0.0.5');
    expect(clientFromForwardedFor('10.0.0.2', '', trusted)).toBe('10.0.0.2');
    expect(clientFromForwardedFor('10.0.0.2', ' , ', trusted)).toBe('10.0.0.2');
  });
  test('x-forwarded-for - an element that is not an address stops the walk at the hop that wrote it', () => {
    expect(clientFromForwardedFor('10.0.0.2', '203.0.113.9, garbage', trusted)).toBe('10.0.0.2');
    expect(clientFromForwardedFor('10.0.0.2', 'garbage, 10.0.0.7', trusted)).toBe('10.0.0.7');
    // what lies left of the client is never read, valid or not
    expect(clientFromForwardedFor('10.0.0.2', 'garbage, 203.0.113.9', trusted)).toBe('203.0.113.9');
    for (const bad of ['unknown', '[::1', '[::1]x', '1.2.3.4:port', '1.2.3.4:123456', '_hidden', '1.2.3.4 5.6.7.8']) expect(forwardedAddress(bad)).toBeUndefined();
  });
  test('x-forwarded-for - from a peer that is not a trusted proxy the header is not even read', () => {
    const addresses = new ClientAddress(trusted);
    let read = 0;
    const claim = () => {
      read++;
      return '203.0.113.9';
    };
    expect(addresses.resolve('127.0.0.1', claim)).toBe('127.0.0.1');
    expect(read).toBe(0);
    expect(addresses.resolve('10.0.0.2', claim)).toBe('203.0.113.9');
    expect(read).toBe(1);
    // a trusted proxy that sent no header: the proxy itself
    expect(addresses.resolve('10.0.0.2', () => undefined)).toBe('10.0.0.2');
  });
  test('x-forwarded-for - TRUSTED_PROXIES unset: nobody is trusted, whatever address', () => {
    const addresses = new ClientAddress(AddressSet.parse(undefined));
    expect(addresses.resolve('10.0.0.2', () => '203.0.113.9')).toBe('10.0.0.2');
    expect(addresses.headerMode('10.0.0.2')).toBe('refused');
    expect(new ClientAddress(trusted, 'optional').headerMode('10.0.0.2')).toBe('optional');
    expect(new ClientAddress(trusted).headerMode('10.0.0.2')).toBe('required');
  });
});
