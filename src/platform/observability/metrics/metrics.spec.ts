import { MessageHandler, ServerTCP } from '@nestjs/microservices';
import { isObservable, lastValueFrom, of, throwError } from 'rxjs';

import { AppError, ErrorCode } from '../../../shared/errors/app-error.js';
import { loginFailureReason, MetricsService, rpcErrorCode, SCRAPE_READ_TIMEOUT_MS, settleWithin } from './metrics.service.js';
import { instrumentServer, measured } from './rpc-metrics.js';

async function reply(handler: MessageHandler, data: unknown = {}): Promise<unknown> {
  const result = await handler(data);
  return isObservable(result) ? lastValueFrom(result) : result;
}

describe('message-pattern measurement', () => {
  const run = async (handler: MessageHandler): Promise<Array<[string, number]>> => {
    const reports: Array<[string, number]> = [];
    await reply(measured(handler, (outcome, seconds) => reports.push([outcome, seconds]))).catch(() => undefined);
    return reports;
  };

  it.each<[string, string, MessageHandler]>([
    ['an observable reply', 'ok', () => Promise.resolve(of({ ok: true }))],
    ['a plain reply', 'ok', () => Promise.resolve({ ok: true })],
    [
      'an error body from the filter',
      'UNAUTHORIZED',
      () => Promise.resolve(throwError(() => ({ statusCode: 401, code: 'UNAUTHORIZED', message: 'x' }))),
    ],
    ['a rejected handler', 'NOT_FOUND', () => Promise.reject(new AppError(ErrorCode.NOT_FOUND, 'x'))],
    ['an error without a contract code', 'INTERNAL_ERROR', () => Promise.resolve(throwError(() => ({ code: 'ECONNRESET' })))],
    ['an unexpected exception', 'INTERNAL_ERROR', () => Promise.reject(new Error('boom'))],
  ])('reports %s once, as %s, with a duration', async (_name, outcome, handler) => {
    const reports = await run(handler);
    expect(reports).toEqual([[outcome, expect.any(Number)]]);
    expect(reports[0][1]).toBeGreaterThanOrEqual(0);
  });

  it('passes the reply and the error through unchanged', async () => {
    await expect(
      reply(
        measured(
          () => Promise.resolve(of(42)),
          () => undefined,
        ),
      ),
    ).resolves.toBe(42);
    const body = { statusCode: 404, code: 'NOT_FOUND', message: 'user not found' };
    await expect(
      reply(
        measured(
          () => Promise.resolve(throwError(() => body)),
          () => undefined,
        ),
      ),
    ).rejects.toBe(body);
  });

  it('wraps the request handlers of a transport server, leaving event handlers alone', async () => {
    const server = new ServerTCP({});
    const event: MessageHandler = () => Promise.resolve(undefined);
    server.addHandler('auth.verify', () => Promise.resolve(of({ userId: 'u' })), false, { keep: true });
    server.addHandler('user.registered', event, true);
    const metrics = new MetricsService();
    instrumentServer(server, 'tcp', metrics);

    const handler = server.getHandlerByPattern('auth.verify')!;
    expect(handler.extras).toEqual({ keep: true });
    expect(handler.isEventHandler).toBe(false);
    expect(server.getHandlerByPattern('user.registered')).toBe(event);
    await expect(reply(handler)).resolves.toEqual({ userId: 'u' });
    const text = await metrics.registry.metrics();
    expect(text).toContain('gatehouse_rpc_requests_total{pattern="auth.verify",transport="tcp",outcome="ok"} 1');
  });
});

describe('labels stay bounded', () => {
  it.each<[unknown, string]>([
    [new AppError(ErrorCode.INVALID_CREDENTIALS, 'login failed'), 'invalid_credentials'],
    [new AppError(ErrorCode.TOO_MANY_REQUESTS, 'locked'), 'locked'],
    [new AppError(ErrorCode.USER_DEACTIVATED, 'x'), 'inactive'],
    [new AppError(ErrorCode.EMAIL_NOT_VERIFIED, 'x'), 'unverified'],
    [new AppError(ErrorCode.SERVICE_UNAVAILABLE, 'x'), 'error'],
    [new Error('connect ECONNREFUSED'), 'error'],
  ])('a login failing with %p counts as %s', (error, reason) => {
    expect(loginFailureReason(error)).toBe(reason);
  });

  it('an RPC outcome is a contract error code or INTERNAL_ERROR', () => {
    expect(rpcErrorCode({ code: 'REFRESH_TOKEN_REUSED' })).toBe('REFRESH_TOKEN_REUSED');
    expect(rpcErrorCode({ code: 'made up by a caller' })).toBe('INTERNAL_ERROR');
    expect(rpcErrorCode(null)).toBe('INTERNAL_ERROR');
    expect(rpcErrorCode('Internal server error')).toBe('INTERNAL_ERROR');
  });
});

