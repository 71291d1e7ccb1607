import { TcpProxy } from '../support/tcp-proxy';
import { startTestApp, TestApp, testDatabaseUrl, uniqueUser } from '../support/test-app';

describe('database unreachable: SERVICE_UNAVAILABLE, never a crash or driver text', () => {
  let t: TestApp;
  let proxy: TcpProxy;
  let accessToken: string;
  const u = uniqueUser('outage');

  beforeAll(async () => {
    const real = new URL(testDatabaseUrl());
    proxy = new TcpProxy(real.hostname, Number(real.port || 5432));
    const port = await proxy.start();
    const viaProxy = new URL(real.toString());
    viaProxy.port = String(port);
    t = await startTestApp({ DATABASE_URL: viaProxy.toString() });
    await t.http().post('/auth/register').send(u).expect(201);
    const res = await t.http().post('/auth/login').send({ email: u.email, password: u.password }).expect(200);
    accessToken = res.body.tokens.accessToken;
    await proxy.cut();
  });
  afterAll(async () => {
    await t.close().catch(() => undefined);
  });

  const NO_LEAK = /ECONNREFUSED|Connection terminated|postgres|SELECT|INSERT|QueryFailed|TypeORM|stack/i;

  it.each([
    ['POST', '/auth/login', () => ({ email: u.email, password: u.password })],
    ['POST', '/auth/register', () => uniqueUser('outage2')],
    ['POST', '/auth/refresh', () => ({ refreshToken: 'whatever-token' })],
    ['GET', '/auth/me', () => undefined],
  ])('%s %s answers 503 SERVICE_UNAVAILABLE', async (method, route, body) => {
    const req = method === 'GET' ? t.http().get(route) : t.http().post(route).send(body());
    const res = await req.set('authorization', `Bearer ${accessToken}`);
    expect(res.status).toBe(503);
    expect(res.body).toEqual({ statusCode: 503, code: 'SERVICE_UNAVAILABLE', message: expect.any(String) });
    expect(res.text).not.toMatch(NO_LEAK);
  });

  it('GET /health/ready answers 503 SERVICE_UNAVAILABLE naming the database, with the per-check details', async () => {
    const res = await t.http().get('/health/ready');
    expect(res.status).toBe(503);
    expect(res.body).toMatchObject({
      statusCode: 503,
      code: 'SERVICE_UNAVAILABLE',
      message: expect.stringContaining('database'),
      status: 'error',
    });
    expect(res.body.details.database).toEqual({ status: 'down', message: expect.any(String) });
    // The outbox is read from the same database: reported down too, Redis (not cut) up.
    expect(res.body.details.outbox.status).toBe('down');
    expect(res.body.details.redis).toMatchObject({ status: 'up' });
    expect(res.text).not.toMatch(NO_LEAK);
  });

  it('answers the same error body over TCP', async () => {
    const error = await t.rpc.tcp.fail('auth.login', { email: u.email, password: u.password });
    expect(error).toEqual({ statusCode: 503, code: 'SERVICE_UNAVAILABLE', message: expect.any(String) });
    expect(JSON.stringify(error)).not.toMatch(NO_LEAK);
  });

  it('keeps serving what needs no database', async () => {
    await t.http().get('/health/live').expect(200);
    await t.http().get('/.well-known/jwks.json').expect(200);
  });
});
