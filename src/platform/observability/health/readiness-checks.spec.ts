import { HealthIndicatorService, type HealthIndicatorResult } from '@nestjs/terminus';
import type { DataSource } from 'typeorm';

import type { AppConfig } from '../../config/app-config';
import type { DatabaseConnection, DatabaseState } from '../../database/database-connection';
import { ReadinessChecks, type ReadinessCheck } from './readiness-checks';

const TIMEOUT_MS = 50;

describe('ReadinessChecks: the checks features add', () => {
  let database: { state: DatabaseState; ready: boolean };
  let checks: ReadinessChecks;

  function readinessChecks(redis?: AppConfig['redis']): ReadinessChecks {
    const config = { health: { timeoutMs: TIMEOUT_MS, outboxMaxDueAgeSeconds: 0 }, redis } as AppConfig;
    // A pool that answers SELECT 1, so the database check is up while the connection is ready.
    const dataSource = { driver: { master: { query: () => Promise.resolve({ rows: [{ '?column?': 1 }] }) } } } as unknown as DataSource;
    return new ReadinessChecks(config, dataSource, database as DatabaseConnection, new HealthIndicatorService());
  }

  beforeEach(() => {
    database = { state: 'ready', ready: true };
    checks = readinessChecks();
  });

  /** The entries of the body, in order, as terminus would merge them. */
  async function entries(): Promise<HealthIndicatorResult> {
    const results = await Promise.all(checks.list().map((check) => check()));
    return Object.assign({}, ...results) as HealthIndicatorResult;
  }

  it('reports an added check after the database, with the details it gives', async () => {
    checks.addCheck('queue', () => Promise.resolve({ details: { pending: 2, oldestDueSeconds: 7 } }));
    const body = await entries();
    expect(Object.keys(body)).toEqual(['database', 'queue']);
    expect(body.queue).toEqual({ status: 'up', pending: 2, oldestDueSeconds: 7 });
  });

  it('lists Redis last when REDIS_URL is set', async () => {
    checks = readinessChecks({ url: 'redis://127.0.0.1:1' } as AppConfig['redis']);
    checks.addCheck('a', () => Promise.resolve({ details: {} }));
    // Never connected (onModuleInit not run): down, and last.
    expect(Object.entries(await entries())).toEqual([
      ['database', { status: 'up', responseTime: expect.any(Number) }],
      ['a', { status: 'up' }],
      ['redis', { status: 'down', message: 'not connected' }],
    ]);
  });

  it('gives the check the time it has', async () => {
    const check = jest.fn<ReturnType<ReadinessCheck>, Parameters<ReadinessCheck>>(() => Promise.resolve({ details: {} }));
    checks.addCheck('queue', check);
    await entries();
    expect(check).toHaveBeenCalledWith(TIMEOUT_MS);
  });

  it('reports a failure down, with its details and message', async () => {
    checks.addCheck('queue', () => Promise.resolve({ details: { pending: 1 }, failure: 'too old' }));
    expect((await entries()).queue).toEqual({ status: 'down', pending: 1, message: 'too old' });
  });

  it("reports a check that throws as unreachable, never with the error's text", async () => {
    checks.addCheck('queue', () => Promise.reject(new Error('connect ECONNREFUSED 10.0.0.5:5432 password=secret')));
    checks.addCheck('sync', () => {
      throw new Error('boom at db.internal');
    });
    const body = await entries();
    expect(body.queue).toEqual({ status: 'down', message: 'unreachable' });
    expect(body.sync).toEqual({ status: 'down', message: 'unreachable' });
  });

  it('gives up on a check that does not answer within HEALTH_TIMEOUT_MS', async () => {
    checks.addCheck('queue', () => new Promise(() => undefined));
    const started = Date.now();
    expect((await entries()).queue).toEqual({ status: 'down', message: `no answer within ${TIMEOUT_MS} ms` });
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it.each<[DatabaseState, string]>([
    ['connecting', 'not connected yet'],
    ['starting', 'starting'],
  ])('while the database is %s, reports a check that reads it down with that state, without running it', async (state, message) => {
    database = { state, ready: false };
    checks = readinessChecks();
    const reads = jest.fn(() => Promise.resolve({ details: { pending: 0 } }));
    const other = jest.fn(() => Promise.resolve({ details: { fine: true } }));
    checks.addCheck('queue', reads, { readsDatabase: true });
    checks.addCheck('other', other);
    const body = await entries();
    expect(body.database).toEqual({ status: 'down', message });
    expect(body.queue).toEqual({ status: 'down', message });
    expect(reads).not.toHaveBeenCalled();
    expect(body.other).toEqual({ status: 'up', fine: true });
  });

  it('refuses a second check under a name already taken', () => {
    checks.addCheck('queue', () => Promise.resolve({ details: {} }));
    expect(() => checks.addCheck('queue', () => Promise.resolve({ details: {} }))).toThrow('a readiness check named queue exists already');
    expect(() => checks.addCheck('database', () => Promise.resolve({ details: {} }))).toThrow();
    expect(() => checks.addCheck('redis', () => Promise.resolve({ details: {} }))).toThrow();
  });
});
