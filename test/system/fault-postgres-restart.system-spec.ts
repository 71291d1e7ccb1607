import { Logger } from '@nestjs/common';
import { EventEmitter2 } from '@nestjs/event-emitter';
import { Client } from 'pg';

import { loadConfig } from '../../src/platform/config/app-config';
import { RevocationFeed } from '../../src/sessions/revocation-feed.service';
import { signedInUser } from '../support/accounts';
import { CallLog, eventually, LEAK, Load, sleep } from '../support/fault-load';
import { OwnPostgres } from '../support/own-servers';
import { SmtpSink } from '../support/smtp-sink';
import { SHOW_TEST_LOGS, startTestApp, TestApp, uniqueUser } from '../support/test-app';

/**
 * "Fast" during the outage: every 503 comes back within this, far below any client's timeout (and
 * below the pool's 3 s connect timeout, which a refused or terminated connection never waits for).
 * Generous because other suites load the same two cores.
 */
const OUTAGE_ANSWER_BOUND_MS = 2_500;
/** The promise: back to normal within 10 s of PostgreSQL being back. */
const RECOVERY_MS = 10_000;
/** How long PostgreSQL stays down between its stop and its start. */
const DOWN_MS = 1_500;

// The service runs in this process: an uncaught exception or unhandled rejection, which would end
// it in production, fails the test (jest reports both).
describe('PostgreSQL restarted under load', () => {
  let pg: OwnPostgres | undefined;
  let t: TestApp | undefined;
  const sink = new SmtpSink();

  beforeAll(async () => {
    pg = await OwnPostgres.create();
    await pg.start();
    await sink.start();
    t = await startTestApp({ DATABASE_URL: pg.url(), SMTP_URL: sink.url });
  });
  afterAll(async () => {
    await t?.close().catch(() => undefined);
    await pg?.destroy();
    await sink.stop();
  });

  it('answers success or a prompt 503 throughout, is back to normal within 10 s, and revocations and mail work afterwards', async () => {
    const app = t!;
    const users = await Promise.all(
      [1, 2, 3, 4].map(async (i) => {
        const u = uniqueUser(`restart${i}`);
        return { ...u, ...(await signedInUser(app, u)) };
      }),
    );
    const feed = app.app.get(RevocationFeed);
    const generationBefore = await eventually('revocation feed live before the restart', 10_000, () => feed.generation);

    const log = new CallLog();
    const bearer = (token: string): { authorization: string } => ({ authorization: `Bearer ${token}` });
    const load = new Load([
      // Log in, then refresh that new session: each chain starts afresh, so a 503 never leaves a stale token behind.
      ...[users[0], users[1]].map((u) => async () => {
        const login = await log.http(
          'POST /auth/login',
          () => app.http().post('/auth/login').send({ email: u.email, password: u.password }),
          (status, body) => status === 200 && typeof (body.tokens as Record<string, unknown> | undefined)?.accessToken === 'string',
        );
        if (!login) return;
        const tokens = login.tokens as { refreshToken: string };
        await log.http(
          'POST /auth/refresh',
          () => app.http().post('/auth/refresh').send({ refreshToken: tokens.refreshToken }),
          (status, body) => status === 200 && body.sessionId === login.sessionId,
        );
      }),
      // Sessions made before the restart.
      async () => {
        const u = users[2];
        await log.http(
          'GET /auth/me',
          () => app.http().get('/auth/me').set(bearer(u.accessToken)),
          (status, body) => status === 200 && (body.user as { id?: string } | undefined)?.id === u.id,
        );
      },
      async () => {
        const u = users[3];
        await log.rpc(
          'auth.verify (TCP)',
          () => app.rpc.tcp.send('auth.verify', { accessToken: u.accessToken }),
          (reply) => reply.userId === u.id && reply.sessionId === u.sessionId,
        );
        await log.rpc(
          'users.findById (TCP)',
          () => app.rpc.tcp.send('users.findById', { id: u.id }),
          (reply) => reply.id === u.id,
        );
      },
    ]);

    load.start();
    await sleep(1_000);
    await pg!.stop();
    const downAt = Date.now();
    await sleep(DOWN_MS);
    await pg!.start();
    const backAt = Date.now();
    // Keep the load on until well past the promised recovery.
    await sleep(RECOVERY_MS + 3_000);
    await load.stop();

    const summary = log.summary();
    const wrong = log.records.filter((r) => r.outcome === 'wrong');
    expect({ wrong: wrong.slice(0, 5), summary }).toEqual({ wrong: [], summary });

    // The outage was felt, and felt promptly.
    const unavailable = log.records.filter((r) => r.outcome === 'unavailable');
    expect(unavailable.length).toBeGreaterThan(0);
    expect(unavailable.every((r) => r.startedAt >= downAt - 1_000 && r.startedAt <= backAt + RECOVERY_MS)).toBe(true);
    const slowest = Math.max(...unavailable.map((r) => r.endedAt - r.startedAt));
    const lastFailure = Math.max(...unavailable.map((r) => r.endedAt));
    // A measurement for whoever tunes the bounds; shown with the service logs.
    if (SHOW_TEST_LOGS)
      process.stdout.write(
        `restart under load: ${summary}; slowest 503 ${slowest} ms; last 503 ${lastFailure - backAt} ms after PostgreSQL was back\n`,
      );
    expect(slowest).toBeLessThanOrEqual(OUTAGE_ANSWER_BOUND_MS);

    // Within 10 s of PostgreSQL being back, everything succeeds, for every kind of call.
    const late = log.records.filter((r) => r.startedAt >= backAt + RECOVERY_MS);
    expect(late.filter((r) => r.outcome !== 'ok')).toEqual([]);
    expect(new Set(late.map((r) => r.op))).toEqual(new Set(log.records.map((r) => r.op)));

    await app.http().get('/health/live').expect(200);
    const ready = await app.http().get('/health/ready').expect(200);
    expect(ready.body.details.database.status).toBe('up');

    // The revocation feed is back (a new connection), and a logout bites at once over both transports.
    expect(feed.generation).toBeDefined();
    expect(feed.generation).toBeGreaterThan(generationBefore);
    const u = uniqueUser('afterrestart');
    const session = await signedInUser(app, u);
    await app.http().get('/auth/me').set(bearer(session.accessToken)).expect(200);
    expect(await app.rpc.tcp.send('auth.verify', { accessToken: session.accessToken })).toMatchObject({ userId: session.id });
    await app.http().post('/auth/logout').set(bearer(session.accessToken)).expect(204);
    const me = await app.http().get('/auth/me').set(bearer(session.accessToken)).expect(401);
    expect(me.body.code).toBe('UNAUTHORIZED');
    expect(await app.rpc.tcp.fail('auth.verify', { accessToken: session.accessToken })).toMatchObject({
      statusCode: 401,
      code: 'UNAUTHORIZED',
    });

    // The outbox worker resumed: a reset mail requested now is delivered.
    await app.http().post('/auth/password/forgot').send({ email: u.email }).expect(202);
    const reset = await eventually('the reset mail', RECOVERY_MS, () => sink.to(u.email).find((m) => m.subject === 'Reset your password'));
    expect(reset.links.some((link) => link.includes('/reset-password?token='))).toBe(true);
    expect(JSON.stringify(unavailable)).not.toMatch(LEAK);
  }, 120_000);
});

