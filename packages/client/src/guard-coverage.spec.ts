import 'reflect-metadata';

import { Logger } from '@nestjs/common';
import { ModulesContainer } from '@nestjs/core';
import { ExecutionContextHost } from '@nestjs/core/internal';
import { Transport } from '@nestjs/microservices';

import { GatehouseGuard } from './auth.guard.js';
import { noteGuarded } from './caller.js';
import { GuardCoverage } from './guard-coverage.js';

type EndHook = (transportId: Transport | symbol, context: unknown) => void;

class FakeServer {
  onProcessingEndHook?: EndHook;
  constructor(readonly transportId: Transport | symbol) {}
  setOnProcessingEndHook(hook: EndHook): void {
    this.onProcessingEndHook = hook;
  }
}

/** A TCP context as Nest makes one per message. */
const message = (pattern: string) => ({ getPattern: () => pattern });

function app(appGuard: boolean, servers: FakeServer[]): GuardCoverage {
  const modules = new ModulesContainer();
  const instance = appGuard ? (Object.create(GatehouseGuard.prototype) as GatehouseGuard) : { canActivate: () => true };
  modules.set('AppModule', { providers: new Map([['APP_GUARD (UUID: 1)', { instance }]]) } as never);
  for (const server of servers) modules.addRpcTarget(server);
  const coverage = new GuardCoverage(modules);
  coverage.onApplicationBootstrap();
  return coverage;
}

function guardRan(transportContext: object): void {
  const host = new ExecutionContextHost([{ accessToken: 'x' }, transportContext]);
  host.setType('rpc');
  noteGuarded(host);
}

describe('GuardCoverage: a message handled without the global GatehouseGuard', () => {
  let warn: jest.SpyInstance;
  beforeEach(() => {
    warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
  });
  afterEach(() => warn.mockRestore());

  it("warns once, naming the message and inheritAppConfig, and keeps the app's own end hook running", () => {
    const server = new FakeServer(Transport.TCP);
    const previous = jest.fn();
    server.setOnProcessingEndHook(previous);
    app(true, [server]);
    const guarded = message('orders.list');
    guardRan(guarded);
    server.onProcessingEndHook!(Transport.TCP, guarded);
    expect(warn).not.toHaveBeenCalled();
    server.onProcessingEndHook!(Transport.TCP, message('orders.purge'));
    server.onProcessingEndHook!(Transport.TCP, message('orders.list'));
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0][0]).toContain('the message "orders.purge" was handled without GatehouseGuard');
    expect(warn.mock.calls[0][0]).toContain('{ inheritAppConfig: true }');
    expect(warn.mock.calls[0][0]).toContain('their @Roles(), @RequireAal() and @RequireRecentAuth() unchecked');
    expect(previous).toHaveBeenCalledTimes(3);
  });

  it('watches microservices connected after start too', () => {
    const modules = new ModulesContainer();
    modules.set('AppModule', {
      providers: new Map([['APP_GUARD (UUID: 1)', { instance: Object.create(GatehouseGuard.prototype) as GatehouseGuard }]]),
    } as never);
    new GuardCoverage(modules).onApplicationBootstrap();
    const late = new FakeServer(Transport.REDIS);
    modules.addRpcTarget(late);
    late.onProcessingEndHook!(Transport.REDIS, { getChannel: () => 'orders.list' });
    expect(warn.mock.calls[0][0]).toContain('"orders.list"');
  });

  it('stays out of the way when GatehouseGuard is not the global guard (guarded per controller by design), and of transports it cannot follow', () => {
    const perController = new FakeServer(Transport.TCP);
    app(false, [perController]);
    expect(perController.onProcessingEndHook).toBeUndefined();
    const grpc = new FakeServer(Transport.GRPC);
    const custom = new FakeServer(Symbol('custom'));
    app(true, [grpc, custom]);
    expect(grpc.onProcessingEndHook).toBeUndefined();
    expect(custom.onProcessingEndHook).toBeUndefined();
  });
});
