import { randomUUID } from 'node:crypto';

import { verifiedUser } from '../support/accounts';
import { requestHandedOver } from '../support/raw-http';
import { ownDatabase } from '../support/services';
import { SmtpSink } from '../support/smtp-sink';
import { TcpProxy } from '../support/tcp-proxy';
import { freePort, startTestApp, TestApp, uniqueUser } from '../support/test-app';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the Prometheus text format (the subset prom-client writes). */
function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) throw new Error(`not an exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, key, value] of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[key] = value;
    samples.push({ name: match[1], labels, value: Number(match[3]) });
  }
  return samples;
}

class Scrape {
  readonly samples: Sample[];

  constructor(readonly text: string) {
    this.samples = parseExposition(text);
  }

  /** The value of the series with exactly these labels; undefined when there is none. */
  value(name: string, labels: Record<string, string> = {}): number | undefined {
    const wanted = Object.entries(labels);
    const sample = this.samples.find(
      (s) => s.name === name && Object.keys(s.labels).length === wanted.length && wanted.every(([k, v]) => s.labels[k] === v),
    );
    return sample?.value;
  }

  series(name: string): Sample[] {
    return this.samples.filter((s) => s.name === name);
  }

  /** How much a series grew since an earlier scrape (a series absent before counts from 0). */
  delta(before: Scrape, name: string, labels: Record<string, string> = {}): number {
    return (this.value(name, labels) ?? 0) - (before.value(name, labels) ?? 0);
  }
}

async function scrape(t: TestApp): Promise<Scrape> {
  const res = await t.http().get('/metrics').expect(200);
  expect(res.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
  return new Scrape(res.text);
}

/** Retries the assertion until it passes or the deadline is reached (for work done in the background). */
async function eventually(assertion: () => Promise<void>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      await assertion();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

const LOGIN_FAILURES = 'gatehouse_login_failures_total';
const RPC_REQUESTS = 'gatehouse_rpc_requests_total';

describe('GET /metrics', () => {
  const sink = new SmtpSink();
  let db: { url: string; drop(): Promise<void> };
  let t: TestApp;

  beforeAll(async () => {
    await sink.start();
    db = await ownDatabase('metrics');
    // No Redis transport: requests other apps publish on a shared Redis would be counted here too.
    t = await startTestApp({
      DATABASE_URL: db.url,
      REDIS_URL: '',
      SMTP_URL: sink.url,
      REQUIRE_EMAIL_VERIFICATION: 'true',
      LOCKOUT_THRESHOLD: '2',
      LOCKOUT_DURATION: '600',
      REFRESH_REUSE_INTERVAL: '0',
    });
  });
  afterAll(async () => {
    await t.close();
    await sink.stop();
    await db.drop();
  });

  it('answers in the Prometheus text format with runtime and database pool metrics', async () => {
    const m = await scrape(t);
    for (const name of [
      'nodejs_eventloop_lag_seconds',
      'nodejs_eventloop_lag_p50_seconds',
      'nodejs_eventloop_lag_p99_seconds',
      'nodejs_heap_size_used_bytes',
      'process_resident_memory_bytes',
      'nodejs_active_handles_total',
      'process_cpu_seconds_total',
    ]) {
      expect(m.series(name).length).toBeGreaterThan(0);
    }
    expect(m.text).toContain('# TYPE nodejs_gc_duration_seconds histogram');
    // DATABASE_POOL_SIZE is 5 in the tests; the app has used the pool since it migrated at start.
    expect(m.value('gatehouse_db_pool_max_clients')).toBe(5);
    const total = m.value('gatehouse_db_pool_clients');
    const idle = m.value('gatehouse_db_pool_idle_clients');
    expect(total).toBeGreaterThanOrEqual(1);
    expect(total).toBeLessThanOrEqual(5);
    expect(idle).toBeGreaterThanOrEqual(0);
    expect(idle).toBeLessThanOrEqual(total!);
    expect(m.value('gatehouse_db_pool_waiting_requests')).toBe(0);
    // Every business counter is there before its first event.
    expect(m.value('gatehouse_login_successes_total')).toBe(0);
    expect(m.value('gatehouse_account_lockouts_total')).toBe(0);
    expect(m.value('gatehouse_refresh_token_reuse_detections_total')).toBe(0);
    for (const reason of ['invalid_credentials', 'locked', 'inactive', 'unverified', 'rate_limited', 'error']) {
      expect(m.value(LOGIN_FAILURES, { reason })).toBe(0);
    }
    // Every metric of the application is named gatehouse_…, with _total on counters.
    for (const [, name, type] of m.text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
      if (name.startsWith('nodejs_') || name.startsWith('process_')) continue;
      expect(name).toMatch(/^gatehouse_/);
      if (type === 'counter') expect(name).toMatch(/_total$/);
    }
  });

  it('counts HTTP requests by route template, method and status, with a latency histogram', async () => {
    const before = await scrape(t);
    const id = randomUUID();
    // Refused by the guard, twice.
    await t.http().get(`/users/${id}`).expect(401);
    await t.http().get(`/users/${id}`).expect(401);
    // No such route.
    await t.http().get(`/no-such-route/${id}`).expect(404);
    // Refused by the body limit before any handler runs.
    const huge = await t
      .http()
      .post('/auth/login')
      .set('content-type', 'application/json')
      .send(JSON.stringify({ email: 'a@example.com', password: 'x'.repeat(70 * 1024) }));
    expect(huge.status).toBe(413);
    await t.http().get('/health/live').expect(200);
    const after = await scrape(t);

    const users = { method: 'GET', route: '/users/:id', status_code: '401' };
    expect(after.delta(before, 'gatehouse_http_requests_total', users)).toBe(2);
    expect(after.delta(before, 'gatehouse_http_requests_total', { method: 'GET', route: 'unmatched', status_code: '404' })).toBe(1);
    expect(after.delta(before, 'gatehouse_http_requests_total', { method: 'POST', route: '/auth/login', status_code: '413' })).toBe(1);
    expect(after.delta(before, 'gatehouse_http_requests_total', { method: 'GET', route: '/health/live', status_code: '200' })).toBe(1);
    // The URL itself is never a label value.
    expect(after.text).not.toContain(id);
    // Scrapes are not counted.
    expect(after.samples.filter((s) => s.labels.route === '/metrics')).toEqual([]);
    // A refused oversized body is not a login attempt.
    for (const reason of ['invalid_credentials', 'error']) expect(after.delta(before, LOGIN_FAILURES, { reason })).toBe(0);

    // The histogram: cumulative buckets ending in +Inf, and a count and a sum per label set.
    const buckets = after
      .series('gatehouse_http_request_duration_seconds_bucket')
      .filter((s) => s.labels.route === '/users/:id' && s.labels.status_code === '401' && s.labels.method === 'GET');
    expect(buckets.map((b) => b.labels.le)).toEqual([
      '0.001',
      '0.0025',
      '0.005',
      '0.01',
      '0.025',
      '0.05',
      '0.1',
      '0.25',
      '0.5',
      '1',
      '2.5',
      '5',
      '10',
      '+Inf',
    ]);
    for (let i = 1; i < buckets.length; i += 1) expect(buckets[i].value).toBeGreaterThanOrEqual(buckets[i - 1].value);
    expect(after.delta(before, 'gatehouse_http_request_duration_seconds_bucket', { ...users, le: '+Inf' })).toBe(2);
    expect(after.delta(before, 'gatehouse_http_request_duration_seconds_count', users)).toBe(2);
    expect(after.delta(before, 'gatehouse_http_request_duration_seconds_sum', users)).toBeGreaterThan(0);
  });

  it('counts a request whose client left before the answer once, as 499, and URLs the router refuses', async () => {
    const before = await scrape(t);
    const socket = await requestHandedOver(
      t.baseUrl,
      'POST /auth/login HTTP/1.1\r\nHost: gatehouse\r\nContent-Type: application/json\r\nContent-Length: 100\r\n',
    );
    socket.end('{"email":', () => socket.destroy());
    await t.http().get('/users/%E0%A4%A').expect(400);
    await t
      .http()
      .get(`/users/${'a'.repeat(150)}`)
      .expect(404);
    const left = { method: 'POST', route: '/auth/login', status_code: '499' };
    await eventually(async () => expect((await scrape(t)).delta(before, 'gatehouse_http_requests_total', left)).toBe(1));
    const after = await scrape(t);
    expect(after.delta(before, 'gatehouse_http_request_duration_seconds_count', left)).toBe(1);
    expect(after.delta(before, 'gatehouse_http_requests_total', { method: 'GET', route: 'unmatched', status_code: '400' })).toBe(1);
    expect(after.delta(before, 'gatehouse_http_requests_total', { method: 'GET', route: 'unmatched', status_code: '404' })).toBe(1);
    const total = (m: Scrape): number => m.series('gatehouse_http_requests_total').reduce((sum, s) => sum + s.value, 0);
    expect(total(after) - total(before)).toBe(3);
  });

  it('counts password logins: successes, and failures by reason', async () => {
    const ok = await verifiedUser(t, 'database', 'mok');
    const unverified = uniqueUser('munverified');
    await t.http().post('/auth/register').send(unverified).expect(202);
    const deactivated = await verifiedUser(t, 'database', 'mdeact');
    await t.db.query(`UPDATE users SET deactivated_at = now() WHERE email = $1`, [deactivated.email]);

    const before = await scrape(t);
    await t.http().post('/auth/login').send({ email: ok.email, password: ok.password }).expect(200);
    await t.rpc.tcp.send('auth.login', { username: ok.username, password: ok.password });
    await t.http().post('/auth/login').send({ email: ok.email, password: 'not the password' }).expect(401);
    await t.http().post('/auth/login').send({ email: unverified.email, password: unverified.password }).expect(403);
    await t.http().post('/auth/login').send({ email: deactivated.email, password: deactivated.password }).expect(403);
    // Refused by validation: not an attempt.
    await t.http().post('/auth/login').send({ password: ok.password }).expect(400);
    // A session for a user without a password is not a password login.
    await t.rpc.tcp.send('auth.loginWithUser', {
      userId: (await t.rpc.tcp.send<{ id: string }>('users.findByEmail', { email: ok.email })).id,
    });
    const after = await scrape(t);

    expect(after.delta(before, 'gatehouse_login_successes_total')).toBe(2);
    expect(after.delta(before, LOGIN_FAILURES, { reason: 'invalid_credentials' })).toBe(1);
    expect(after.delta(before, LOGIN_FAILURES, { reason: 'unverified' })).toBe(1);
    expect(after.delta(before, LOGIN_FAILURES, { reason: 'inactive' })).toBe(1);
    for (const reason of ['locked', 'rate_limited', 'error']) expect(after.delta(before, LOGIN_FAILURES, { reason })).toBe(0);
    expect(
      after
        .series(LOGIN_FAILURES)
        .map((s) => s.labels.reason)
        .sort(),
    ).toEqual(['error', 'inactive', 'invalid_credentials', 'locked', 'rate_limited', 'unverified']);
  });

  it('counts a lockout once, when the account becomes locked, and the refused attempts as locked', async () => {
    const u = await verifiedUser(t, 'database', 'mlock');
    const before = await scrape(t);
    // LOCKOUT_THRESHOLD is 2: the second failure starts the lock.
    await t.http().post('/auth/login').send({ email: u.email, password: 'wrong password one' }).expect(401);
    await t.http().post('/auth/login').send({ email: u.email, password: 'wrong password two' }).expect(401);
    const middle = await scrape(t);
    expect(middle.delta(before, 'gatehouse_account_lockouts_total')).toBe(1);
    expect(middle.delta(before, LOGIN_FAILURES, { reason: 'invalid_credentials' })).toBe(2);

    // Refused while locked, the right password included, over REST and message patterns.
    await t.http().post('/auth/login').send({ email: u.email, password: u.password }).expect(429);
    await t.http().post('/auth/login').send({ email: u.email, password: 'wrong password three' }).expect(429);
    expect((await t.rpc.tcp.fail('auth.login', { email: u.email, password: u.password })).code).toBe('TOO_MANY_REQUESTS');
    const after = await scrape(t);
    expect(after.delta(middle, LOGIN_FAILURES, { reason: 'locked' })).toBe(3);
    expect(after.delta(middle, 'gatehouse_account_lockouts_total')).toBe(0);
    expect(after.delta(middle, 'gatehouse_login_successes_total')).toBe(0);
  });

  it('counts a refresh-token reuse detection (and not a refusal within the race interval or an unknown token)', async () => {
    const u = await verifiedUser(t, 'database', 'mreuse');
    const login = await t.http().post('/auth/login').send({ email: u.email, password: u.password }).expect(200);
    const first = login.body.tokens.refreshToken as string;
    const before = await scrape(t);
    await t.http().post('/auth/refresh').send({ refreshToken: first }).expect(200);
    await t.http().post('/auth/refresh').send({ refreshToken: 'never-issued-token' }).expect(401);
    const reused = await t.http().post('/auth/refresh').send({ refreshToken: first }).expect(401);
    expect(reused.body.code).toBe('REFRESH_TOKEN_REUSED');
    const after = await scrape(t);
    expect(after.delta(before, 'gatehouse_refresh_token_reuse_detections_total')).toBe(1);
  });

  it('counts message-pattern requests per pattern, transport and outcome, refusals by a guard or validation included', async () => {
    const u = await verifiedUser(t, 'database', 'mrpc');
    const before = await scrape(t);
    const result = await t.rpc.tcp.send<{ tokens: { accessToken: string } }>('auth.login', { email: u.email, password: u.password });
    expect((await t.rpc.tcp.fail('auth.login', { email: u.email, password: 'not the password' })).code).toBe('INVALID_CREDENTIALS');
    expect((await t.rpc.tcp.fail('auth.login', { password: u.password })).code).toBe('VALIDATION_FAILED');
    await t.rpc.tcp.send('auth.verify', { accessToken: result.tokens.accessToken });
    // Refused by the guard, before any handler runs.
    expect((await t.rpc.tcp.fail('auth.verify', { accessToken: 'not-a-token' })).code).toBe('UNAUTHORIZED');
    expect((await t.rpc.tcp.fail('auth.logout', { accessToken: 'not-a-token' })).code).toBe('UNAUTHORIZED');
    expect(await t.rpc.tcp.send('users.findById', { id: randomUUID() })).toBeNull();
    const after = await scrape(t);

    const calls: Array<[string, string, number]> = [
      ['auth.login', 'ok', 1],
      ['auth.login', 'INVALID_CREDENTIALS', 1],
      ['auth.login', 'VALIDATION_FAILED', 1],
      ['auth.verify', 'ok', 1],
      ['auth.verify', 'UNAUTHORIZED', 1],
      ['auth.logout', 'UNAUTHORIZED', 1],
      ['users.findById', 'ok', 1],
    ];
    for (const [pattern, outcome, n] of calls) {
      const labels = { pattern, transport: 'tcp', outcome };
      expect([pattern, outcome, after.delta(before, RPC_REQUESTS, labels)]).toEqual([pattern, outcome, n]);
      expect(after.delta(before, 'gatehouse_rpc_request_duration_seconds_count', labels)).toBe(n);
      expect(after.delta(before, 'gatehouse_rpc_request_duration_seconds_bucket', { ...labels, le: '+Inf' })).toBe(n);
    }
    const total = (m: Scrape): number => m.series(RPC_REQUESTS).reduce((sum, s) => sum + s.value, 0);
    expect(total(after) - total(before)).toBe(7);
  });

  it('counts mail sent, and reports the outbox backlog while SMTP is down', async () => {
    // Settled: every mail queued so far is sent, so the counters no longer move on their own.
    await eventually(async () => {
      const rows: Array<{ n: number }> = await t.db.query(`SELECT count(*)::int AS n FROM mail_outbox WHERE status <> 'sent'`);
      expect(rows[0].n).toBe(0);
    });
    const before = await scrape(t);
    expect(before.value('gatehouse_mail_outbox_pending')).toBe(0);
    const received = sink.received.length;

    const u = uniqueUser('mmail');
    await t.http().post('/auth/register').send(u).expect(202);
    await sink.waitFor(1, u.email);
    await eventually(async () => expect((await scrape(t)).delta(before, 'gatehouse_mail_sent_total')).toBe(1));

    await sink.stop();
    const late = uniqueUser('mlate');
    await t.http().post('/auth/register').send(late).expect(202);
    await t.http().post('/auth/password/forgot').send({ email: u.email }).expect(202);
    // Two mails wait (and fail at least once) while the server is gone.
    await eventually(async () => {
      const m = await scrape(t);
      expect(m.value('gatehouse_mail_outbox_pending')).toBe(2);
      expect(m.delta(before, 'gatehouse_mail_send_failures_total', { final: 'false' })).toBeGreaterThanOrEqual(1);
    });

    await sink.start();
    await sink.waitFor(received + 3);
    await eventually(async () => {
      const m = await scrape(t);
      expect(m.value('gatehouse_mail_outbox_pending')).toBe(0);
      expect(m.delta(before, 'gatehouse_mail_sent_total')).toBe(3);
    });
    const after = await scrape(t);
    expect(after.delta(before, 'gatehouse_mail_send_failures_total', { final: 'true' })).toBe(0);
    // Every failed attempt was counted: the attempts beyond the successful one of each mail.
    const rows: Array<{ failed: number }> = await t.db.query(
      `SELECT sum(attempts - 1)::int AS failed FROM mail_outbox WHERE recipient = ANY($1)`,
      [[u.email, late.email]],
    );
    expect(after.delta(before, 'gatehouse_mail_send_failures_total', { final: 'false' })).toBe(rows[0].failed);
  });
});

describe('GET /metrics: rate-limited logins, mail given up, and an unreachable database', () => {
  let db: { url: string; drop(): Promise<void> };
  let t: TestApp | undefined;

  beforeAll(async () => {
    db = await ownDatabase('metrics');
  });
  afterEach(async () => {
    await t?.close().catch(() => undefined);
    t = undefined;
  });
  afterAll(() => db.drop());

  it('counts logins refused by the address rate limit; each app counts only its own traffic', async () => {
    t = await startTestApp({ DATABASE_URL: db.url, REDIS_URL: '', RATE_LIMIT_PER_MINUTE: '1' });
    const fresh = await scrape(t);
    // A new app starts from zero, whatever other apps of this process counted.
    expect(fresh.value('gatehouse_login_successes_total')).toBe(0);
    expect(fresh.series('gatehouse_http_requests_total')).toEqual([]);

    const statuses: number[] = [];
    for (let i = 0; i < 3; i += 1) {
      statuses.push((await t.http().post('/auth/login').send({ email: 'nobody@example.com', password: 'some password' })).status);
    }
    // One window allows one; three requests span at most two windows.
    const limited = statuses.filter((s) => s === 429).length;
    expect(limited).toBeGreaterThanOrEqual(1);
    expect(statuses.filter((s) => s === 401).length).toBe(3 - limited);
    const m = await scrape(t);
    expect(m.value(LOGIN_FAILURES, { reason: 'rate_limited' })).toBe(limited);
    expect(m.value(LOGIN_FAILURES, { reason: 'invalid_credentials' })).toBe(3 - limited);
    expect(m.value('gatehouse_http_requests_total', { method: 'POST', route: '/auth/login', status_code: '429' })).toBe(limited);
  });

  it('counts failed sends, and the final one when a mail is given up', async () => {
    const deadPort = await freePort();
    t = await startTestApp({
      DATABASE_URL: db.url,
      REDIS_URL: '',
      SMTP_URL: `smtp://127.0.0.1:${deadPort}`,
      OUTBOX_MAX_ATTEMPTS: '2',
    });
    const u = uniqueUser('mfail');
    await t.http().post('/auth/register').send(u).expect(201);
    await eventually(async () => {
      const rows: Array<{ status: string }> = await t!.db.query(`SELECT status FROM mail_outbox WHERE recipient = $1`, [u.email]);
      expect(rows).toEqual([{ status: 'failed' }]);
    });
    const m = await scrape(t);
    expect(m.value('gatehouse_mail_send_failures_total', { final: 'false' })).toBe(1);
    expect(m.value('gatehouse_mail_send_failures_total', { final: 'true' })).toBe(1);
    expect(m.value('gatehouse_mail_sent_total')).toBe(0);
    expect(m.value('gatehouse_mail_outbox_pending')).toBe(0);
  });

  it('still answers while the database is unreachable, without the outbox gauge', async () => {
    const real = new URL(db.url);
    const proxy = new TcpProxy(real.hostname, Number(real.port || 5432));
    const viaProxy = new URL(db.url);
    viaProxy.port = String(await proxy.start());
    t = await startTestApp({ DATABASE_URL: viaProxy.toString(), REDIS_URL: '' });
    await t.http().post('/auth/login').send({ email: 'nobody@example.com', password: 'some password' }).expect(401);
    expect((await scrape(t)).value('gatehouse_mail_outbox_pending')).toBe(0);

    await proxy.cut();
    await t.http().post('/auth/login').send({ email: 'nobody@example.com', password: 'some password' }).expect(503);
    const m = await scrape(t);
    expect(m.value('gatehouse_mail_outbox_pending')).toBeUndefined();
    expect(m.text).toContain('# TYPE gatehouse_mail_outbox_pending gauge');
    expect(m.value('gatehouse_db_pool_max_clients')).toBe(5);
    expect(m.value('gatehouse_http_requests_total', { method: 'POST', route: '/auth/login', status_code: '503' })).toBe(1);
    expect(m.value(LOGIN_FAILURES, { reason: 'error' })).toBe(1);
    expect(m.series('nodejs_eventloop_lag_p99_seconds').length).toBe(1);
  });
});
