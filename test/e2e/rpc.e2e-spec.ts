import { signedInUser } from '../support/accounts';
import { startTestApp, TestApp, Transports, uniqueUser } from '../support/test-app';

interface LoginReply {
  sessionId: string;
  tokens: { accessToken: string; refreshToken: string };
  user: { id: string; email: string };
}

describe.each<Transports>(['tcp', 'redis'])('message patterns over %s', (transport) => {
  let t: TestApp;
  const rpc = () => t.rpc[transport];

  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.close());

  it('auth.register answers { user } and refuses a taken address with EMAIL_TAKEN', async () => {
    const u = uniqueUser(transport);
    const reply = await rpc().send<{ user: { email: string; username: string } }>('auth.register', u);
    expect(reply.user).toMatchObject({ email: u.email, username: u.username, emailVerified: false });
    const dup = await rpc().fail('auth.register', { ...uniqueUser(transport), email: u.email });
    expect(dup).toEqual({ statusCode: 409, code: 'EMAIL_TAKEN', message: expect.any(String) });
  });

  it('auth.login answers a LoginResult and records the caller-supplied connection, as a plain address', async () => {
    const login = await signedInUser(rpc(), transport, { connection: { ip: '::ffff:10.1.2.3', userAgent: 'svc/2' } });
    expect(login.tokens.accessToken.split('.')).toHaveLength(3);
    const rows = await t.db.query('SELECT ip, user_agent FROM sessions WHERE id = $1', [login.sessionId]);
    expect(rows[0]).toEqual({ ip: '10.1.2.3', user_agent: 'svc/2' });
  });

  it('auth.login refuses a wrong password and an unknown user alike', async () => {
    const login = await signedInUser(rpc(), transport, { connection: { ip: '::ffff:10.1.2.3', userAgent: 'svc/2' } });
    const wrong = await rpc().fail('auth.login', { email: login.user.email, password: 'wrong password!' });
    const unknown = await rpc().fail('auth.login', { email: `x${login.user.email}`, password: 'wrong password!' });
    expect(wrong).toEqual({ statusCode: 401, code: 'INVALID_CREDENTIALS', message: 'login failed' });
    expect(unknown).toEqual(wrong);
  });

  it('auth.verify answers the caller for a live token and UNAUTHORIZED once the session is logged out', async () => {
    const login = await signedInUser(rpc(), transport, { connection: { ip: '::ffff:10.1.2.3', userAgent: 'svc/2' } });
    const verified = await rpc().send<Record<string, unknown>>('auth.verify', { accessToken: login.tokens.accessToken });
    expect(verified).toMatchObject({
      userId: login.user.id,
      sessionId: login.sessionId,
      roles: ['user'],
      isImpersonated: false,
      user: { id: login.user.id, email: login.user.email },
      claims: { sub: login.user.id, sid: login.sessionId },
    });
    expect(await rpc().send('auth.logout', { accessToken: login.tokens.accessToken })).toEqual({ revoked: true });
    const after = await rpc().fail('auth.verify', { accessToken: login.tokens.accessToken });
    expect(after).toEqual({ statusCode: 401, code: 'UNAUTHORIZED', message: expect.any(String) });
    // REST agrees at once.
    await t.http().get('/auth/me').set('authorization', `Bearer ${login.tokens.accessToken}`).expect(401);
  });

  it('auth.verify validates the payload of a live token: the same answer when cached, the same errors for unknown fields', async () => {
    const login = await signedInUser(rpc(), transport);
    const accessToken = login.tokens.accessToken;
    const first = await rpc().send<Record<string, unknown>>('auth.verify', { accessToken });
    // Served from the verified-token and session caches the second time, without the full validation.
    expect(await rpc().send<Record<string, unknown>>('auth.verify', { accessToken })).toEqual(first);
    expect(await rpc().fail('auth.verify', { accessToken, admin: true })).toEqual({
      statusCode: 400,
      code: 'VALIDATION_FAILED',
      message: 'validation failed',
      errors: [{ field: 'admin', messages: ['property admin should not exist'] }],
    });
  });

  it('auth.verify and auth.logout refuse a missing or garbage token', async () => {
    for (const payload of [{}, { accessToken: 'garbage' }, { accessToken: 42 }]) {
      expect(await rpc().fail('auth.verify', payload)).toMatchObject({ statusCode: 401, code: 'UNAUTHORIZED' });
      expect(await rpc().fail('auth.logout', payload)).toMatchObject({ statusCode: 401, code: 'UNAUTHORIZED' });
    }
  });

  it('auth.refresh rotates the token on the same session', async () => {
    const login = await signedInUser(rpc(), transport, { connection: { ip: '::ffff:10.1.2.3', userAgent: 'svc/2' } });
    const next = await rpc().send<LoginReply>('auth.refresh', { refreshToken: login.tokens.refreshToken });
    expect(next.sessionId).toBe(login.sessionId);
    expect(next.tokens.refreshToken).not.toBe(login.tokens.refreshToken);
    const again = await rpc().fail('auth.refresh', { refreshToken: login.tokens.refreshToken });
    expect(again.code).toBe('INVALID_REFRESH_TOKEN');
  });

  it('auth.loginWithUser opens a session without a password; unknown ids are NOT_FOUND', async () => {
    const login = await signedInUser(rpc(), transport, { connection: { ip: '::ffff:10.1.2.3', userAgent: 'svc/2' } });
    const other = await rpc().send<LoginReply>('auth.loginWithUser', { userId: login.user.id, connection: { ip: '192.0.2.7' } });
    expect(other.user.id).toBe(login.user.id);
    expect(other.sessionId).not.toBe(login.sessionId);
    const missing = await rpc().fail('auth.loginWithUser', { userId: '00000000-0000-4000-8000-000000000000' });
    expect(missing).toMatchObject({ statusCode: 404, code: 'NOT_FOUND' });
  });

  it('users.findById and users.findByEmail answer the public User or null', async () => {
    const login = await signedInUser(rpc(), transport, { connection: { ip: '::ffff:10.1.2.3', userAgent: 'svc/2' } });
    const byId = await rpc().send<Record<string, unknown>>('users.findById', { id: login.user.id });
    expect(byId).toMatchObject({ id: login.user.id, email: login.user.email });
    expect(Object.keys(byId)).not.toContain('passwordHash');
    const byEmail = await rpc().send('users.findByEmail', { email: login.user.email.toUpperCase() });
    expect(byEmail).toEqual(byId);
    expect(await rpc().send('users.findById', { id: '00000000-0000-4000-8000-000000000000' })).toBeNull();
    expect(await rpc().send('users.findByEmail', { email: 'nobody@nowhere.example' })).toBeNull();
  });

  it("sessions.list and sessions.revoke manage a user's sessions", async () => {
    const login = await signedInUser(rpc(), transport, { connection: { ip: '::ffff:10.1.2.3', userAgent: 'svc/2' } });
    const list = await rpc().send<Array<{ id: string; current: boolean }>>('sessions.list', { userId: login.user.id });
    expect(list).toEqual([expect.objectContaining({ id: login.sessionId, ip: '10.1.2.3', current: false })]);
    expect(await rpc().send('sessions.revoke', { sessionId: login.sessionId })).toEqual({ revoked: true });
    expect(await rpc().send('sessions.list', { userId: login.user.id })).toEqual([]);
    expect(await rpc().fail('auth.verify', { accessToken: login.tokens.accessToken })).toMatchObject({ code: 'UNAUTHORIZED' });
    expect(await rpc().fail('sessions.revoke', { sessionId: login.sessionId })).toMatchObject({ code: 'NOT_FOUND' });
  });

  it.each([
    ['auth.register', { email: 'not-an-email', password: 'long enough password' }, ['email']],
    ['auth.register', { email: 'a@example.com', password: 'short' }, ['password']],
    ['auth.register', { email: 'a@example.com', password: 'long enough password', admin: true }, ['admin']],
    ['auth.login', { password: 'whatever' }, ['email', 'username']],
    ['auth.login', { email: 'a@example.com', password: 'x'.repeat(1025) }, ['password']],
    ['auth.login', { email: 'a@example.com', password: 'whatever', connection: { ip: 'not-an-ip' } }, ['connection.ip']],
    ['auth.refresh', {}, ['refreshToken']],
    ['auth.loginWithUser', { userId: 'nope' }, ['userId']],
    ['users.findById', { id: 'nope' }, ['id']],
    ['users.findByEmail', {}, ['email']],
    ['sessions.list', { userId: 5 }, ['userId']],
    ['sessions.revoke', {}, ['sessionId']],
  ])('%s refuses %j with VALIDATION_FAILED naming %j', async (pattern, payload, fields) => {
    const error = await rpc().fail(pattern, payload);
    expect(error).toMatchObject({ statusCode: 400, code: 'VALIDATION_FAILED' });
    expect((error.errors as Array<{ field: string }>).map((e) => e.field).sort()).toEqual([...fields].sort());
    if (pattern === 'auth.login' && fields.length === 2) expect(error.message).toBe('username or email is required');
  });

  it('refuses a payload that is not an object', async () => {
    expect(await rpc().fail('auth.login', 'just a string')).toMatchObject({ statusCode: 400, code: 'VALIDATION_FAILED' });
    expect(await rpc().fail('users.findById', 42)).toMatchObject({ statusCode: 400, code: 'VALIDATION_FAILED' });
  });
});
