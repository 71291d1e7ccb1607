import { InFlightWork } from '../lifecycle/in-flight-work.js';
import { ClaimingRedisServer } from './claiming-redis.server.js';
import { MAX_MESSAGE_BYTES } from './message-limits.js';

/** The publishing connection, answering the claim (SET NX) when the test says so. */
function publisher(): { pub: never; claimAnswered: (reply: 'OK' | null) => void; published: Array<[string, string]> } {
  let answer: (reply: 'OK' | null) => void = () => undefined;
  const published: Array<[string, string]> = [];
  const pub = {
    set: () => new Promise<'OK' | null>((resolve) => (answer = resolve)),
    publish: (channel: string, message: string) => {
      published.push([channel, message]);
      return Promise.resolve(1);
    },
  };
  return { pub: pub as never, claimAnswered: (reply) => answer(reply), published };
}

describe('ClaimingRedisServer', () => {
  const request = JSON.stringify({ id: 'request-1', pattern: 'users.findById', data: { id: 'u1' } });

  it('counts a request as in flight while it is being claimed, so a shutdown beginning then waits for its reply', async () => {
    const work = new InFlightWork();
    const server = new ClaimingRedisServer({}, 'test', work);
    server.addHandler('users.findById', (data: unknown) => Promise.resolve({ found: data }));
    const { pub, claimAnswered, published } = publisher();

    const handled = server.handleMessage('users.findById', request, pub, 'users.findById');
    expect(work.describe()).toBe('1 Redis call');
    let idle = false;
    void work.idle().then(() => (idle = true));
    await new Promise((resolve) => setImmediate(resolve));
    expect(idle).toBe(false);

    claimAnswered('OK');
    await handled;
    await work.idle();
    expect(published).toHaveLength(1);
    expect(published[0][0]).toBe('users.findById.reply');
    expect(JSON.parse(published[0][1])).toMatchObject({ id: 'request-1', response: { found: { id: 'u1' } }, isDisposed: true });
  });

  it('counts nothing once another instance has won the claim', async () => {
    const work = new InFlightWork();
    const server = new ClaimingRedisServer({}, 'test', work);
    server.addHandler('users.findById', () => Promise.resolve({}));
    const { pub, claimAnswered, published } = publisher();

    const handled = server.handleMessage('users.findById', request, pub, 'users.findById');
    claimAnswered(null);
    await handled;
    expect(work.size).toBe(0);
    expect(published).toEqual([]);
  });

  it('drops a message over the size limit before parsing or claiming it, with one warning of its size', async () => {
    const work = new InFlightWork();
    const server = new ClaimingRedisServer({}, 'test', work);
    const handler = jest.fn(() => Promise.resolve({}));
    server.addHandler('users.findById', handler);
    const warn = jest
      .spyOn((server as unknown as { logger: { warn(line: string): void } }).logger, 'warn')
      .mockImplementation(() => undefined);
    const parse = jest.spyOn(JSON, 'parse');
    const set = jest.fn();
    const published: unknown[] = [];
    const pub = { set, publish: (...args: unknown[]) => published.push(args) } as never;
    const oversize = JSON.stringify({
      id: 'request-2',
      pattern: 'users.findById',
      data: { id: 'u1', pad: 'é'.repeat(MAX_MESSAGE_BYTES / 2) },
    });

    try {
      await server.handleMessage('users.findById', oversize, pub, 'users.findById');
      expect(parse).not.toHaveBeenCalled();
    } finally {
      parse.mockRestore();
    }
    expect(set).not.toHaveBeenCalled();
    expect(handler).not.toHaveBeenCalled();
    expect(published).toEqual([]);
    expect(work.size).toBe(0);
    expect(warn.mock.calls).toEqual([
      [`Redis message of ${Buffer.byteLength(oversize)} bytes on users.findById dropped unparsed (limit ${MAX_MESSAGE_BYTES} bytes)`],
    ]);
  });
});
