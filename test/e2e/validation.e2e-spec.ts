import { startTestApp, TestApp } from '../support/test-app';

const LONG = 'x'.repeat(1025);

describe('REST input validation: 400 with field messages, nothing written', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.close());

  it.each([
    ['/auth/register', {}, ['email', 'password']],
    ['/auth/register', { email: 'nope', password: 'long enough password' }, ['email']],
    ['/auth/register', { email: 'a@example.com', password: 'short' }, ['password']],
    ['/auth/register', { email: 'a@example.com', password: 'é'.repeat(257) }, ['password']],
    ['/auth/register', { email: 'a@example.com', password: '😀'.repeat(257) }, ['password']],
    ['/auth/register', { email: 'a@example.com', password: 'long enough password', username: 'ab' }, ['username']],
    ['/auth/register', { email: 'a@example.com', password: 'long enough password', username: 'has space' }, ['username']],
    ['/auth/register', { email: 'a@example.com', password: 'long enough password', roles: ['admin'] }, ['roles']],
    ['/auth/register', { email: 'a@example.com\r\nBcc: x@y.z', password: 'long enough password' }, ['email']],
    ['/auth/register', { email: ['a@example.com'], password: 12345678 }, ['email', 'password']],
    ['/auth/login', { password: 'whatever' }, ['email', 'username']],
    ['/auth/login', { email: 'a@example.com' }, ['password']],
    ['/auth/login', { email: 'a@example.com', password: LONG }, ['password']],
    ['/auth/login', { email: 'a@example.com', password: 'whatever', ttl: 'forever' }, ['ttl']],
    ['/auth/login', { email: 'a@example.com', password: 'whatever', connection: { ip: '1.2.3.4' } }, ['connection']],
    ['/auth/refresh', {}, ['refreshToken']],
    ['/auth/refresh', { refreshToken: 7 }, ['refreshToken']],
  ])('POST %s %j → 400 naming %j', async (route, body, fields) => {
    const res = await t.http().post(route).send(body).expect(400);
    expect(res.body).toMatchObject({ statusCode: 400, code: 'VALIDATION_FAILED', message: expect.any(String) });
    expect(res.body.errors.map((e: { field: string }) => e.field).sort()).toEqual([...fields].sort());
    for (const e of res.body.errors) expect(e.messages.length).toBeGreaterThan(0);
    expect(res.text).not.toMatch(/stack|at \w+ \(|Error:|SELECT|INSERT/);
  });

  it('says "username or email is required" at the top for a login with neither', async () => {
    const res = await t.http().post('/auth/login').send({ password: 'whatever' }).expect(400);
    expect(res.body.message).toBe('username or email is required');
  });

  it('answers malformed JSON with 400 and an oversized body with 413, both as VALIDATION_FAILED', async () => {
    const bad = await t.http().post('/auth/login').set('content-type', 'application/json').send('{"email":').expect(400);
    expect(bad.body).toMatchObject({ statusCode: 400, code: 'VALIDATION_FAILED' });
    const big = await t
      .http()
      .post('/auth/register')
      .send({ email: 'a@example.com', password: 'p'.repeat(70 * 1024) })
      .expect(413);
    expect(big.body).toMatchObject({ statusCode: 413, code: 'VALIDATION_FAILED' });
  });

  it('wrote no user for any refused registration', async () => {
    const rows = await t.db.query(`SELECT count(*)::int AS n FROM users WHERE email = 'a@example.com'`);
    expect(rows[0].n).toBe(0);
  });

  it('answers an unknown route with the contract body', async () => {
    const res = await t.http().get('/no/such/route').expect(404);
    expect(res.body).toEqual({ statusCode: 404, code: 'NOT_FOUND', message: expect.any(String) });
  });
});
