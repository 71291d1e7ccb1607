import { AuthClientModule, TokenVerifier, type AuthClientOptions, type Refusal } from '@gatehouse/client';
import type { ExecutionContext } from '@nestjs/common';
import { ClientProxy, ClientProxyFactory, Transport } from '@nestjs/microservices';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import { firstValueFrom } from 'rxjs';
import request from 'supertest';

import { startSiblingApp } from '../../examples/sibling-app/bootstrap';
import { signedInUser } from '../support/accounts';
import { CapturingLogger } from '../support/capturing-logger';
import { TEST_REDIS_URL } from '../support/services';
import { freePort, rpcFailure, startTestApp, type TestApp } from '../support/test-app';
import { b64url, decodeJwt, withTamperedSignature } from '../support/tokens';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const ACCESS_TTL = 2;

interface Sibling {
  app: NestFastifyApplication;
  http: () => ReturnType<typeof request>;
  call: <T>(pattern: string, payload: unknown) => Promise<T>;
  fail: (pattern: string, payload: unknown) => Promise<Record<string, unknown>>;
  rpc: ClientProxy;
}

describe('gatehouse/client options: optional auth, token sources, one message per reason, live details', () => {
  let g: TestApp;
  const siblings: Sibling[] = [];
  let offline: Sibling;
  let live: Sibling;
  let pushed: Sibling;
  const prefix = `gatehouse-test-client-options-${process.pid}`;

  async function sibling(auth: Partial<AuthClientOptions>): Promise<Sibling> {
    const ports = { http: await freePort(), tcp: await freePort() };
    const app = await startSiblingApp({ issuer: g.config.jwt.issuer, clockTolerance: 0, accessTokenTtl: ACCESS_TTL, ...auth }, ports);
    const rpc = ClientProxyFactory.create({ transport: Transport.TCP, options: { host: '127.0.0.1', port: ports.tcp } });
    await rpc.connect();
    const call = <T>(pattern: string, payload: unknown): Promise<T> => firstValueFrom(rpc.send<T>(pattern, payload));
    const s: Sibling = {
      app,
      rpc,
      call,
      http: () => request(`http://127.0.0.1:${ports.http}`),
      fail: (pattern, payload) => rpcFailure(call, pattern, payload),
    };
    siblings.push(s);
    return s;
  }
  const jwksUrl = (): string => `${g.baseUrl}/.well-known/jwks.json`;

  beforeAll(async () => {
    g = await startTestApp({ ACCESS_TOKEN_TTL: String(ACCESS_TTL), REDIS_PREFIX: prefix });
    offline = await sibling({ jwksUrl: jwksUrl() });
    // No jwksUrl: live mode asks gatehouse and never needs the key set.
    live = await sibling({ live: { transport: 'tcp', host: '127.0.0.1', port: g.config.rpc.port } });
    pushed = await sibling({ jwksUrl: jwksUrl(), revocations: { redisUrl: TEST_REDIS_URL, prefix } });
  });
  afterAll(async () => {
    for (const s of siblings) {
      await s.rpc.close();
      await s.app.close();
    }
    await g.close();
  });

  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
  const body = (statusCode: number, code: string, message: string) => ({ statusCode, code, message });
  const forge = withTamperedSignature;

  /** The answer over HTTP and over RPC, which must be the same body. */
  async function refusal(s: Sibling, token: string | undefined, path = '/orders', pattern = 'orders.list'): Promise<unknown> {
    const req = s.http().get(path);
    const res = await (token ? req.set(bearer(token)) : req);
    expect(await s.fail(pattern, token ? { accessToken: token } : {})).toEqual(res.body);
    return { status: res.status, body: res.body };
  }

  describe('one message per refusal reason, the same offline, live and with pushed revocations', () => {
    it("no token, a malformed, forged or other issuer's token, and a missing role", async () => {
      const { accessToken: token } = await signedInUser(g, 'options');
      const [h, p] = token.split('.');
      const wrongIssuer = `${h}.${b64url({ ...decodeJwt(token).payload, iss: 'https://elsewhere.example' })}.${token.split('.')[2]}`;
      for (const s of [offline, live, pushed]) {
        expect(await refusal(s, undefined)).toEqual({ status: 401, body: body(401, 'UNAUTHORIZED', 'authentication required') });
        expect(await refusal(s, 'garbage')).toEqual({ status: 401, body: body(401, 'UNAUTHORIZED', 'invalid access token') });
        expect(await refusal(s, `${h}.${p}`)).toEqual({ status: 401, body: body(401, 'UNAUTHORIZED', 'invalid access token') });
        expect(await refusal(s, forge(token))).toEqual({ status: 401, body: body(401, 'UNAUTHORIZED', 'invalid access token') });
        expect(await refusal(s, wrongIssuer)).toEqual({ status: 401, body: body(401, 'UNAUTHORIZED', 'invalid access token') });
        expect(await refusal(s, token, '/admin/report', 'orders.purge')).toEqual({
          status: 403,
          body: body(403, 'FORBIDDEN', 'insufficient role'),
        });
      }
    });

    it('a revoked session: "session revoked" live and pushed (offline trusts the token until it expires)', async () => {
      const { accessToken: token } = await signedInUser(g, 'options');
      for (const s of [offline, live, pushed]) await s.http().get('/orders').set(bearer(token)).expect(200);
      await g.http().post('/auth/logout').set(bearer(token)).expect(204);
      expect(await refusal(live, token)).toEqual({ status: 401, body: body(401, 'UNAUTHORIZED', 'session revoked') });
      for (let i = 0; i < 50 && (await pushed.http().get('/orders').set(bearer(token))).status !== 401; i += 1) await sleep(20);
      expect(await refusal(pushed, token)).toEqual({ status: 401, body: body(401, 'UNAUTHORIZED', 'session revoked') });
      await offline.http().get('/orders').set(bearer(token)).expect(200);
    });

    it('an expired token: "access token expired" in every mode', async () => {
      const { accessToken: token } = await signedInUser(g, 'options');
      await sleep(ACCESS_TTL * 1000 + 1100);
      for (const s of [offline, live, pushed]) {
        expect(await refusal(s, token)).toEqual({ status: 401, body: body(401, 'UNAUTHORIZED', 'access token expired') });
      }
    });

    it('gatehouse unreachable: 503 "gatehouse unreachable" offline (no key set) and live', async () => {
      const dead = await freePort();
      const { accessToken: token } = await signedInUser(g, 'options');
      const orphans = [
        await sibling({ jwksUrl: `http://127.0.0.1:${dead}/.well-known/jwks.json` }),
        await sibling({ live: { transport: 'tcp', host: '127.0.0.1', port: dead, timeoutMs: 2000 } }),
      ];
      for (const s of orphans) {
        expect(await refusal(s, token)).toEqual({ status: 503, body: body(503, 'SERVICE_UNAVAILABLE', 'gatehouse unreachable') });
      }
    });
  });

  it('@OptionalAuth(): the caller with a valid token, null without one, 401 for an invalid or revoked one', async () => {
    const { accessToken: token, id: userId } = await signedInUser(g, 'options');
    for (const s of [offline, live, pushed]) {
      expect((await s.http().get('/catalog').expect(200)).body).toEqual({ items: ['tea', 'coffee'], viewer: null });
      expect(await s.call('catalog.list', {})).toEqual({ items: ['tea', 'coffee'], viewer: null });
      expect((await s.http().get('/catalog').set(bearer(token)).expect(200)).body).toEqual({ items: ['tea', 'coffee'], viewer: userId });
      expect(await s.call('catalog.list', { accessToken: token })).toEqual({ items: ['tea', 'coffee'], viewer: userId });
      expect(
        (
          await s
            .http()
            .get('/catalog')
            .set(bearer(forge(token)))
            .expect(401)
        ).body,
      ).toEqual(body(401, 'UNAUTHORIZED', 'invalid access token'));
      expect(await s.fail('catalog.list', { accessToken: 'garbage' })).toEqual(body(401, 'UNAUTHORIZED', 'invalid access token'));
    }
    await g.http().post('/auth/logout').set(bearer(token)).expect(204);
    expect((await live.http().get('/catalog').set(bearer(token)).expect(401)).body).toEqual(body(401, 'UNAUTHORIZED', 'session revoked'));
  });

  it("live mode keeps the user's email and username; offline mode has neither", async () => {
    const { accessToken: token, id: userId, email, username } = await signedInUser(g, 'options');
    expect((await live.http().get('/me').set(bearer(token)).expect(200)).body).toEqual({ userId, email, username });
    expect((await offline.http().get('/me').set(bearer(token)).expect(200)).body).toEqual({ userId });
  });

  describe('tokenFrom', () => {
    it("'cookie': gatehouse's gh_access cookie, read from the Cookie header; writes need X-CSRF-Token = gh_csrf", async () => {
      const cookies = await sibling({ jwksUrl: jwksUrl(), tokenFrom: ['header', 'cookie'] });
      const { accessToken: token, id: userId } = await signedInUser(g, 'options');
      const cookie = `theme=dark; gh_access=${token}; gh_csrf=csrf-secret`;
      expect((await cookies.http().get('/orders').set('cookie', cookie).expect(200)).body).toEqual({ userId, orders: [] });
      await cookies.http().get('/orders').set(bearer(token)).expect(200);
      expect((await cookies.http().post('/orders').set('cookie', cookie).expect(403)).body).toMatchObject({
        code: 'FORBIDDEN',
        message: expect.stringContaining('CSRF'),
      });
      await cookies.http().post('/orders').set('cookie', cookie).set('x-csrf-token', 'another').expect(403);
      expect((await cookies.http().post('/orders').set('cookie', cookie).set('x-csrf-token', 'csrf-secret').expect(201)).body).toEqual({
        placedBy: userId,
      });
      // A bearer token needs no CSRF header: a browser cannot be made to send one.
      await cookies.http().post('/orders').set(bearer(token)).expect(201);
      // Message patterns keep the payload's accessToken.
      expect(await cookies.call('orders.list', { accessToken: token })).toEqual({ userId, orders: [] });
      // The default (header only) ignores the cookie.
      expect((await offline.http().get('/orders').set('cookie', cookie).expect(401)).body).toEqual(
        body(401, 'UNAUTHORIZED', 'authentication required'),
      );
    });

    it('a function of the ExecutionContext', async () => {
      const fromHeader = (context: ExecutionContext): string | undefined => {
        if (context.getType() !== 'http') return undefined;
        const value = context.switchToHttp().getRequest<{ headers: Record<string, unknown> }>().headers['x-gatehouse-token'];
        return typeof value === 'string' ? value : undefined;
      };
      const custom = await sibling({ jwksUrl: jwksUrl(), tokenFrom: fromHeader });
      const { accessToken: token, id: userId } = await signedInUser(g, 'options');
      expect((await custom.http().get('/orders').set('x-gatehouse-token', token).expect(200)).body).toEqual({ userId, orders: [] });
      await custom.http().get('/orders').set(bearer(token)).expect(401);
      expect(await custom.call('orders.list', { accessToken: token })).toEqual({ userId, orders: [] });
    });
  });

  describe('a mis-set issuer is found in minutes: refusals are counted by reason and logged at debug level', () => {
    it('counts and reports "issuer", with the expected and the actual issuer, over HTTP', async () => {
      const seen: Refusal[] = [];
      const misset = await sibling({ issuer: 'https://gatehouse.internal', jwksUrl: jwksUrl(), onRefusal: (r) => seen.push(r) });
      const { accessToken: token } = await signedInUser(g, 'options');
      await misset.http().get('/orders').set(bearer(token)).expect(401);
      await misset.fail('orders.list', { accessToken: token });
      await misset.http().get('/orders').expect(401);
      expect(misset.app.get(TokenVerifier).refusals()).toMatchObject({ issuer: 2, missing: 1, signature: 0, kid: 0 });
      expect(seen[0]).toEqual({
        reason: 'issuer',
        body: body(401, 'UNAUTHORIZED', 'invalid access token'),
        detail: `expected issuer "https://gatehouse.internal", the token has ${JSON.stringify(g.config.jwt.issuer)}`,
      });
    });

    it('logs the reason at debug level, never the token', async () => {
      const logger = new CapturingLogger();
      const moduleRef = await Test.createTestingModule({
        imports: [AuthClientModule.forRoot({ issuer: 'https://gatehouse.internal', jwksUrl: jwksUrl() })],
      })
        .setLogger(logger)
        .compile();
      await moduleRef.init();
      try {
        const { accessToken: token } = await signedInUser(g, 'options');
        await expect(moduleRef.get(TokenVerifier).verify(token)).rejects.toMatchObject({
          reason: 'issuer',
          body: { message: 'invalid access token' },
        });
        const lines = logger.lines.filter((line) => line.includes('refused (issuer)'));
        expect(lines).toEqual([
          `refused (issuer): expected issuer "https://gatehouse.internal", the token has ${JSON.stringify(g.config.jwt.issuer)} AuthClient`,
        ]);
        for (const line of logger.lines) expect(line).not.toContain(token.split('.')[2]);
      } finally {
        await moduleRef.close();
      }
    });
  });
});
