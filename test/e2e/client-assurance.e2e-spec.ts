import {
  AuthClientModule,
  CurrentUser,
  GatehouseGuard,
  RequireAal,
  RequireRecentAuth,
  type AuthClientOptions,
  type AuthenticatedUser,
} from '@gatehouse/client';
import { Controller, Get, Module } from '@nestjs/common';
import { APP_GUARD, NestFactory } from '@nestjs/core';
import { ClientProxyFactory, MessagePattern, Transport, type ClientProxy, type MicroserviceOptions } from '@nestjs/microservices';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { firstValueFrom } from 'rxjs';
import request from 'supertest';

import { bearer, registerUser, signedInUser } from '../support/accounts';
import { freePort, rpcFailure, startTestApp, type TestApp } from '../support/test-app';
import { awayFromStepEdge, enrolTotp, totpCode } from '../support/totp';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const assurance = ({ userId, amr, aal, authTime }: AuthenticatedUser) => ({ userId, amr, aal, authTime });

/**
 * A sibling's sensitive handlers: a second factor for all (the class), a recent proof for some
 * (methods). Each serves a route and a message pattern alike.
 */
@RequireAal(2)
@Controller('vault')
class VaultController {
  @Get()
  @MessagePattern('vault.open')
  open(@CurrentUser() user: AuthenticatedUser) {
    return assurance(user);
  }

  /** The method's level overrides the controller's: any signed-in caller. */
  @RequireAal(1)
  @Get('caller')
  caller(@CurrentUser() user: AuthenticatedUser) {
    return assurance(user);
  }

  @RequireAal(1)
  @RequireRecentAuth(300)
  @Get('recent')
  @MessagePattern('vault.recent')
  recent(@CurrentUser() user: AuthenticatedUser) {
    return assurance(user);
  }

  /** A window shorter than the test's wait: every token is stale here after two seconds. */
  @RequireAal(1)
  @RequireRecentAuth(1)
  @Get('instant')
  @MessagePattern('vault.instant')
  instant(@CurrentUser() user: AuthenticatedUser) {
    return assurance(user);
  }
}

interface Sibling {
  http: () => ReturnType<typeof request>;
  send: <T>(pattern: string, payload: unknown) => Promise<T>;
  fail: (pattern: string, payload: unknown) => Promise<Record<string, unknown>>;
}

