import { createPublicKey } from 'node:crypto';
import { Socket } from 'node:net';
import { Controller, Get, UseGuards } from '@nestjs/common';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';

import { AuthClientModule } from './auth-client.module.js';
import { AuthGuard } from './auth.guard.js';
import type { AuthClientOptions, AuthenticatedUser } from './client-options.js';
import { CurrentUser, RequireAal, RequireRecentAuth, Roles } from './decorators.js';
import { createTestIssuer, type TestIssuer } from './testing.js';
import { TokenVerifier } from './token-verifier.js';

@Controller()
@UseGuards(AuthGuard)
class OrdersController {
  @Get('orders')
  list(@CurrentUser() user: AuthenticatedUser): { userId: string; roles: string[] } {
    return { userId: user.userId, roles: user.roles };
  }

  @Roles('admin')
  @Get('admin/report')
  report(@CurrentUser() user: AuthenticatedUser): { reportBy: string } {
    return { reportBy: user.userId };
  }

  @RequireAal(2)
  @RequireRecentAuth(300)
  @Get('payouts')
  payouts(@CurrentUser() user: AuthenticatedUser): { userId: string; amr: string[] } {
    return { userId: user.userId, amr: user.amr };
  }
}

const decode = (token: string): { header: Record<string, unknown>; payload: Record<string, unknown> } => {
  const [header, payload] = token
    .split('.')
    .slice(0, 2)
    .map((part) => JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as Record<string, unknown>);
  return { header, payload };
};

