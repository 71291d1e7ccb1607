import { decodeCursor, encodeCursor, parseCursor } from './paging';

const id = '7f0c3a52-5d7e-4a8e-9a47-3f1f1c2b9d10';

describe('page cursors', () => {
  it.each(['2024-05-06T07:08:09.123Z', '2024-05-06T07:08:09.123456Z', '2024-05-06T07:08:09Z', '0001-01-01T00:00:00Z'])(
    'round-trips %s',
    (at) => {
      expect(parseCursor(encodeCursor(at, id))).toEqual({ at, id });
    },
  );

  it.each([
    ['not a cursor', 'abc'],
    ['a 13th month', encodeCursor('2024-13-01T00:00:00Z', id)],
    ['31 April', encodeCursor('2024-04-31T00:00:00Z', id)],
    ['hour 24', encodeCursor('2024-01-01T24:00:00Z', id)],
    ['a leap second', encodeCursor('2024-06-30T23:59:60Z', id)],
    ['year 0', encodeCursor('0000-01-01T00:00:00Z', id)],
    ['no zone', encodeCursor('2024-01-01T00:00:00', id)],
    ['hyphens for an id', encodeCursor('2024-01-01T00:00:00Z', '-'.repeat(36))],
    ['a third part', Buffer.from(`2024-01-01T00:00:00Z|${id}|x`).toString('base64url')],
    ['padding', `${encodeCursor('2024-01-01T00:00:00Z', id)}=`],
    ['characters base64url decoding skips', `*${encodeCursor('2024-01-01T00:00:00Z', id)}.`],
  ])('refuses %s', (_name, cursor) => {
    expect(parseCursor(cursor)).toBeUndefined();
    expect(() => decodeCursor(cursor)).toThrow('validation failed');
  });
});
