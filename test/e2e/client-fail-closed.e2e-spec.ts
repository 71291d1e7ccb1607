import { CurrentUser, type AuthClientOptions, type AuthenticatedUser } from '@gatehouse/client';
import { Controller, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ClientProxy, ClientProxyFactory, MessagePattern, Payload, Transport, type MicroserviceOptions } from '@nestjs/microservices';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { firstValueFrom } from 'rxjs';
import request from 'supertest';

import { SiblingAppModule } from '../../examples/sibling-app/app.module';
import { signedInUser } from '../support/accounts';
import { CapturingLogger } from '../support/capturing-logger';
import { freePort, rpcFailure, startTestApp, type TestApp } from '../support/test-app';

/** What the handlers below did: a handler that ran shows here. */
const notes: Array<{ userId: string; text: string }> = [];

@Controller()
class NotesController {
  @MessagePattern('notes.add')
  add(@CurrentUser() user: AuthenticatedUser, @Payload() payload: { text: string }): { added: true } {
    notes.push({ userId: user.userId, text: payload.text });
    return { added: true };
  }

  /** Asks for no caller: nothing but the guard could stop it. */
  @MessagePattern('notes.count')
  count(): { count: number } {
    return { count: notes.length };
  }
}

interface Hybrid {
  app: NestFastifyApplication;
  logger: CapturingLogger;
  http: () => ReturnType<typeof request>;
  send: <T>(pattern: string, payload: unknown) => Promise<T>;
  fail: (pattern: string, payload: unknown) => Promise<Record<string, unknown>>;
  close: () => Promise<void>;
}

describe('gatehouse/client fails closed: a hybrid sibling app that forgot inheritAppConfig', () => {
  let g: TestApp;
  const hybrids: Hybrid[] = [];

  /** The example sibling app plus NotesController, its TCP microservice connected with or without inheritAppConfig. */
  async function hybrid(inheritAppConfig: boolean): Promise<Hybrid> {
    const auth: AuthClientOptions = { issuer: g.config.jwt.issuer, jwksUrl: `${g.baseUrl}/.well-known/jwks.json` };
    @Module({ imports: [SiblingAppModule.forRoot(auth)], controllers: [NotesController] })
    class HybridModule {}
    const logger = new CapturingLogger();
    const ports = { http: await freePort(), tcp: await freePort() };
    const app = await NestFactory.create<NestFastifyApplication>(HybridModule, new FastifyAdapter(), { logger });
    app.connectMicroservice<MicroserviceOptions>(
      { transport: Transport.TCP, options: { host: '127.0.0.1', port: ports.tcp } },
      { inheritAppConfig },
    );
    await app.startAllMicroservices();
    await app.listen({ port: ports.http, host: '127.0.0.1' });
    const rpc: ClientProxy = ClientProxyFactory.create({ transport: Transport.TCP, options: { host: '127.0.0.1', port: ports.tcp } });
    await rpc.connect();
    const send = <T>(pattern: string, payload: unknown): Promise<T> => firstValueFrom(rpc.send<T>(pattern, payload));
    const h: Hybrid = {
      app,
      logger,
      send,
      http: () => request(`http://127.0.0.1:${ports.http}`),
      fail: (pattern, payload) => rpcFailure(send, pattern, payload),
      close: async () => {
        await rpc.close();
        await app.close();
      },
    };
    hybrids.push(h);
    return h;
  }

  beforeAll(async () => {
    g = await startTestApp();
  });
  afterAll(async () => {
    for (const h of hybrids) await h.close();
    await g.close();
  });

  const UNAUTHORIZED = { statusCode: 401, code: 'UNAUTHORIZED', message: 'authentication required' };
  const warnings = (h: Hybrid, text: string): string[] => h.logger.lines.filter((line) => line.includes(text));

  it("refuses @CurrentUser() message patterns with gatehouse's 401 body, never runs them as anonymous, and says why", async () => {
    const forgot = await hybrid(false);
    const { accessToken: token } = await signedInUser(g, 'failclosed');
    // Unguarded, even a valid token is never verified: the handler must not run with anyone at all.
    for (const payload of [{}, { accessToken: token }, { accessToken: 'garbage' }]) {
      expect(await forgot.fail('orders.list', payload)).toEqual(UNAUTHORIZED);
      expect(await forgot.fail('orders.purge', payload)).toEqual(UNAUTHORIZED);
      expect(await forgot.fail('notes.add', { ...payload, text: 'hello' })).toEqual(UNAUTHORIZED);
    }
    expect(notes).toEqual([]);

    expect(warnings(forgot, 'OrdersController.list (rpc) asks for @CurrentUser() but GatehouseGuard did not run')).toHaveLength(1);
    expect(warnings(forgot, 'NotesController.add (rpc) asks for @CurrentUser()')).toHaveLength(1);
    const coverage = warnings(forgot, 'was handled without GatehouseGuard');
    expect(coverage).toHaveLength(1);
    expect(coverage[0]).toContain('inheritAppConfig: true');

    // HTTP, which the global guard does cover, is unchanged.
    await forgot.http().get('/orders').expect(401);
    await forgot
      .http()
      .get('/orders')
      .set({ authorization: `Bearer ${token}` })
      .expect(200);
  });

  it('still runs a handler that asks for no caller (the limit: only the guard can stop it), and has warned about it', async () => {
    const forgot = await hybrid(false);
    expect(await forgot.send('notes.count', {})).toEqual({ count: 0 });
    expect(warnings(forgot, 'the message "notes.count" was handled without GatehouseGuard')).toHaveLength(1);
  });

  it('with inheritAppConfig: guarded as over HTTP, and no warning', async () => {
    const connected = await hybrid(true);
    const { accessToken: token } = await signedInUser(g, 'failclosed');
    expect(await connected.fail('notes.add', { text: 'anonymous' })).toEqual(UNAUTHORIZED);
    expect(await connected.fail('notes.count', {})).toEqual(UNAUTHORIZED);
    expect(await connected.send('notes.add', { accessToken: token, text: 'signed' })).toEqual({ added: true });
    expect(notes).toEqual([{ userId: expect.any(String), text: 'signed' }]);
    expect(await connected.send('orders.list', { accessToken: token })).toMatchObject({ orders: [] });
    expect(warnings(connected, 'GatehouseGuard')).toEqual([]);
  });
});
