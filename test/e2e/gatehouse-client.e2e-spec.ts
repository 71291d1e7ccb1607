import { GatehouseClient, GatehouseClientError, GatehouseClientModule, type GatehouseClientOptions } from '@gatehouse/client';
import { Injectable } from '@nestjs/common';
import { Test } from '@nestjs/testing';

import { signedInUser } from '../support/accounts';
import { TEST_REDIS_URL } from '../support/services';
import { freePort, startTestApp, type TestApp } from '../support/test-app';
import { withTamperedSignature } from '../support/tokens';

const UNKNOWN_ID = '00000000-0000-4000-8000-000000000000';

/** The error body a call rejected with (fails the test if it succeeded or threw something else). */
async function refusal(call: Promise<unknown>): Promise<Record<string, unknown>> {
  const error: unknown = await call.then(
    (reply) => new Error(`expected a refusal, got ${JSON.stringify(reply)}`),
    (e: unknown) => e,
  );
  if (!(error instanceof GatehouseClientError)) throw error;
  return { ...error.body };
}

describe('GatehouseClient against a real gatehouse', () => {
  let g: TestApp;
  const clients: GatehouseClient[] = [];

  async function client(options: GatehouseClientOptions): Promise<GatehouseClient> {
    const c = await GatehouseClient.connect(options);
    clients.push(c);
    return c;
  }

  beforeAll(async () => {
    g = await startTestApp();
  });
  afterAll(async () => {
    for (const c of clients) await c.close();
    await g.close();
  });

  const transports: Array<[string, () => GatehouseClientOptions]> = [
    ['TCP', () => ({ transport: 'tcp', host: '127.0.0.1', port: g.config.rpc.port })],
    ['Redis', () => ({ transport: 'redis', url: TEST_REDIS_URL })],
  ];

  describe.each(transports)('over %s', (_transport, options) => {
    let gatehouse: GatehouseClient;
    beforeAll(async () => {
      gatehouse = await client(options());
    });

    it('verify answers the caller of a live token, with its user', async () => {
      const { accessToken, sessionId, user } = await signedInUser(g, 'ghclient');
      const caller = await gatehouse.verify(accessToken);
      expect(caller).toEqual({
        userId: user.id,
        sessionId,
        roles: ['user'],
        isImpersonated: false,
        claims: expect.objectContaining({ sub: user.id, sid: sessionId, roles: ['user'], isImpersonated: false }),
        user,
      });
      expect(caller.user).toEqual({
        id: user.id,
        email: user.email,
        username: user.username,
        displayName: null,
        mfaEnabled: false,
        emailVerified: false,
        roles: ['user'],
        deactivated: false,
        createdAt: expect.any(String),
        updatedAt: expect.any(String),
      });
    });

    it("verify refuses a bad token with gatehouse's UNAUTHORIZED body", async () => {
      const { accessToken } = await signedInUser(g, 'ghclient');
      for (const token of ['garbage', withTamperedSignature(accessToken)]) {
        expect(await refusal(gatehouse.verify(token))).toEqual({ statusCode: 401, code: 'UNAUTHORIZED', message: expect.any(String) });
      }
    });

    it('findUserById answers the user, or null for an unknown id', async () => {
      const { user } = await signedInUser(g, 'ghclient');
      expect(await gatehouse.findUserById(user.id)).toEqual(user);
      expect(await gatehouse.findUserById(UNKNOWN_ID)).toBeNull();
    });

    it('findUserById refuses a malformed id with the validation body', async () => {
      expect(await refusal(gatehouse.findUserById('nope'))).toEqual({
        statusCode: 400,
        code: 'VALIDATION_FAILED',
        message: expect.any(String),
        errors: [{ field: 'id', messages: expect.any(Array) }],
      });
    });

    it('findUserByEmail answers the user for the normalised address, or null', async () => {
      const { user } = await signedInUser(g, 'ghclient');
      expect(await gatehouse.findUserByEmail(user.email.toUpperCase())).toEqual(user);
      expect(await gatehouse.findUserByEmail(`nobody-${Date.now()}@nowhere.example`)).toBeNull();
    });

    it('revokeSession ends the session at once; an ended or unknown session is NOT_FOUND', async () => {
      const { accessToken, sessionId } = await signedInUser(g, 'ghclient');
      expect(await gatehouse.revokeSession(sessionId)).toEqual({ revoked: true });
      expect(await refusal(gatehouse.verify(accessToken))).toMatchObject({ statusCode: 401, code: 'UNAUTHORIZED' });
      const NOT_FOUND = { statusCode: 404, code: 'NOT_FOUND', message: expect.any(String) };
      expect(await refusal(gatehouse.revokeSession(sessionId))).toEqual(NOT_FOUND);
      expect(await refusal(gatehouse.revokeSession(UNKNOWN_ID))).toEqual(NOT_FOUND);
    });
  });

  describe('when gatehouse cannot answer', () => {
    const UNAVAILABLE = { statusCode: 503, code: 'SERVICE_UNAVAILABLE', message: expect.any(String) };
    const TIMEOUT_MS = 1000;

    async function timedRefusal(options: GatehouseClientOptions): Promise<{ body: Record<string, unknown>; ms: number }> {
      const c = await client({ ...options, timeoutMs: TIMEOUT_MS });
      const started = Date.now();
      const body = await refusal(c.findUserById(UNKNOWN_ID));
      return { body, ms: Date.now() - started };
    }

    it('answers SERVICE_UNAVAILABLE within the timeout for an unreachable TCP port, and again on the next call', async () => {
      const port = await freePort();
      const c = await client({ transport: 'tcp', host: '127.0.0.1', port, timeoutMs: TIMEOUT_MS });
      for (let i = 0; i < 2; i += 1) {
        const started = Date.now();
        expect(await refusal(c.verify('t'))).toEqual(UNAVAILABLE);
        expect(Date.now() - started).toBeLessThan(TIMEOUT_MS + 500);
      }
    });

    it('answers SERVICE_UNAVAILABLE within the timeout for an unreachable Redis', async () => {
      const { body, ms } = await timedRefusal({ transport: 'redis', url: `redis://127.0.0.1:${await freePort()}` });
      expect(body).toEqual(UNAVAILABLE);
      expect(ms).toBeLessThan(TIMEOUT_MS + 500);
    });

    it('answers SERVICE_UNAVAILABLE when Redis is up but no gatehouse listens on the prefixed channel', async () => {
      const { body, ms } = await timedRefusal({ transport: 'redis', url: TEST_REDIS_URL, prefix: `nobody-${process.pid}-${Date.now()}` });
      expect(body).toEqual({ ...UNAVAILABLE, message: `gatehouse did not answer users.findById within ${TIMEOUT_MS} ms` });
      expect(ms).toBeGreaterThanOrEqual(TIMEOUT_MS - 50);
      expect(ms).toBeLessThan(TIMEOUT_MS + 500);
    });
  });

  describe('GatehouseClientModule', () => {
    @Injectable()
    class AccountsService {
      constructor(readonly gatehouse: GatehouseClient) {}
    }

    it('injects a connected client into a sibling app and closes it on shutdown', async () => {
      const moduleRef = await Test.createTestingModule({
        imports: [
          GatehouseClientModule.forRootAsync({
            useFactory: () => ({ transport: 'tcp' as const, host: '127.0.0.1', port: g.config.rpc.port }),
          }),
        ],
        providers: [AccountsService],
      }).compile();
      await moduleRef.init();
      const { gatehouse } = moduleRef.get(AccountsService);
      const { accessToken, user } = await signedInUser(g, 'ghclient');
      expect(await gatehouse.verify(accessToken)).toMatchObject({ userId: user.id });
      await moduleRef.close();
      expect(await refusal(gatehouse.verify(accessToken))).toEqual({
        statusCode: 503,
        code: 'SERVICE_UNAVAILABLE',
        message: 'gatehouse client is closed',
      });
    });
  });
});
