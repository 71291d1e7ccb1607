import { exceedsMessageLimit, keepTail, messageTooLarge, trailingRequestId } from './message-limits.js';

describe('message limits', () => {
  it('counts UTF-8 bytes, of strings and buffers alike', () => {
    expect(exceedsMessageLimit('a'.repeat(10), 10)).toBe(false);
    expect(exceedsMessageLimit('a'.repeat(11), 10)).toBe(true);
    expect(exceedsMessageLimit('é'.repeat(5), 10)).toBe(false);
    expect(exceedsMessageLimit('é'.repeat(6), 10)).toBe(true);
    expect(exceedsMessageLimit('😀😀😀', 10)).toBe(true);
    expect(exceedsMessageLimit(Buffer.alloc(10), 10)).toBe(false);
    expect(exceedsMessageLimit(Buffer.alloc(11), 10)).toBe(true);
  });

  it('reads the request id from the end of a packet as Nest clients send it, and from nowhere else', () => {
    const packet = JSON.stringify({ pattern: 'auth.login', data: { password: 'x'.repeat(1000) }, id: 'c0ffee1234567890abcde' });
    expect(trailingRequestId(packet)).toBe('c0ffee1234567890abcde');
    expect(trailingRequestId('{ "pattern": "p", "id" : "r-1" }\n')).toBe('r-1');
    for (const other of [
      JSON.stringify({ id: 'first', pattern: 'p', data: {} }),
      JSON.stringify({ pattern: 'p', data: { id: 'nested' } }),
      JSON.stringify({ pattern: 'p', data: {}, id: 'has"quote' }),
      JSON.stringify({ pattern: 'p', data: {}, id: 'x'.repeat(129) }),
      JSON.stringify({ pattern: 'p', data: {}, id: 42 }),
      '{"pattern":"p","data":"…"id":"r-1"}',
    ]) {
      expect(trailingRequestId(other)).toBeUndefined();
    }
  });

  it('keeps enough of a message read piece by piece to find its id', () => {
    const packet = JSON.stringify({ pattern: 'p', data: 'y'.repeat(5000), id: 'r-2' });
    let tail = '';
    for (let i = 0; i < packet.length; i += 97) tail = keepTail(tail, packet.slice(i, i + 97));
    expect(tail.length).toBeLessThanOrEqual(256);
    expect(trailingRequestId(tail)).toBe('r-2');
  });

  it('answers with the contract body for an oversize request', () => {
    expect(messageTooLarge()).toEqual({ statusCode: 413, code: 'VALIDATION_FAILED', message: 'message too large' });
  });
});
