import { normalizeIp } from './connection';

describe('normalizeIp', () => {
  it('stores IPv4-mapped IPv6 addresses as plain IPv4', () => {
    expect(normalizeIp('::ffff:127.0.0.1')).toBe('127.0.0.1');
    expect(normalizeIp('::1')).toBe('::1');
    expect(normalizeIp('2001:db8::1')).toBe('2001:db8::1');
    expect(normalizeIp(undefined)).toBeNull();
    expect(normalizeIp('')).toBeNull();
  });
});
