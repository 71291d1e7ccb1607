import 'reflect-metadata';

import { HttpException, Logger } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { ExecutionContextHost } from '@nestjs/core/internal';
import { RpcException } from '@nestjs/microservices';

import { AuthGuard, GatehouseGuard } from './auth.guard.js';
import { requireCaller } from './caller.js';
import type { AuthClientOptions, AuthenticatedUser } from './client-options.js';
import { OptionalAuth, Public, Roles } from './decorators.js';
import type { JwksKeyStore } from './jwks-key-store.js';
import { AuthClientError } from './refusals.js';
import { TokenVerifier } from './token-verifier.js';

class Handlers {
  plain(): void {}

  @Roles('admin')
  admin(): void {}

  @OptionalAuth()
  optional(): void {}

  @OptionalAuth()
  @Roles('admin')
  optionalAdmin(): void {}

  @Public()
  open(): void {}
}

const ALICE: AuthenticatedUser = {
  userId: 'alice',
  sessionId: 's1',
  roles: ['user'],
  isImpersonated: false,
  impersonatorId: null,
  claims: {},
  amr: [],
  aal: 1,
  authTime: null,
};
const GOOD = 'good.token.value';

function setup(options: Partial<AuthClientOptions> = {}): { guard: GatehouseGuard; verifier: TokenVerifier } {
  const verifier = new TokenVerifier({ issuer: 'https://gatehouse.example', jwksUrl: 'unused', ...options }, {} as JwksKeyStore);
  // The token checks themselves are TokenVerifier's (its own spec): here, one good token.
  jest.spyOn(verifier, 'verify').mockImplementation((token) => {
    if (!token) return Promise.reject(verifier.refusal('missing'));
    return token === GOOD ? Promise.resolve(ALICE) : Promise.reject(verifier.refusal('signature'));
  });
  return { guard: new GatehouseGuard(new Reflector(), verifier), verifier };
}

function context(type: string, args: unknown[], handler: keyof Handlers = 'plain'): ExecutionContextHost {
  const host = new ExecutionContextHost(args, Handlers, Handlers.prototype[handler]);
  host.setType(type);
  return host;
}
const httpRequest = (headers: Record<string, string> = {}, method = 'GET') =>
  ({ headers, method }) as { headers: Record<string, string>; method: string; user?: unknown };
const http = (headers: Record<string, string> = {}, handler: keyof Handlers = 'plain', method = 'GET') =>
  context('http', [httpRequest(headers, method), {}, () => undefined], handler);
const rpc = (data: unknown, handler: keyof Handlers = 'plain') => context('rpc', [data, { transport: 'tcp' }], handler);
const bearer = { authorization: `Bearer ${GOOD}` };

async function refusal(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => undefined,
    (error: unknown) => error,
  );
}

