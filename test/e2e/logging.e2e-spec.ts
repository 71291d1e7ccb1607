import { mailedToken } from '../support/accounts';
import { requestHandedOver } from '../support/raw-http';
import { SmtpSink } from '../support/smtp-sink';
import { startTestApp, TestApp, uniqueUser } from '../support/test-app';

/** Collects the service's JSON log lines. */
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

class LogCapture {
  readonly lines: string[] = [];
  write(chunk: string): void {
    for (const line of chunk.split('\n')) if (line.trim()) this.lines.push(line);
  }
  records(): Array<Record<string, unknown>> {
    return this.lines.map((line) => JSON.parse(line) as Record<string, unknown>);
  }
  requestLines(id: string): Array<Record<string, unknown>> {
    return this.records().filter((r) => (r.req as { id?: string } | undefined)?.id === id && r.res !== undefined);
  }
  /** The request's lines once its line is out (it is written when the response has been sent). */
  async settledRequestLines(id: string): Promise<Array<Record<string, unknown>>> {
    for (let waited = 0; waited < 2000 && this.requestLines(id).length === 0; waited += 20) await sleep(20);
    await sleep(50);
    return this.requestLines(id);
  }
}

// One app per file: the pino logger of nestjs-pino is process-wide (jest gives each file its own).
describe('structured logs: JSON lines, one per request with its id, secrets never written', () => {
  const APP_URL = 'https://app.example.test';
  const logs = new LogCapture();
  const sink = new SmtpSink();
  let t: TestApp;
  const u = uniqueUser('logs');

  beforeAll(async () => {
    await sink.start();
    t = await startTestApp(
      { LOG_LEVEL: 'info', AUTH_COOKIES: 'true', APP_URL, SMTP_URL: sink.url, CORS_ORIGINS: APP_URL },
      { logDestination: logs },
    );
  });
  afterAll(async () => {
    await t.close();
    await sink.stop();
  });

  it('writes only JSON lines with level, time, service and message', async () => {
    await t.http().get('/health/live').expect(200);
    expect(logs.lines.length).toBeGreaterThan(0);
    for (const record of logs.records()) {
      expect(record).toEqual(expect.objectContaining({ level: expect.any(Number), time: expect.any(String), service: 'gatehouse' }));
      expect(typeof record.msg).toBe('string');
    }
  });

  it('logs each HTTP request once, under the id it sends back as X-Request-Id', async () => {
    const res = await t.http().post('/auth/register').send(u).expect(201);
    const id = res.headers['x-request-id'];
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    const lines = await logs.settledRequestLines(id);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toEqual(
      expect.objectContaining({
        level: 30,
        msg: 'POST /auth/register 201',
        req: expect.objectContaining({ id, method: 'POST', url: '/auth/register' }),
        res: { statusCode: 201 },
        responseTime: expect.any(Number),
      }),
    );
  });

  it("keeps a caller's correlation id, and replaces one that is not plausible", async () => {
    const kept = await t.http().get('/auth/me').set('x-request-id', 'edge-7f3a.42').expect(401);
    expect(kept.headers['x-request-id']).toBe('edge-7f3a.42');
    expect(await logs.settledRequestLines('edge-7f3a.42')).toHaveLength(1);

    const forged = await t.http().get('/auth/me').set('x-request-id', 'a"} {"level":60').expect(401);
    expect(forged.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(logs.lines.join('\n')).not.toContain('{"level":60');
  });

  it('never writes passwords, tokens, cookies, authorization headers or mailed links', async () => {
    const login = await t.http().post('/auth/login').set('origin', APP_URL).send({ email: u.email, password: u.password }).expect(200);
    const accessToken = login.body.tokens.accessToken as string;
    const csrf = login.body.csrfToken as string;
    const cookies = (login.headers['set-cookie'] as unknown as string[]).map((c) => c.split(';')[0]);
    const refreshCookie = cookies.find((c) => c.startsWith('gh_refresh='))!;
    await t.http().get('/auth/me').set('authorization', `Bearer ${accessToken}`).expect(200);
    const refreshed = await t
      .http()
      .post('/auth/refresh')
      .set('cookie', cookies.join('; '))
      .set('x-csrf-token', csrf)
      .set('origin', APP_URL)
      .send({})
      .expect(200);
    await t
      .http()
      .post('/auth/password/change')
      .set('authorization', `Bearer ${refreshed.body.tokens.accessToken}`)
      .send({ currentPassword: u.password, newPassword: 'an even longer passphrase 42' })
      .expect(204);
    // A token in a query string (someone pasting a link into an API call) is blanked in the URL logged.
    const pasted = await t.http().get('/auth/me?token=pasted-secret-value').expect(401);
    // Or under the API's own field names.
    await t
      .http()
      .get(`/auth/me?refreshToken=${encodeURIComponent(refreshCookie.split('=')[1])}&newPassword=pasted-pw-value`)
      .expect(401);
    await t.http().post('/auth/password/forgot').send({ email: u.email }).expect(202);
    const resetToken = await mailedToken(sink, u.email, '/reset-password?');
    await t.http().post('/auth/password/reset').send({ token: resetToken, password: 'the third passphrase 42' }).expect(204);
    // Over TCP as well: a failed login logs its pattern and code, never the payload.
    await t.rpc.tcp.fail('auth.login', { email: u.email, password: 'wrong password here 1' });

    const all = logs.lines.join('\n');
    const secrets = [
      u.password,
      'an even longer passphrase 42',
      'the third passphrase 42',
      'wrong password here 1',
      accessToken,
      refreshed.body.tokens.accessToken as string,
      csrf,
      refreshCookie.split('=')[1],
      resetToken,
      'pasted-secret-value',
      'pasted-pw-value',
      ...cookies.map((c) => c.split('=')[1]),
    ];
    for (const secret of secrets) expect(all).not.toContain(secret);
    expect(all).not.toMatch(/Bearer\s+ey/);
    expect((await logs.settledRequestLines(pasted.headers['x-request-id']))[0]).toEqual(
      expect.objectContaining({ req: expect.objectContaining({ url: '/auth/me?token=[redacted]' }) }),
    );
  });

  it('logs one line per message-pattern call, with the pattern and the error code', async () => {
    await t.rpc.tcp.fail('auth.login', { email: u.email, password: 'definitely not it 7' });
    const failed = logs.records().filter((r) => r.msg === 'auth.login failed');
    expect(failed.length).toBeGreaterThanOrEqual(1);
    expect(failed.at(-1)).toEqual(
      expect.objectContaining({
        level: 30,
        outcome: 'INVALID_CREDENTIALS',
        responseTime: expect.any(Number),
        rpc: { pattern: 'auth.login', transport: 'tcp' },
      }),
    );
    const registered = await t.rpc.tcp.send<{ userId: string }>('auth.verify', { accessToken: 'not-a-token' }).catch(() => undefined);
    expect(registered).toBeUndefined();
    expect(
      logs
        .records()
        .filter((r) => r.msg === 'auth.verify failed')
        .at(-1),
    ).toEqual(expect.objectContaining({ outcome: 'UNAUTHORIZED', rpc: { pattern: 'auth.verify', transport: 'tcp' } }));
    expect(JSON.stringify(failed)).not.toContain('definitely not it 7');
  });

  it('logs a request whose client left before the answer once, as 499, and not as a database outage', async () => {
    // The body never comes in full: the request cannot have been answered when its client leaves.
    const socket = await requestHandedOver(
      t.baseUrl,
      'POST /auth/login HTTP/1.1\r\nHost: gatehouse\r\nContent-Type: application/json\r\nContent-Length: 100\r\nX-Request-Id: left-mid-body\r\n',
    );
    socket.end('{"email":', () => socket.destroy());
    const lines = await logs.settledRequestLines('left-mid-body');
    expect(lines).toEqual([
      expect.objectContaining({
        level: 30,
        msg: 'POST /auth/login 499',
        aborted: true,
        res: { statusCode: 499 },
        responseTime: expect.any(Number),
        req: expect.objectContaining({ id: 'left-mid-body', method: 'POST', url: '/auth/login' }),
      }),
    ]);
    expect(logs.records().filter((r) => String(r.msg).includes('database unavailable'))).toEqual([]);

    // A whole login, its client gone right after sending it: one line, whether the answer or the
    // client's leaving came first, also once the login has done its work.
    const leaver = uniqueUser('logsleaver');
    await t.http().post('/auth/register').send(leaver).expect(201);
    const body = JSON.stringify({ email: leaver.email, password: leaver.password });
    const login = await requestHandedOver(
      t.baseUrl,
      `POST /auth/login HTTP/1.1\r\nHost: gatehouse\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nX-Request-Id: left-whole\r\n`,
    );
    login.end(body, () => login.destroy());
    for (let waited = 0; waited < 10_000; waited += 50) {
      const rows: unknown[] = await t.db.query(`SELECT 1 FROM sessions s JOIN users u ON u.id = s.user_id WHERE u.email = $1`, [
        leaver.email,
      ]);
      if (rows.length > 0) break;
      await sleep(50);
    }
    const whole = await logs.settledRequestLines('left-whole');
    expect(whole).toHaveLength(1);
    expect([200, 499]).toContain((whole[0].res as { statusCode: number }).statusCode);
  });

  it('answers and logs a URL the router cannot decode like any other request', async () => {
    const res = await t.http().get('/users/%E0%A4%A').set('x-request-id', 'bad-url-1').expect(400);
    expect(res.body).toEqual({ statusCode: 400, code: 'VALIDATION_FAILED', message: 'malformed URL', errors: [] });
    expect(res.headers['x-request-id']).toBe('bad-url-1');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(await logs.settledRequestLines('bad-url-1')).toEqual([
      expect.objectContaining({
        level: 30,
        msg: 'GET /users/%E0%A4%A 400',
        res: { statusCode: 400 },
        req: expect.objectContaining({ id: 'bad-url-1', method: 'GET', url: '/users/%E0%A4%A' }),
      }),
    ]);

    const long = await t
      .http()
      .delete(`/sessions/${'a'.repeat(150)}`)
      .set('x-request-id', 'long-param-1')
      .expect(404);
    expect(long.body).toEqual({ statusCode: 404, code: 'NOT_FOUND', message: 'not found' });
    expect(long.headers['x-request-id']).toBe('long-param-1');
    expect(long.headers['cache-control']).toBe('no-store');
    expect(await logs.settledRequestLines('long-param-1')).toHaveLength(1);
  });

  it('logs health probes below info, so LOG_LEVEL=info is not flooded by load balancers', async () => {
    const res = await t.http().get('/health/live').expect(200);
    expect(await logs.settledRequestLines(res.headers['x-request-id'])).toHaveLength(0);
  });
});
