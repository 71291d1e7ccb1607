import { createHmac, createPublicKey } from 'node:crypto';
import { AuthClientModule, TokenVerifier, type AuthClientOptions } from '@gatehouse/client';
import { ClientProxy, ClientProxyFactory, Transport } from '@nestjs/microservices';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import { firstValueFrom } from 'rxjs';
import request from 'supertest';

import { startSiblingApp } from '../../examples/sibling-app/bootstrap';
import { runKeysCommand } from '../../src/cli/keys';
import { signedInUser, signIn } from '../support/accounts';
import { TEST_REDIS_URL } from '../support/services';
import { freePort, startTestApp, TestApp, testDatabaseUrl } from '../support/test-app';
import { b64url, decodeJwt, withTamperedSignature } from '../support/tokens';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const ACCESS_TTL = 2;

interface Sibling {
  app: NestFastifyApplication;
  http: () => ReturnType<typeof request>;
  rpc: ClientProxy;
  call: <T>(pattern: string, payload: unknown) => Promise<T>;
  fail: (pattern: string, payload: unknown) => Promise<Record<string, unknown>>;
}

describe('gatehouse/client: a sibling app protected over HTTP and RPC', () => {
  let g: TestApp;
  const siblings: Sibling[] = [];
  let offline: Sibling;
  let live: Sibling;
  let pushed: Sibling;
  let liveRedis: Sibling;
  const prefix = `gatehouse-test-client-${process.pid}`;
  const admin = { email: `client-admin-${process.pid}-${Date.now()}@example.com`, password: 'admin password of good length' };

  async function sibling(extra: Partial<AuthClientOptions> = {}): Promise<Sibling> {
    const ports = { http: await freePort(), tcp: await freePort() };
    const app = await startSiblingApp(
      {
        issuer: 'http://localhost:3000',
        jwksUrl: `${g.baseUrl}/.well-known/jwks.json`,
        clockTolerance: 0,
        accessTokenTtl: ACCESS_TTL,
        ...extra,
      },
      ports,
    );
    const rpc = ClientProxyFactory.create({ transport: Transport.TCP, options: { host: '127.0.0.1', port: ports.tcp } });
    await rpc.connect();
    const call = <T>(pattern: string, payload: unknown): Promise<T> => firstValueFrom(rpc.send<T>(pattern, payload));
    const s: Sibling = {
      app,
      rpc,
      call,
      http: () => request(`http://127.0.0.1:${ports.http}`),
      fail: async (pattern, payload) => {
        try {
          const reply = await call(pattern, payload);
          throw new Error(`expected a refusal, got ${JSON.stringify(reply)}`);
        } catch (error) {
          if (error instanceof Error) throw error;
          return error as Record<string, unknown>;
        }
      },
    };
    siblings.push(s);
    return s;
  }

  beforeAll(async () => {
    g = await startTestApp({
      ACCESS_TOKEN_TTL: String(ACCESS_TTL),
      REDIS_PREFIX: prefix,
      BOOTSTRAP_ADMIN_EMAIL: admin.email,
      BOOTSTRAP_ADMIN_PASSWORD: admin.password,
    });
    offline = await sibling({ jwksCacheSeconds: 1 });
    live = await sibling({ live: { transport: 'tcp', host: '127.0.0.1', port: g.config.rpc.port } });
    pushed = await sibling({ revocations: { redisUrl: TEST_REDIS_URL, prefix } });
    liveRedis = await sibling({ live: { transport: 'redis', url: TEST_REDIS_URL } });
  });
  afterAll(async () => {
    for (const s of siblings) {
      await s.rpc.close();
      await s.app.close();
    }
    await g.close();
  });

  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
  const UNAUTHORIZED = { statusCode: 401, code: 'UNAUTHORIZED', message: expect.any(String) };

  it('accepts a valid token over HTTP and RPC and hands the caller to the handler', async () => {
    const { accessToken: token, id: userId } = await signedInUser(g, 'sibling');
    for (const s of [offline, live, pushed]) {
      expect((await s.http().get('/orders').set(bearer(token)).expect(200)).body).toEqual({ userId, orders: [] });
      expect(await s.call('orders.list', { accessToken: token })).toEqual({ userId, orders: [] });
    }
    await offline.http().get('/health').expect(200);
  });

  it("refuses missing, malformed, tampered and forged tokens with gatehouse's error body, over both transports", async () => {
    const { accessToken: token } = await signedInUser(g, 'sibling');
    const { header, payload } = decodeJwt(token);
    const [h, p, sig] = token.split('.');
    const candidates = [
      undefined,
      'garbage',
      `${h}.${b64url({ ...payload, roles: ['admin'] })}.${sig}`,
      withTamperedSignature(token),
      `${b64url({ ...header, alg: 'none' })}.${p}.`,
      await (async () => {
        const jwks = await g.http().get('/.well-known/jwks.json');
        const jwk = jwks.body.keys.find((k: { kid: string }) => k.kid === header.kid);
        const pem = createPublicKey({ key: jwk, format: 'jwk' }).export({ type: 'spki', format: 'pem' });
        const input = `${b64url({ ...header, alg: 'HS256' })}.${p}`;
        return `${input}.${createHmac('sha256', pem).update(input).digest('base64url')}`;
      })(),
      `${b64url({ ...header, typ: 'JWT' })}.${p}.${sig}`,
    ];
    for (const candidate of candidates) {
      const req = offline.http().get('/orders');
      const res = await (candidate ? req.set(bearer(candidate)) : req).expect(401);
      expect(res.body).toEqual(UNAUTHORIZED);
      expect(await offline.fail('orders.list', candidate ? { accessToken: candidate } : {})).toEqual(UNAUTHORIZED);
    }
  });

  it('enforces roles over HTTP and RPC', async () => {
    const member = await signedInUser(g, 'sibling');
    const boss = await signIn(g, admin);
    const forbidden = await offline.http().get('/admin/report').set(bearer(member.accessToken)).expect(403);
    expect(forbidden.body).toEqual({ statusCode: 403, code: 'FORBIDDEN', message: expect.any(String) });
    expect(await offline.fail('orders.purge', { accessToken: member.accessToken })).toMatchObject({ statusCode: 403, code: 'FORBIDDEN' });
    expect((await offline.http().get('/admin/report').set(bearer(boss.accessToken)).expect(200)).body).toEqual({ reportBy: boss.id });
    expect(await offline.call('orders.purge', { accessToken: boss.accessToken })).toEqual({ purgedBy: boss.id });
  });

  it('after logout: refused at once in live mode, within milliseconds with pushed revocations, and offline once the token expires', async () => {
    const { accessToken: token } = await signedInUser(g, 'sibling');
    for (const s of [offline, live, pushed]) await s.http().get('/orders').set(bearer(token)).expect(200);
    await liveRedis.http().get('/orders').set(bearer(token)).expect(200);
    await g.http().post('/auth/logout').set(bearer(token)).expect(204);
    expect((await live.http().get('/orders').set(bearer(token)).expect(401)).body).toEqual(UNAUTHORIZED);
    expect((await liveRedis.http().get('/orders').set(bearer(token)).expect(401)).body).toEqual(UNAUTHORIZED);
    expect(await live.fail('orders.list', { accessToken: token })).toEqual(UNAUTHORIZED);
    let refused = false;
    for (let i = 0; i < 50 && !refused; i += 1) {
      refused = (await pushed.http().get('/orders').set(bearer(token))).status === 401;
      if (!refused) await sleep(20);
    }
    expect(refused).toBe(true);
    expect(await pushed.fail('orders.list', { accessToken: token })).toEqual(UNAUTHORIZED);
    // Offline mode trusts the token until it expires: that is its documented trade-off.
    await offline.http().get('/orders').set(bearer(token)).expect(200);
    await sleep(ACCESS_TTL * 1000 + 200);
    expect((await offline.http().get('/orders').set(bearer(token)).expect(401)).body.message).toBe('access token expired');
  });

  it('picks up a signing-key rotation without restarting the sibling, and drops a retired key', async () => {
    // Default leeway (30 s) here, so the 2-second test tokens stay valid: every refusal below is the key's.
    const rotating = await sibling({ jwksCacheSeconds: 1, clockTolerance: 30 });
    const before = await signedInUser(g, 'sibling');
    await rotating.http().get('/orders').set(bearer(before.accessToken)).expect(200);
    await runKeysCommand(['rotate'], { DATABASE_URL: testDatabaseUrl(), NODE_ENV: 'test' });
    const oldKid = decodeJwt(before.accessToken).header.kid as string;
    let after = await signedInUser(g, 'sibling');
    for (let i = 0; i < 50 && decodeJwt(after.accessToken).header.kid === oldKid; i += 1) {
      await sleep(20);
      after = await signedInUser(g, 'sibling');
    }
    expect(decodeJwt(after.accessToken).header.kid).not.toBe(oldKid);
    await sleep(1100); // past the sibling's refetch throttle
    await rotating.http().get('/orders').set(bearer(after.accessToken)).expect(200);
    expect(await rotating.call('orders.list', { accessToken: after.accessToken })).toEqual({ userId: after.id, orders: [] });
    await rotating.http().get('/orders').set(bearer(before.accessToken)).expect(200);
    // Retiring the old key: the sibling refuses its tokens once its JWKS cache (1 s here) has passed.
    await runKeysCommand(['retire', '--kid', oldKid], { DATABASE_URL: testDatabaseUrl(), NODE_ENV: 'test' });
    let refused = false;
    for (let i = 0; i < 100 && !refused; i += 1) {
      refused = (await rotating.http().get('/orders').set(bearer(before.accessToken))).status === 401;
      if (!refused) await sleep(50);
    }
    expect(refused).toBe(true);
    await rotating.http().get('/orders').set(bearer(after.accessToken)).expect(200);
  });

  it('starts with gatehouse and Redis unreachable, and answers 503 (not 401) while it has no keys', async () => {
    const dead = await freePort();
    const orphan = await sibling({
      jwksUrl: `http://127.0.0.1:${dead}/.well-known/jwks.json`,
      revocations: { redisUrl: `redis://127.0.0.1:${dead}`, prefix },
    });
    const { accessToken: token } = await signedInUser(g, 'sibling');
    const res = await orphan.http().get('/orders').set(bearer(token)).expect(503);
    expect(res.body).toEqual({ statusCode: 503, code: 'SERVICE_UNAVAILABLE', message: expect.any(String) });
    await orphan.http().get('/health').expect(200);
  });

  it('is configured the same through forRootAsync', async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [
        AuthClientModule.forRootAsync({
          useFactory: () => ({ issuer: 'http://localhost:3000', jwksUrl: `${g.baseUrl}/.well-known/jwks.json` }),
        }),
      ],
    }).compile();
    await moduleRef.init();
    try {
      const { accessToken: token, id: userId } = await signedInUser(g, 'sibling');
      const user = await moduleRef.get(TokenVerifier).verify(token);
      expect(user).toMatchObject({ userId, roles: ['user'], isImpersonated: false, impersonatorId: null });
      await expect(moduleRef.get(TokenVerifier).verify('nope')).rejects.toMatchObject({ body: UNAUTHORIZED });
    } finally {
      await moduleRef.close();
    }
  });
});