describe('GatehouseGuard', () => {
  beforeAll(() => {
    jest.spyOn(Logger.prototype, 'debug').mockImplementation(() => undefined);
    jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
  });
  afterAll(() => jest.restoreAllMocks());

  it('is also exported as AuthGuard, the same class', () => {
    expect(AuthGuard).toBe(GatehouseGuard);
  });

  describe('over HTTP', () => {
    it('hands the verified caller to @CurrentUser() and req.user', async () => {
      const { guard } = setup();
      const ctx = http(bearer);
      await expect(guard.canActivate(ctx)).resolves.toBe(true);
      expect(requireCaller(ctx)).toBe(ALICE);
      expect(ctx.switchToHttp().getRequest<{ user?: unknown }>().user).toBe(ALICE);
    });

    it("refuses with gatehouse's body as an HttpException", async () => {
      const { guard } = setup();
      const error = await refusal(guard.canActivate(http({ authorization: 'Bearer forged.token.value' })));
      expect(error).toBeInstanceOf(HttpException);
      expect((error as HttpException).getStatus()).toBe(401);
      expect((error as HttpException).getResponse()).toEqual({ statusCode: 401, code: 'UNAUTHORIZED', message: 'invalid access token' });
    });

    it('@Roles(): 403 "insufficient role", counted as "role"', async () => {
      const { guard, verifier } = setup();
      const error = await refusal(guard.canActivate(http(bearer, 'admin')));
      expect((error as HttpException).getResponse()).toEqual({ statusCode: 403, code: 'FORBIDDEN', message: 'insufficient role' });
      expect(verifier.refusals().role).toBe(1);
    });

    it('@Public(): through without a token; its @CurrentUser() is refused (use @OptionalAuth())', async () => {
      const { guard, verifier } = setup();
      const ctx = http({}, 'open');
      await expect(guard.canActivate(ctx)).resolves.toBe(true);
      expect(verifier.verify).not.toHaveBeenCalled();
      expect(() => requireCaller(ctx)).toThrow(HttpException);
    });

    it('@OptionalAuth(): null without a token, the caller with a valid one, 401 with an invalid one', async () => {
      const { guard } = setup();
      const anonymous = http({}, 'optional');
      await expect(guard.canActivate(anonymous)).resolves.toBe(true);
      expect(requireCaller(anonymous)).toBeNull();
      const signed = http(bearer, 'optional');
      await expect(guard.canActivate(signed)).resolves.toBe(true);
      expect(requireCaller(signed)).toBe(ALICE);
      const error = await refusal(guard.canActivate(http({ authorization: 'Bearer bad.token.value' }, 'optional')));
      expect((error as HttpException).getResponse()).toMatchObject({ statusCode: 401, message: 'invalid access token' });
    });

    it('@OptionalAuth() with @Roles(): a token is required', async () => {
      const { guard } = setup();
      const error = await refusal(guard.canActivate(http({}, 'optionalAdmin')));
      expect((error as HttpException).getResponse()).toEqual({ statusCode: 401, code: 'UNAUTHORIZED', message: 'authentication required' });
    });

    it('tokenFrom \'cookie\': reads gh_access, and refuses a write without the CSRF header (403, counted as "csrf")', async () => {
      const { guard, verifier } = setup({ tokenFrom: ['header', 'cookie'] });
      const cookie = `gh_access=${GOOD}; gh_csrf=c5rf`;
      await expect(guard.canActivate(http({ cookie }))).resolves.toBe(true);
      const error = await refusal(guard.canActivate(http({ cookie }, 'plain', 'POST')));
      expect((error as HttpException).getResponse()).toMatchObject({
        statusCode: 403,
        code: 'FORBIDDEN',
        message: expect.stringContaining('X-CSRF-Token'),
      });
      expect(verifier.refusals().csrf).toBe(1);
      await expect(guard.canActivate(http({ cookie, 'x-csrf-token': 'c5rf' }, 'plain', 'POST'))).resolves.toBe(true);
      // Only the default source: the cookie is not a token.
      const headerOnly = setup().guard;
      expect(await refusal(headerOnly.canActivate(http({ cookie })))).toBeInstanceOf(HttpException);
    });
  });

  describe('over RPC', () => {
    it("takes the payload's accessToken and keeps the caller per message", async () => {
      const { guard } = setup();
      const ctx = rpc({ accessToken: GOOD });
      await expect(guard.canActivate(ctx)).resolves.toBe(true);
      expect(requireCaller(ctx)).toBe(ALICE);
      // Another message, even with the same payload object, has no caller of its own.
      expect(() => requireCaller(rpc(ctx.switchToRpc().getData()))).toThrow(RpcException);
    });

    it("refuses with gatehouse's body as an RpcException", async () => {
      const { guard } = setup();
      const error = await refusal(guard.canActivate(rpc({})));
      expect(error).toBeInstanceOf(RpcException);
      expect((error as RpcException).getError()).toEqual({ statusCode: 401, code: 'UNAUTHORIZED', message: 'authentication required' });
    });
  });

  describe("over WebSocket ('ws')", () => {
    const ws = (data: unknown, handler: keyof Handlers = 'plain') => context('ws', [{ id: 'socket' }, data, 'orders.watch'], handler);

    it("takes the message's accessToken, and keeps the caller per message", async () => {
      const { guard } = setup();
      const ctx = ws({ accessToken: GOOD });
      await expect(guard.canActivate(ctx)).resolves.toBe(true);
      expect(requireCaller(ctx)).toBe(ALICE);
    });

    it("refuses with an AuthClientError carrying gatehouse's body (WsException is not the client's to throw)", async () => {
      const { guard } = setup();
      const error = await refusal(guard.canActivate(ws({})));
      expect(error).toBeInstanceOf(AuthClientError);
      expect((error as AuthClientError).body).toEqual({ statusCode: 401, code: 'UNAUTHORIZED', message: 'authentication required' });
    });

    it("refuses a message that is not an object with a clear setup error naming 'ws', never a TypeError", async () => {
      const { guard } = setup();
      const error = await refusal(guard.canActivate(ws('just a string')));
      expect(error).toBeInstanceOf(AuthClientError);
      expect((error as AuthClientError).body).toMatchObject({
        statusCode: 500,
        code: 'INTERNAL_ERROR',
        message: expect.stringContaining("'ws'"),
      });
    });
  });

  describe('over GraphQL (no dependency on @nestjs/graphql)', () => {
    const gql = (gqlContext: unknown, handler: keyof Handlers = 'plain') => context('graphql', [{}, {}, gqlContext, {}], handler);

    it('reads the request from the resolver context (Apollo: req; Mercurius: reply.request)', async () => {
      const { guard } = setup();
      for (const gqlContext of [{ req: httpRequest(bearer, 'POST') }, { reply: { request: httpRequest(bearer, 'POST') } }]) {
        const ctx = gql(gqlContext);
        await expect(guard.canActivate(ctx)).resolves.toBe(true);
        expect(requireCaller(ctx)).toBe(ALICE);
      }
    });

    it('answers 401 when the context has no request (a subscription), and a setup error without a context: never a TypeError', async () => {
      const { guard } = setup();
      const missing = await refusal(guard.canActivate(gql({ connectionParams: {} })));
      expect((missing as HttpException).getResponse()).toEqual({
        statusCode: 401,
        code: 'UNAUTHORIZED',
        message: 'authentication required',
      });
      const noContext = await refusal(guard.canActivate(gql(undefined)));
      expect(noContext).toBeInstanceOf(HttpException);
      expect((noContext as HttpException).getResponse()).toMatchObject({ statusCode: 500, message: expect.stringContaining("'graphql'") });
    });

    it('@OptionalAuth(): null without a token', async () => {
      const { guard } = setup();
      const ctx = gql({ req: httpRequest() }, 'optional');
      await expect(guard.canActivate(ctx)).resolves.toBe(true);
      expect(requireCaller(ctx)).toBeNull();
    });
  });

  it('refuses a context type it does not know with a setup error naming it, even on @Public() it never throws a TypeError', async () => {
    const { guard } = setup();
    const error = await refusal(guard.canActivate(context('kafka-streams', [{ accessToken: GOOD }])));
    expect(error).toBeInstanceOf(AuthClientError);
    expect((error as AuthClientError).body).toEqual({
      statusCode: 500,
      code: 'INTERNAL_ERROR',
      message: expect.stringContaining("cannot guard 'kafka-streams' handlers"),
    });
    await expect(guard.canActivate(context('kafka-streams', [], 'open'))).resolves.toBe(true);
  });
});