describe('gatehouse/client: @RequireAal() and @RequireRecentAuth() with tokens gatehouse issues', () => {
  let g: TestApp;
  const closers: Array<() => Promise<void>> = [];
  const modes: Record<'offline' | 'live', Sibling> = {} as never;

  async function sibling(auth: AuthClientOptions): Promise<Sibling> {
    @Module({
      imports: [AuthClientModule.forRoot(auth)],
      controllers: [VaultController],
      providers: [{ provide: APP_GUARD, useExisting: GatehouseGuard }],
    })
    class VaultModule {}
    const ports = { http: await freePort(), tcp: await freePort() };
    const app = await NestFactory.create<NestFastifyApplication>(VaultModule, new FastifyAdapter(), { logger: ['error', 'warn'] });
    const tcp = { host: '127.0.0.1', port: ports.tcp };
    app.connectMicroservice<MicroserviceOptions>({ transport: Transport.TCP, options: tcp }, { inheritAppConfig: true });
    await app.startAllMicroservices();
    await app.listen({ port: ports.http, host: '127.0.0.1' });
    const rpc: ClientProxy = ClientProxyFactory.create({ transport: Transport.TCP, options: tcp });
    await rpc.connect();
    closers.push(async () => {
      await rpc.close();
      await app.close();
    });
    const send = <T>(pattern: string, payload: unknown): Promise<T> => firstValueFrom(rpc.send<T>(pattern, payload));
    return { http: () => request(`http://127.0.0.1:${ports.http}`), send, fail: (pattern, payload) => rpcFailure(send, pattern, payload) };
  }

  beforeAll(async () => {
    g = await startTestApp();
    const auth = { issuer: g.config.jwt.issuer, jwksUrl: `${g.baseUrl}/.well-known/jwks.json` };
    modes.offline = await sibling(auth);
    modes.live = await sibling({ ...auth, live: { transport: 'tcp', host: '127.0.0.1', port: g.config.rpc.port } });
  });
  afterAll(async () => {
    for (const close of closers) await close();
    await g.close();
  });

  const MFA_REQUIRED = { statusCode: 403, code: 'MFA_REQUIRED', message: 'a second factor is required' };
  const REAUTH_REQUIRED = { statusCode: 401, code: 'REAUTH_REQUIRED', message: 'please re-authenticate' };

  it.each(['offline', 'live'] as const)(
    '%s: a password sign-in is refused an aal-2 controller with 403 MFA_REQUIRED over HTTP and TCP; a method at aal 1 lets it in',
    async (mode) => {
      const s = modes[mode];
      const { accessToken, id: userId } = await signedInUser(g, 'assurance');
      expect((await s.http().get('/vault').set(bearer(accessToken)).expect(403)).body).toEqual(MFA_REQUIRED);
      expect(await s.fail('vault.open', { accessToken })).toEqual(MFA_REQUIRED);
      const caller = (await s.http().get('/vault/caller').set(bearer(accessToken)).expect(200)).body as ReturnType<typeof assurance>;
      expect(caller).toMatchObject({ userId, aal: 1 });
    },
  );

  it('refuses a token whose last proof of a factor is older than the handler allows, over HTTP and TCP, offline and live', async () => {
    const { refreshToken } = await signedInUser(g, 'assurance');
    await sleep(2100);
    // A refresh keeps the session's auth_time (and tokens issued before second factors have none).
    const refreshed = await g.http().post('/auth/refresh').send({ refreshToken }).expect(200);
    const accessToken = (refreshed.body as { tokens: { accessToken: string } }).tokens.accessToken;
    for (const s of Object.values(modes)) {
      expect((await s.http().get('/vault/instant').set(bearer(accessToken)).expect(401)).body).toEqual(REAUTH_REQUIRED);
      expect(await s.fail('vault.instant', { accessToken })).toEqual(REAUTH_REQUIRED);
    }
  });

  it('lets a fresh password sign-in through @RequireRecentAuth(300), and hands its amr, aal, auth_time to the handler', async () => {
    const { accessToken, id: userId } = await signedInUser(g, 'assurance');
    const expected = { userId, amr: ['pwd'], aal: 1, authTime: expect.any(Number) };
    for (const s of Object.values(modes)) {
      const body = (await s.http().get('/vault/recent').set(bearer(accessToken)).expect(200)).body as ReturnType<typeof assurance>;
      expect(body).toEqual(expected);
      expect(Math.abs(body.authTime! - Date.now() / 1000)).toBeLessThan(30);
      expect(await s.send('vault.recent', { accessToken })).toEqual(expected);
    }
  });

  it('lets a sign-in with the second factor through the aal-2 controller, and a refresh keeps it, offline and live', async () => {
    const u = await registerUser(g, 'assurance2fa');
    const secret = await enrolTotp(g, u);
    const step = (await g.http().post('/auth/login').send({ email: u.email, password: u.password }).expect(200)).body as {
      mfaToken: string;
    };
    await awayFromStepEdge();
    const signedIn = await g
      .http()
      .post('/auth/mfa/verify')
      .send({ mfaToken: step.mfaToken, method: 'totp', code: totpCode(secret) })
      .expect(200);
    const { refreshToken } = (signedIn.body as { tokens: { refreshToken: string } }).tokens;
    const refreshed = await g.http().post('/auth/refresh').send({ refreshToken }).expect(200);
    for (const { tokens } of [signedIn.body, refreshed.body] as Array<{ tokens: { accessToken: string } }>) {
      const expected = { userId: u.id, amr: ['mfa', 'otp', 'pwd'], aal: 2, authTime: expect.any(Number) };
      for (const s of Object.values(modes)) {
        expect((await s.http().get('/vault').set(bearer(tokens.accessToken)).expect(200)).body).toEqual(expected);
        expect(await s.send('vault.open', { accessToken: tokens.accessToken })).toEqual(expected);
      }
    }
  });

  it('re-authentication hands the sibling a new auth_time for the same session', async () => {
    const s = await signedInUser(g, 'assurance');
    const before = (await modes.offline.http().get('/vault/recent').set(s.auth).expect(200)).body as ReturnType<typeof assurance>;
    await sleep(2100);
    expect((await modes.offline.http().get('/vault/instant').set(s.auth).expect(401)).body).toEqual(REAUTH_REQUIRED);
    const again = await g.http().post('/auth/reauthenticate').set(s.auth).send({ password: s.password }).expect(200);
    const fresh = bearer((again.body as { tokens: { accessToken: string } }).tokens.accessToken);
    for (const mode of Object.values(modes)) {
      const after = (await mode.http().get('/vault/recent').set(fresh).expect(200)).body as ReturnType<typeof assurance>;
      expect(after).toMatchObject({ userId: s.id, amr: ['pwd'], aal: 1 });
      expect(after.authTime! - before.authTime!).toBeGreaterThanOrEqual(2);
    }
  });
});
