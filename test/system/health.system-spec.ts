import { OutboxWorker } from '../../src/mail/outbox-worker.service';
import { eventually, LEAK } from '../support/fault-load';
import { OwnPostgres, OwnRedis } from '../support/own-servers';
import { startTestApp, TestApp } from '../support/test-app';

/** HEALTH_TIMEOUT_MS in these tests. */
const CHECK_TIMEOUT_MS = 500;
/**
 * A probe against a hung dependency answers once its check gives up (CHECK_TIMEOUT_MS); this bound
 * leaves room for a loaded machine while staying far below a client or orchestrator timeout.
 */
const HUNG_ANSWER_BOUND_MS = 3_000;

describe('health: live and ready', () => {
  let t: TestApp | undefined;

  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => {
    await t?.close();
  });

  it('GET /health/live answers 200 without touching a dependency', async () => {
    const res = await t!.http().get('/health/live').expect(200);
    expect(res.body).toEqual({ status: 'ok' });
  });

  it('GET /health/ready answers 200 with the database, Redis and the outbox backlog', async () => {
    const res = await t!.http().get('/health/ready').expect(200);
    expect(res.body).toEqual({
      status: 'ok',
      info: res.body.details,
      error: {},
      details: {
        database: { status: 'up', responseTime: expect.any(Number) },
        redis: { status: 'up', responseTime: expect.any(Number) },
        outbox: { status: 'up', pending: expect.any(Number), oldestDueSeconds: expect.any(Number) },
      },
    });
  });

  it('leaves Redis out when REDIS_URL is not set', async () => {
    await t!.close();
    t = await startTestApp({ REDIS_URL: '' });
    const res = await t.http().get('/health/ready').expect(200);
    expect(Object.keys(res.body.details).sort()).toEqual(['database', 'outbox']);
  });
});

describe('health: the outbox backlog', () => {
  let pg: OwnPostgres | undefined;
  let t: TestApp | undefined;

  beforeAll(async () => {
    // A database of its own: the shared one holds other suites' mail.
    pg = await OwnPostgres.create();
    await pg.start();
  });
  afterAll(async () => {
    await t?.close().catch(() => undefined);
    await pg?.destroy();
  });

  async function queueDueMail(ageSeconds: number, count: number): Promise<void> {
    for (let i = 0; i < count; i += 1) {
      await t!.db.query(
        `INSERT INTO mail_outbox (kind, recipient, subject, text_body, html_body, next_attempt_at, created_at)
         VALUES ('test', $1, 'stuck', 'body', '<p>body</p>', now() - make_interval(secs => $2), now() - make_interval(secs => $2))`,
        [`stuck${i}@example.com`, ageSeconds],
      );
    }
  }

  it('reports the pending count and the oldest due age, and by default never fails readiness for it', async () => {
    t = await startTestApp({ DATABASE_URL: pg!.url() });
    // As if every worker had stopped taking mail.
    await t.app.get(OutboxWorker).beforeApplicationShutdown();
    await queueDueMail(3_600, 3);
    const res = await t.http().get('/health/ready').expect(200);
    expect(res.body.details.outbox).toEqual({ status: 'up', pending: 3, oldestDueSeconds: expect.any(Number) });
    expect(res.body.details.outbox.oldestDueSeconds).toBeGreaterThanOrEqual(3_600);
    await t.db.query(`DELETE FROM mail_outbox`);
    await t.close();
    t = undefined;
  });

  it('fails readiness when due mail waits longer than HEALTH_OUTBOX_MAX_DUE_AGE, and recovers when it is taken', async () => {
    t = await startTestApp({ DATABASE_URL: pg!.url(), HEALTH_OUTBOX_MAX_DUE_AGE: '600' });
    await t.app.get(OutboxWorker).beforeApplicationShutdown();
    await queueDueMail(60, 1);
    expect((await t.http().get('/health/ready').expect(200)).body.details.outbox).toMatchObject({ status: 'up', pending: 1 });

    await queueDueMail(3_600, 1);
    const res = await t.http().get('/health/ready').expect(503);
    expect(res.body).toMatchObject({ statusCode: 503, code: 'SERVICE_UNAVAILABLE', message: 'not ready: outbox', status: 'error' });
    expect(res.body.details.outbox).toEqual({
      status: 'down',
      pending: 2,
      oldestDueSeconds: expect.any(Number),
      message: expect.stringMatching(/^due mail has waited \d+ s for a worker \(limit 600 s\)$/),
    });
    expect(res.body.details.database.status).toBe('up');

    // A worker takes it (the row leaves the backlog): ready again.
    await t.db.query(`UPDATE mail_outbox SET status = 'sent', sent_at = now(), text_body = NULL, html_body = NULL`);
    expect((await t.http().get('/health/ready').expect(200)).body.details.outbox).toEqual({
      status: 'up',
      pending: 0,
      oldestDueSeconds: 0,
    });
  });
});

describe('health: a hung dependency', () => {
  let pg: OwnPostgres | undefined;
  let redis: OwnRedis | undefined;
  let t: TestApp | undefined;

  beforeAll(async () => {
    pg = await OwnPostgres.create();
    redis = await OwnRedis.create();
    await Promise.all([pg.start(), redis.start()]);
    t = await startTestApp({ DATABASE_URL: pg.url(), REDIS_URL: redis.url, HEALTH_TIMEOUT_MS: String(CHECK_TIMEOUT_MS) });
  });
  afterAll(async () => {
    pg?.resume();
    redis?.resume();
    await t?.close().catch(() => undefined);
    await pg?.destroy();
    await redis?.destroy();
  });

  async function timedReady(): Promise<{
    status: number;
    body: { details: Record<string, { status: string }> };
    text: string;
    ms: number;
  }> {
    const started = Date.now();
    const res = await t!.http().get('/health/ready');
    return { status: res.status, body: res.body, text: res.text, ms: Date.now() - started };
  }

  it('answers 503 promptly while Redis is frozen, then 200 once it runs again', async () => {
    await t!.http().get('/health/ready').expect(200);
    redis!.pause();
    const res = await timedReady();
    expect(res.status).toBe(503);
    expect(res.ms).toBeLessThan(HUNG_ANSWER_BOUND_MS);
    expect(res.body).toMatchObject({ code: 'SERVICE_UNAVAILABLE', message: 'not ready: redis' });
    expect(res.body.details.redis).toEqual({ status: 'down', message: expect.any(String) });
    expect(res.body.details.database.status).toBe('up');
    redis!.resume();
    await eventually('ready again', 10_000, async () => (await t!.http().get('/health/ready')).status === 200);
  });

  it('answers 503 promptly while PostgreSQL is frozen, then 200 once it runs again', async () => {
    pg!.pause();
    const res = await timedReady();
    expect(res.status).toBe(503);
    expect(res.ms).toBeLessThan(HUNG_ANSWER_BOUND_MS);
    expect(res.body).toMatchObject({ code: 'SERVICE_UNAVAILABLE', message: 'not ready: database, outbox' });
    expect(res.body.details.database).toEqual({ status: 'down', message: `no answer within ${CHECK_TIMEOUT_MS} ms` });
    expect(res.text).not.toMatch(LEAK);
    // Repeated probes do not pile up: each still answers in time.
    for (let i = 0; i < 3; i += 1) expect((await timedReady()).ms).toBeLessThan(HUNG_ANSWER_BOUND_MS);
    pg!.resume();
    await eventually('ready again', 10_000, async () => (await t!.http().get('/health/ready')).status === 200);
  });
});
