import 'reflect-metadata';

import { HttpException, Logger } from '@nestjs/common';
import { ROUTE_ARGS_METADATA } from '@nestjs/common/constants';
import { ExecutionContextHost } from '@nestjs/core/internal';
import { RpcException } from '@nestjs/microservices';

import { PUBLIC_HANDLER, requireCaller, setCaller } from './caller.js';
import type { AuthenticatedUser } from './client-options.js';
import { CurrentUser } from './decorators.js';

class OrdersController {
  list(): void {}
  purge(): void {}
  health(): void {}
}

function context(type: string, args: unknown[], handler: keyof OrdersController = 'list'): ExecutionContextHost {
  const host = new ExecutionContextHost(args, OrdersController, OrdersController.prototype[handler]);
  host.setType(type);
  return host;
}

const UNAUTHORIZED = { statusCode: 401, code: 'UNAUTHORIZED', message: 'authentication required' };
// Only its identity matters here: @CurrentUser() hands back what the guard set.
const ALICE = { userId: 'alice' } as AuthenticatedUser;

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected a refusal');
}

describe('@CurrentUser() fails closed', () => {
  let warn: jest.SpyInstance;
  beforeEach(() => {
    warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
  });
  afterEach(() => warn.mockRestore());

  it('is the caller the guard verified', () => {
    const ctx = context('http', [{ headers: {} }, {}]);
    setCaller(ctx, ALICE);
    expect(requireCaller(ctx)).toBe(ALICE);
  });

  it("refuses over RPC with an RpcException of gatehouse's body when the guard never ran (no inheritAppConfig), and warns once per handler", () => {
    for (let i = 0; i < 3; i += 1) {
      const error = thrown(() => requireCaller(context('rpc', [{ accessToken: 'a.valid.token' }, {}], 'purge')));
      expect(error).toBeInstanceOf(RpcException);
      expect((error as RpcException).getError()).toEqual(UNAUTHORIZED);
    }
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0][0]).toContain('OrdersController.purge (rpc) asks for @CurrentUser() but GatehouseGuard did not run');
    expect(warn.mock.calls[0][0]).toContain('{ inheritAppConfig: true }');
  });

  it('refuses over HTTP with an HttpException, and never answers what other middleware left on req.user', () => {
    const error = thrown(() => requireCaller(context('http', [{ headers: {}, user: { userId: 'from-passport' } }, {}])));
    expect(error).toBeInstanceOf(HttpException);
    expect((error as HttpException).getStatus()).toBe(401);
    expect((error as HttpException).getResponse()).toEqual(UNAUTHORIZED);
  });

  it('refuses on a @Public() handler, saying to use @OptionalAuth()', () => {
    const ctx = context('http', [{ headers: {} }, {}], 'health');
    setCaller(ctx, PUBLIC_HANDLER);
    expect(thrown(() => requireCaller(ctx))).toBeInstanceOf(HttpException);
    expect(warn.mock.calls[0][0]).toContain('OrdersController.health is @Public() but asks for @CurrentUser()');
    expect(warn.mock.calls[0][0]).toContain('@OptionalAuth()');
  });

  it('gives null only where the guard decided so (@OptionalAuth() without a token)', () => {
    const ctx = context('rpc', [{}, {}]);
    setCaller(ctx, null);
    expect(requireCaller(ctx)).toBeNull();
  });

  it('is what the decorator reads', () => {
    class Handlers {
      list(@CurrentUser() _user: AuthenticatedUser): void {}
    }
    const args = Reflect.getMetadata(ROUTE_ARGS_METADATA, Handlers, 'list') as Record<
      string,
      { factory: (data: unknown, ctx: unknown) => unknown }
    >;
    const { factory } = Object.values(args)[0];
    const ctx = context('rpc', [{}, {}]);
    expect(thrown(() => factory(undefined, ctx))).toBeInstanceOf(RpcException);
    setCaller(ctx, ALICE);
    expect(factory(undefined, ctx)).toBe(ALICE);
  });
});