describe('settleWithin', () => {
  it('gives the value, or undefined for a failure or a promise that never settles', async () => {
    await expect(settleWithin(Promise.resolve(3), 1000)).resolves.toBe(3);
    await expect(settleWithin(Promise.reject(new Error('down')), 1000)).resolves.toBeUndefined();
    await expect(settleWithin(new Promise<number>(() => undefined), 20)).resolves.toBeUndefined();
  });
});

describe('a registry per application', () => {
  it('two services count separately', async () => {
    const a = new MetricsService();
    const b = new MetricsService();
    a.loginSucceeded();
    a.observeHttp('GET', '/users/:id', 200, 0.01);
    expect(await a.registry.getSingleMetricAsString('gatehouse_login_successes_total')).toContain('gatehouse_login_successes_total 1');
    expect(await b.registry.getSingleMetricAsString('gatehouse_login_successes_total')).toContain('gatehouse_login_successes_total 0');
    expect(await b.render()).not.toContain('route="/users/:id"');
    expect(await a.render()).toContain('nodejs_eventloop_lag_seconds');
  });
});

describe('gauges read at scrape time', () => {
  const help = 'Things waiting; absent when the database did not answer.';
  let metrics: MetricsService;
  let read: jest.Mock<Promise<number>, []>;

  beforeEach(() => {
    metrics = new MetricsService();
    read = jest.fn<Promise<number>, []>();
    metrics.addScrapedGauge({ name: 'gatehouse_things_waiting', help, read });
  });

  afterEach(() => jest.useRealTimers());

  const scrape = () => metrics.registry.getSingleMetricAsString('gatehouse_things_waiting');

  it('reads the value at every scrape', async () => {
    read.mockResolvedValueOnce(4).mockResolvedValueOnce(0);
    expect(await scrape()).toBe(
      `# HELP gatehouse_things_waiting ${help}\n# TYPE gatehouse_things_waiting gauge\ngatehouse_things_waiting 4`,
    );
    expect(await scrape()).toContain('\ngatehouse_things_waiting 0');
  });

  it('leaves the value out while the read fails, and shows it again once it answers', async () => {
    read.mockResolvedValueOnce(2).mockRejectedValueOnce(new Error('connection refused')).mockResolvedValueOnce(3);
    expect(await scrape()).toContain('\ngatehouse_things_waiting 2');
    expect(await scrape()).toBe(`# HELP gatehouse_things_waiting ${help}\n# TYPE gatehouse_things_waiting gauge`);
    expect(await scrape()).toContain('\ngatehouse_things_waiting 3');
  });

  it(`answers without the value once the read has taken ${SCRAPE_READ_TIMEOUT_MS} ms`, async () => {
    jest.useFakeTimers();
    read.mockReturnValue(new Promise(() => undefined));
    let text: string | undefined;
    void scrape().then((t) => (text = t));
    await jest.advanceTimersByTimeAsync(SCRAPE_READ_TIMEOUT_MS - 1);
    expect(text).toBeUndefined();
    await jest.advanceTimersByTimeAsync(1);
    expect(text).toBe(`# HELP gatehouse_things_waiting ${help}\n# TYPE gatehouse_things_waiting gauge`);
  });

  it('shares the read in flight between scrapes, so a hung database does not pile them up', async () => {
    let answer!: (n: number) => void;
    read.mockReturnValueOnce(new Promise((resolve) => (answer = resolve))).mockResolvedValueOnce(9);
    const first = scrape();
    const second = scrape();
    answer(5);
    expect(await first).toContain('\ngatehouse_things_waiting 5');
    expect(await second).toContain('\ngatehouse_things_waiting 5');
    expect(read).toHaveBeenCalledTimes(1);
    // Once answered, the next scrape reads again.
    expect(await scrape()).toContain('\ngatehouse_things_waiting 9');
  });
});