describe('the revocation feed while PostgreSQL is down', () => {
  let pg: OwnPostgres | undefined;
  let feed: RevocationFeed | undefined;

  afterAll(async () => {
    await feed?.onApplicationShutdown();
    await pg?.destroy();
    jest.restoreAllMocks();
  });

  it('says so once however many attempts it makes, and once when it is connected again', async () => {
    pg = await OwnPostgres.create();
    const warn = jest.spyOn(Logger.prototype, 'warn');
    const log = jest.spyOn(Logger.prototype, 'log');
    const attempts = jest.spyOn(Client.prototype, 'connect');
    const said = (spy: jest.SpyInstance, text: string): number =>
      spy.mock.calls.filter(([message]) => String(message).includes(text)).length;

    feed = new RevocationFeed(loadConfig({ NODE_ENV: 'test', DATABASE_URL: pg.url() }), new EventEmitter2());
    await feed.onModuleInit();
    expect(feed.generation).toBeUndefined();
    // It backs off 0.1, 0.5, 1 and 2 s: five attempts within about 4 s.
    await eventually('five connection attempts', 30_000, () => attempts.mock.calls.length >= 5);
    expect(said(warn, 'revocation feed not connected')).toBe(1);

    await pg.start();
    await eventually('the feed connected', 30_000, () => feed!.generation !== undefined);
    expect(said(log, 'revocation feed connected again')).toBe(1);
    expect(said(warn, 'revocation feed not connected')).toBe(1);
  });
});
