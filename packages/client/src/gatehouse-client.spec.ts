import { Injectable } from '@nestjs/common';
import { ClientProxyFactory, Transport } from '@nestjs/microservices';
import { Test } from '@nestjs/testing';
import { NEVER, of, throwError, type Observable } from 'rxjs';

import { GatehouseClient, GatehouseClientError, type GatehouseClientOptions } from './gatehouse-client.js';
import { GatehouseClientModule } from './gatehouse-client.module.js';

/** A ClientProxy that records what is sent and answers what the test says. */
function fakeProxy(answer: (pattern: string) => Observable<unknown> = () => of({ revoked: true })) {
  const proxy = {
    sent: [] as Array<{ pattern: string; payload: unknown }>,
    connect: jest.fn(() => Promise.resolve()),
    close: jest.fn(() => Promise.resolve()),
    send: jest.fn((pattern: string, payload: unknown) => {
      proxy.sent.push({ pattern, payload });
      return answer(pattern);
    }),
  };
  return proxy;
}

const REDIS: GatehouseClientOptions = { transport: 'redis', url: 'redis://127.0.0.1:6379/2' };
const TCP: GatehouseClientOptions = { transport: 'tcp', host: '127.0.0.1', port: 4000 };

describe('GatehouseClient', () => {
  let proxy: ReturnType<typeof fakeProxy>;
  let create: jest.SpyInstance;

  function useProxy(p: ReturnType<typeof fakeProxy>): void {
    proxy = p;
    create.mockReturnValue(p);
  }

  beforeEach(() => {
    create = jest.spyOn(ClientProxyFactory, 'create');
    useProxy(fakeProxy());
  });
  afterEach(() => create.mockRestore());

  describe('pattern names', () => {
    it("sends gatehouse's own pattern names with their payloads", async () => {
      const client = await GatehouseClient.connect(REDIS);
      await client.verify('a.b.c');
      await client.findUserById('u-1');
      await client.findUserByEmail('a@example.com');
      await client.revokeSession('s-1');
      expect(proxy.sent).toEqual([
        { pattern: 'auth.verify', payload: { accessToken: 'a.b.c' } },
        { pattern: 'users.findById', payload: { id: 'u-1' } },
        { pattern: 'users.findByEmail', payload: { email: 'a@example.com' } },
        { pattern: 'sessions.revoke', payload: { sessionId: 's-1' } },
      ]);
    });

    it("puts the Redis prefix (gatehouse's REDIS_PATTERN_PREFIX) before every pattern", async () => {
      const client = await GatehouseClient.connect({ ...REDIS, prefix: 'blue' });
      await client.verify('a.b.c');
      await client.findUserById('u-1');
      await client.findUserByEmail('a@example.com');
      await client.revokeSession('s-1');
      await client.send('sessions.list', { userId: 'u-1' });
      expect(proxy.sent.map((s) => s.pattern)).toEqual([
        'blue.auth.verify',
        'blue.users.findById',
        'blue.users.findByEmail',
        'blue.sessions.revoke',
        'blue.sessions.list',
      ]);
    });

    it("takes an empty prefix as none (gatehouse's default)", async () => {
      await (await GatehouseClient.connect({ ...REDIS, prefix: '' })).verify('t');
      expect(proxy.sent[0]?.pattern).toBe('auth.verify');
    });

    it("refuses a prefix over TCP, where gatehouse's patterns have none", async () => {
      await expect(GatehouseClient.connect({ ...TCP, prefix: 'blue' } as unknown as GatehouseClientOptions)).rejects.toThrow(
        /Redis transport only/,
      );
    });
  });

  describe('connection options', () => {
    it('builds the TCP options, with TLS when given', async () => {
      await GatehouseClient.connect(TCP);
      await GatehouseClient.connect({ ...TCP, tls: { ca: 'CA PEM', servername: 'gatehouse.internal' } });
      expect(create.mock.calls).toEqual([
        [{ transport: Transport.TCP, options: { host: '127.0.0.1', port: 4000 } }],
        [
          {
            transport: Transport.TCP,
            options: { host: '127.0.0.1', port: 4000, tlsOptions: { ca: 'CA PEM', servername: 'gatehouse.internal' } },
          },
        ],
      ]);
    });

    it('builds the Redis options from the URL', async () => {
      await GatehouseClient.connect({ transport: 'redis', url: 'rediss://app:pw@cache.internal:6380/3', tls: { ca: 'CA PEM' } });
      expect(create).toHaveBeenCalledWith({
        transport: Transport.REDIS,
        options: { host: 'cache.internal', port: 6380, db: 3, username: 'app', password: 'pw', tls: { ca: 'CA PEM' } },
      });
    });

    it.each([
      ['a bad Redis URL', { transport: 'redis', url: 'redis://:hunter2@h/x' }, /database index/],
      ['an unknown transport', { transport: 'http', host: 'h', port: 1 }, /transport must be 'tcp' or 'redis'/],
      ['a zero timeout', { ...TCP, timeoutMs: 0 }, /timeoutMs/],
    ])('refuses %s at once', async (_case, options, message) => {
      let error: Error | undefined;
      await GatehouseClient.connect(options as GatehouseClientOptions).catch((e: Error) => (error = e));
      expect(error?.message).toMatch(message);
      expect(error?.message).not.toContain('hunter2');
    });

    it('resolves while gatehouse is unreachable: each call tries again', async () => {
      useProxy({ ...fakeProxy(), connect: jest.fn(() => Promise.reject(new Error('connect ECONNREFUSED'))) });
      const client = await GatehouseClient.connect(TCP);
      await expect(client.revokeSession('s-1')).resolves.toEqual({ revoked: true });
    });
  });

  describe('errors', () => {
    const rejection = async (
      answer: () => Observable<unknown>,
      options: Partial<GatehouseClientOptions> = {},
    ): Promise<GatehouseClientError> => {
      useProxy(fakeProxy(answer));
      const client = await GatehouseClient.connect({ ...TCP, ...options } as GatehouseClientOptions);
      const error: unknown = await client.verify('t').then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(GatehouseClientError);
      return error as GatehouseClientError;
    };
    const UNAVAILABLE = { statusCode: 503, code: 'SERVICE_UNAVAILABLE', message: expect.any(String) };

    it("carries gatehouse's error body, validation details included", async () => {
      const body = {
        statusCode: 400,
        code: 'VALIDATION_FAILED',
        message: 'validation failed',
        errors: [{ field: 'accessToken', messages: ['required'] }],
      };
      const error = await rejection(() => throwError(() => body));
      expect(error.body).toEqual(body);
      expect(error.message).toBe('validation failed');
      expect(error.name).toBe('GatehouseClientError');
    });

    it('answers 503 for a lost connection, with the cause kept', async () => {
      const cause = new Error('Connection closed');
      const error = await rejection(() => throwError(() => cause));
      expect(error.body).toEqual(UNAVAILABLE);
      expect(error.cause).toBe(cause);
    });

    it("answers 503 for a reply without gatehouse's error shape", async () => {
      expect((await rejection(() => throwError(() => ({ status: 'error', message: 'Internal server error' })))).body).toEqual(UNAVAILABLE);
    });

    it('answers 503 once the timeout passes', async () => {
      const started = Date.now();
      const error = await rejection(() => NEVER, { timeoutMs: 50 });
      expect(error.body).toEqual({ ...UNAVAILABLE, message: 'gatehouse did not answer auth.verify within 50 ms' });
      expect(Date.now() - started).toBeLessThan(1000);
    });

    it('answers 503 after close, without reconnecting', async () => {
      const client = await GatehouseClient.connect(TCP);
      await client.close();
      await client.close();
      await expect(client.verify('t')).rejects.toMatchObject({ body: UNAVAILABLE });
      expect(proxy.close).toHaveBeenCalledTimes(1);
      expect(proxy.send).not.toHaveBeenCalled();
    });
  });

  describe('GatehouseClientModule', () => {
    @Injectable()
    class Consumer {
      constructor(readonly gatehouse: GatehouseClient) {}
    }

    it.each([
      ['forRoot', GatehouseClientModule.forRoot({ ...REDIS, prefix: 'green' })],
      ['forRootAsync', GatehouseClientModule.forRootAsync({ useFactory: () => Promise.resolve({ ...REDIS, prefix: 'green' }) })],
    ])('%s provides the client to the app and closes it on shutdown', async (_how, module) => {
      const moduleRef = await Test.createTestingModule({ imports: [module], providers: [Consumer] }).compile();
      await moduleRef.init();
      const { gatehouse } = moduleRef.get(Consumer);
      expect(gatehouse).toBeInstanceOf(GatehouseClient);
      await gatehouse.revokeSession('s-1');
      expect(proxy.sent[0]?.pattern).toBe('green.sessions.revoke');
      await moduleRef.close();
      expect(proxy.close).toHaveBeenCalledTimes(1);
    });
  });
});