describe("@gatehouse/client/testing: a sibling app's tests without gatehouse", () => {
  const ISSUER = 'https://gatehouse.example';
  let gh: TestIssuer;
  let app: NestFastifyApplication;
  const fetched: string[] = [];
  let fetchSpy: jest.SpyInstance;
  let connectSpy: jest.SpyInstance;

  async function siblingApp(auth: AuthClientOptions | (() => AuthClientOptions)): Promise<NestFastifyApplication> {
    const moduleRef = await Test.createTestingModule({
      imports: [typeof auth === 'function' ? AuthClientModule.forRootAsync({ useFactory: auth }) : AuthClientModule.forRoot(auth)],
      controllers: [OrdersController],
    }).compile();
    // Fastify's inject: requests without a listening socket.
    const sibling = moduleRef.createNestApplication<NestFastifyApplication>(new FastifyAdapter(), { logger: false });
    await sibling.init();
    await sibling.getHttpAdapter().getInstance().ready();
    return sibling;
  }

  const get = async (target: NestFastifyApplication, url: string, token?: string): Promise<{ status: number; body: unknown }> => {
    const res = await target.inject({ method: 'GET', url, headers: token ? { authorization: `Bearer ${token}` } : {} });
    return { status: res.statusCode, body: res.json() };
  };

  beforeAll(async () => {
    const realFetch = globalThis.fetch;
    fetchSpy = jest.spyOn(globalThis, 'fetch').mockImplementation((input, init) => {
      fetched.push(input instanceof Request ? input.url : String(input));
      return realFetch(input, init);
    });
    connectSpy = jest.spyOn(Socket.prototype, 'connect');
    gh = await createTestIssuer({ issuer: ISSUER });
    app = await siblingApp(gh.clientOptions());
  });
  afterAll(async () => {
    await app.close();
    fetchSpy.mockRestore();
    connectSpy.mockRestore();
  });

  it('has its tokens accepted by the guard, and the caller handed to the handler', async () => {
    const token = gh.token({ sub: 'user-1', roles: ['user', 'buyer'] });
    expect(await get(app, '/orders', token)).toEqual({ status: 200, body: { userId: 'user-1', roles: ['user', 'buyer'] } });
  });

  it('has an expired token refused', async () => {
    const expired = gh.token({ sub: 'user-1', expiresIn: -60 });
    expect(await get(app, '/orders', expired)).toEqual({
      status: 401,
      body: { statusCode: 401, code: 'UNAUTHORIZED', message: 'access token expired' },
    });
  });

  it('has a token without the required role refused, and one with it accepted', async () => {
    expect(await get(app, '/admin/report', gh.token({ sub: 'user-1' }))).toEqual({
      status: 403,
      body: { statusCode: 403, code: 'FORBIDDEN', message: expect.any(String) },
    });
    expect(await get(app, '/admin/report', gh.token({ sub: 'admin-1', roles: ['admin'] }))).toEqual({
      status: 200,
      body: { reportBy: 'admin-1' },
    });
  });

  it('has step-up handlers tested with the assurance claims passed as claims', async () => {
    const now = Math.floor(Date.now() / 1000);
    const stepUp = { amr: ['pwd', 'otp'], aal: 2, auth_time: now - 10 };
    expect(await get(app, '/payouts', gh.token({ sub: 'user-1', claims: stepUp }))).toEqual({
      status: 200,
      body: { userId: 'user-1', amr: ['pwd', 'otp'] },
    });
    expect(await get(app, '/payouts', gh.token({ sub: 'user-1', claims: { ...stepUp, aal: 1 } }))).toMatchObject({
      status: 403,
      body: { code: 'MFA_REQUIRED' },
    });
    expect(await get(app, '/payouts', gh.token({ sub: 'user-1', claims: { ...stepUp, auth_time: now - 600 } }))).toMatchObject({
      status: 401,
      body: { code: 'REAUTH_REQUIRED' },
    });
  });

  it("is really checked: another issuer's key, another iss and no token are refused", async () => {
    const stranger = await createTestIssuer({ issuer: ISSUER });
    const elsewhere = await createTestIssuer({ issuer: 'https://elsewhere.example' });
    for (const token of [stranger.token({ sub: 'user-1' }), elsewhere.token({ sub: 'user-1' }), undefined]) {
      expect(await get(app, '/orders', token)).toMatchObject({ status: 401, body: { code: 'UNAUTHORIZED' } });
    }
  });

  it("mints tokens shaped like gatehouse's", async () => {
    const withAudience = await createTestIssuer({ issuer: ISSUER, audience: 'orders' });
    const token = withAudience.token({ sub: 'user-1', sid: 'session-1', claims: { tenant: 't-1', sub: 'forged', exp: 0 } });
    const { header, payload } = decode(token);
    expect(header).toEqual({ alg: 'ES256', typ: 'at+jwt', kid: withAudience.kid });
    expect(Object.keys(payload)).toEqual(['tenant', 'iss', 'aud', 'sub', 'sid', 'jti', 'iat', 'exp', 'roles', 'isImpersonated']);
    expect(payload).toMatchObject({
      iss: ISSUER,
      aud: 'orders',
      sub: 'user-1',
      sid: 'session-1',
      roles: ['user'],
      isImpersonated: false,
      tenant: 't-1',
    });
    expect(payload.exp).toBe((payload.iat as number) + 900);
    expect(payload.jti).toMatch(/^[0-9a-f-]{36}$/);
    // The kid is the key's RFC 7638 thumbprint, as gatehouse's.
    const [jwk] = withAudience.jwks.keys;
    expect(jwk).toMatchObject({ kty: 'EC', crv: 'P-256', kid: withAudience.kid, alg: 'ES256', use: 'sig' });
    expect(jwk).not.toHaveProperty('d');
    expect(createPublicKey({ key: jwk, format: 'jwk' }).asymmetricKeyType).toBe('ec');
    expect(withAudience.clientOptions()).toEqual({ issuer: ISSUER, audience: 'orders', jwksUrl: withAudience.jwksUrl });
  });

  it('mints impersonation tokens as gatehouse does: act, isImpersonated, never admin', async () => {
    const verifier = app.get(TokenVerifier);
    const user = await verifier.verify(gh.token({ sub: 'user-1', roles: ['user', 'admin'], impersonatorId: 'admin-9' }));
    expect(user).toMatchObject({ userId: 'user-1', roles: ['user'], isImpersonated: true, impersonatorId: 'admin-9' });
    expect(user.claims.act).toEqual({ sub: 'admin-9' });
  });

  it('plugs in through configuration too (jwksUrl from the environment), with the audience checked', async () => {
    const withAudience = await createTestIssuer({ issuer: ISSUER, audience: 'orders' });
    process.env.TEST_GATEHOUSE_JWKS_URL = withAudience.jwksUrl;
    const configured = await siblingApp(() => ({ issuer: ISSUER, audience: 'orders', jwksUrl: process.env.TEST_GATEHOUSE_JWKS_URL ?? '' }));
    try {
      expect(await get(configured, '/orders', withAudience.token({ sub: 'user-2' }))).toMatchObject({
        status: 200,
        body: { userId: 'user-2' },
      });
      expect(await get(configured, '/orders', gh.token({ sub: 'user-2' }))).toMatchObject({ status: 401 });
    } finally {
      delete process.env.TEST_GATEHOUSE_JWKS_URL;
      await configured.close();
    }
  });

  it('never touched the network', () => {
    expect(fetched.length).toBeGreaterThan(0);
    expect(fetched.filter((url) => !url.startsWith('data:'))).toEqual([]);
    expect(connectSpy).not.toHaveBeenCalled();
  });
});
