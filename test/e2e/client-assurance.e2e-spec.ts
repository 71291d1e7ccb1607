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

import { bearer, signedInUser } from '../support/accounts';
import { freePort, rpcFailure, startTestApp, type TestApp } from '../support/test-app';

/**
 * Flip once gatehouse issues amr, aal and auth_time (issue 15): a fresh login then passes
 * @RequireRecentAuth(), so the refusal of a token without auth_time gives way to the cases it guards.
 */
const GATEHOUSE_ISSUES_ASSURANCE = false;
const whileTokensLackAssurance = GATEHOUSE_ISSUES_ASSURANCE ? it.skip : it;
const onceTokensCarryAssurance = GATEHOUSE_ISSUES_ASSURANCE ? it : it.skip;

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

  whileTokensLackAssurance('refuses a token without auth_time with 401 REAUTH_REQUIRED, over HTTP and TCP, offline and live', async () => {
    const { accessToken } = await signedInUser(g, 'assurance');
    for (const s of Object.values(modes)) {
      expect((await s.http().get('/vault/recent').set(bearer(accessToken)).expect(401)).body).toEqual(REAUTH_REQUIRED);
      expect(await s.fail('vault.recent', { accessToken })).toEqual(REAUTH_REQUIRED);
      expect((await s.http().get('/vault/caller').set(bearer(accessToken)).expect(200)).body).toMatchObject({ amr: [], authTime: null });
    }
  });

  onceTokensCarryAssurance(
    'lets a fresh password sign-in through @RequireRecentAuth(300), and hands its amr, aal, auth_time to the handler',
    async () => {
      const { accessToken, id: userId } = await signedInUser(g, 'assurance');
      const expected = { userId, amr: ['pwd'], aal: 1, authTime: expect.any(Number) };
      for (const s of Object.values(modes)) {
        const body = (await s.http().get('/vault/recent').set(bearer(accessToken)).expect(200)).body as ReturnType<typeof assurance>;
        expect(body).toEqual(expected);
        expect(Math.abs(body.authTime! - Date.now() / 1000)).toBeLessThan(30);
        expect(await s.send('vault.recent', { accessToken })).toEqual(expected);
      }
    },
  );
});
