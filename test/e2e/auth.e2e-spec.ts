import { login, registerUser, type LoginBody } from '../support/accounts';
import { startTestApp, TestApp, uniqueUser } from '../support/test-app';
import { decodeJwt } from '../support/tokens';

const USER_KEYS = [
  'createdAt',
  'deactivated',
  'displayName',
  'email',
  'emailVerified',
  'id',
  'mfaEnabled',
  'roles',
  'updatedAt',
  'username',
];

describe('REST: register, login, me, refresh, logout, sessions', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp({ ACCESS_TOKEN_TTL: '600', SESSION_TTL: '3600', MAX_SESSION_TTL: '7200' });
  });
  afterAll(() => t.close());

  it('registers a user and answers the public User shape, normalising email and username', async () => {
    const u = uniqueUser();
    const res = await t
      .http()
      .post('/auth/register')
      .send({ ...u, email: `  ${u.email.toUpperCase()} `, username: u.username.toUpperCase() })
      .expect(201);
    expect(Object.keys(res.body.user).sort()).toEqual(USER_KEYS);
    expect(res.body.user).toMatchObject({
      email: u.email,
      username: u.username,
      emailVerified: false,
      roles: ['user'],
      deactivated: false,
    });
    expect(JSON.stringify(res.body)).not.toMatch(/argon2|password/i);
    const rows = await t.db.query('SELECT email, username, password_hash FROM users WHERE id = $1', [res.body.user.id]);
    expect(rows[0]).toMatchObject({ email: u.email, username: u.username });
    expect(rows[0].password_hash).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
  });

  it('answers EMAIL_TAKEN and USERNAME_TAKEN with 409 when verification is not required', async () => {
    const u = await registerUser(t);
    const other = uniqueUser();
    const dupEmail = await t
      .http()
      .post('/auth/register')
      .send({ ...other, email: u.email.toUpperCase() })
      .expect(409);
    expect(dupEmail.body).toEqual({ statusCode: 409, code: 'EMAIL_TAKEN', message: expect.any(String) });
    const dupName = await t
      .http()
      .post('/auth/register')
      .send({ ...other, username: u.username })
      .expect(409);
    expect(dupName.body.code).toBe('USERNAME_TAKEN');
    const count = await t.db.query('SELECT count(*)::int AS n FROM users WHERE email = $1', [other.email]);
    expect(count[0].n).toBe(0);
  });

  it('logs in by email and by username, with the contract claims and expiry times', async () => {
    const u = await registerUser(t);
    const byEmail = await login(t, { email: u.email.toUpperCase(), password: u.password });
    const byName = await login(t, { username: u.username, password: u.password });
    expect(byName.sessionId).not.toBe(byEmail.sessionId);
    expect(byEmail.tokens.tokenType).toBe('Bearer');
    expect(byEmail.user).toMatchObject({ id: u.id, email: u.email });
    const { header, payload } = decodeJwt(byEmail.tokens.accessToken);
    expect(header).toMatchObject({ alg: 'ES256', typ: 'at+jwt', kid: expect.any(String) });
    expect(payload).toMatchObject({
      iss: 'http://localhost:3000',
      sub: u.id,
      sid: byEmail.sessionId,
      roles: ['user'],
      isImpersonated: false,
    });
    expect(payload.act).toBeUndefined();
    expect((payload.exp as number) - (payload.iat as number)).toBe(600);
    expect(new Date(byEmail.tokens.accessTokenExpiresAt).getTime()).toBe((payload.exp as number) * 1000);
    const sessionEnds = new Date(byEmail.tokens.refreshTokenExpiresAt).getTime() - Date.now();
    expect(sessionEnds).toBeGreaterThan(3500_000);
    expect(sessionEnds).toBeLessThanOrEqual(3600_000);
    expect(byEmail.tokens.refreshToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const stored = await t.db.query('SELECT token_hash FROM refresh_tokens WHERE session_id = $1', [byEmail.sessionId]);
    expect(stored).toHaveLength(1);
    expect(stored[0].token_hash).not.toContain(byEmail.tokens.refreshToken);
  });

  it('caps a login ttl at MAX_SESSION_TTL, and the access token never outlives the session', async () => {
    const u = await registerUser(t);
    const long = await login(t, { email: u.email, password: u.password, ttl: 999_999 });
    const left = new Date(long.tokens.refreshTokenExpiresAt).getTime() - Date.now();
    expect(left).toBeGreaterThan(7100_000);
    expect(left).toBeLessThanOrEqual(7200_000);
    const short = await login(t, { email: u.email, password: u.password, ttl: 120 });
    expect(new Date(short.tokens.accessTokenExpiresAt).getTime()).toBeLessThanOrEqual(
      new Date(short.tokens.refreshTokenExpiresAt).getTime(),
    );
    expect(new Date(short.tokens.refreshTokenExpiresAt).getTime() - Date.now()).toBeLessThanOrEqual(120_000);
  });

  it('answers an unknown user and a wrong password with byte-identical bodies', async () => {
    const u = await registerUser(t);
    const wrong = await t.http().post('/auth/login').send({ email: u.email, password: 'not the password' }).expect(401);
    const unknown = await t
      .http()
      .post('/auth/login')
      .send({ email: `nobody-${u.email}`, password: 'not the password' })
      .expect(401);
    const unknownName = await t.http().post('/auth/login').send({ username: 'nobody-here', password: 'not the password' }).expect(401);
    expect(wrong.text).toBe('{"statusCode":401,"code":"INVALID_CREDENTIALS","message":"login failed"}');
    expect(unknown.text).toBe(wrong.text);
    expect(unknownName.text).toBe(wrong.text);
  });

  it('answers /auth/me from the caches with every header of the contract: request id, nosniff, no-referrer, CSP, no-store, no CORS', async () => {
    const u = await registerUser(t);
    const session = await login(t, { email: u.email, password: u.password });
    const auth = { authorization: `Bearer ${session.tokens.accessToken}` };
    // The first call verifies the token and loads the session; the second is served from the caches.
    await t.http().get('/auth/me').set(auth).expect(200);
    const me = await t.http().get('/auth/me').set(auth).set('x-request-id', 'me-cached-1').expect(200);
    expect(me.body).toEqual({ user: expect.objectContaining({ id: u.id, email: u.email }) });
    expect(me.headers).toEqual(
      expect.objectContaining({
        'x-request-id': 'me-cached-1',
        'x-content-type-options': 'nosniff',
        'referrer-policy': 'no-referrer',
        'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
        'cache-control': 'no-store',
      }),
    );
    // Without CORS_ORIGINS there is no CORS at all, not even Vary: Origin.
    expect(me.headers.vary).toBeUndefined();
    expect(me.headers['access-control-allow-origin']).toBeUndefined();
    const fresh = await t.http().get('/auth/me').set(auth).expect(200);
    expect(fresh.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('serves /auth/me to a valid token and records ip and user agent on the session', async () => {
    const u = await registerUser(t);
    const session = await login(t, { email: u.email, password: u.password }, { 'user-agent': 'gatehouse-test/1.0' });
    const me = await t.http().get('/auth/me').set('authorization', `Bearer ${session.tokens.accessToken}`).expect(200);
    expect(me.body.user).toMatchObject({ id: u.id, email: u.email });
    const list = await t.http().get('/sessions').set('authorization', `Bearer ${session.tokens.accessToken}`).expect(200);
    expect(list.body).toEqual([
      expect.objectContaining({
        id: session.sessionId,
        ip: '127.0.0.1',
        userAgent: 'gatehouse-test/1.0',
        current: true,
        impersonatorId: null,
      }),
    ]);
  });

  it('refreshes to a new pair on the same session; the old refresh token stops working', async () => {
    const u = await registerUser(t);
    const first = await login(t, { email: u.email, password: u.password });
    const res = await t.http().post('/auth/refresh').send({ refreshToken: first.tokens.refreshToken }).expect(200);
    const second = res.body as LoginBody;
    expect(second.sessionId).toBe(first.sessionId);
    expect(second.tokens.refreshToken).not.toBe(first.tokens.refreshToken);
    expect(second.tokens.accessToken).not.toBe(first.tokens.accessToken);
    expect(second.tokens.refreshTokenExpiresAt).toBe(first.tokens.refreshTokenExpiresAt);
    const again = await t.http().post('/auth/refresh').send({ refreshToken: first.tokens.refreshToken }).expect(401);
    expect(again.body.code).toBe('INVALID_REFRESH_TOKEN');
    await t.http().get('/auth/me').set('authorization', `Bearer ${second.tokens.accessToken}`).expect(200);
    const unknown = await t.http().post('/auth/refresh').send({ refreshToken: 'not-a-token' }).expect(401);
    expect(unknown.body).toEqual({ statusCode: 401, code: 'INVALID_REFRESH_TOKEN', message: expect.any(String) });
  });

  it('logout revokes the session at once: access and refresh tokens both stop working', async () => {
    const u = await registerUser(t);
    const s = await login(t, { email: u.email, password: u.password });
    const auth = { authorization: `Bearer ${s.tokens.accessToken}` };
    await t.http().get('/auth/me').set(auth).expect(200);
    await t.http().post('/auth/logout').set(auth).expect(204);
    const me = await t.http().get('/auth/me').set(auth).expect(401);
    expect(me.body.code).toBe('UNAUTHORIZED');
    const refresh = await t.http().post('/auth/refresh').send({ refreshToken: s.tokens.refreshToken }).expect(401);
    expect(refresh.body.code).toBe('INVALID_REFRESH_TOKEN');
    const row = await t.db.query('SELECT revoked_at, revoke_reason FROM sessions WHERE id = $1', [s.sessionId]);
    expect(row[0].revoked_at).not.toBeNull();
    expect(row[0].revoke_reason).toBe('logout');
  });

  it("revokes one own session, refuses another user's with 404, and revokes all the others", async () => {
    const u = await registerUser(t);
    const a = await login(t, { email: u.email, password: u.password });
    const b = await login(t, { email: u.email, password: u.password });
    const c = await login(t, { email: u.email, password: u.password });
    const stranger = await registerUser(t);
    const s = await login(t, { email: stranger.email, password: stranger.password });
    const asA = { authorization: `Bearer ${a.tokens.accessToken}` };

    const foreign = await t.http().delete(`/sessions/${s.sessionId}`).set(asA).expect(404);
    expect(foreign.body.code).toBe('NOT_FOUND');
    await t.http().delete('/sessions/not-a-uuid').set(asA).expect(404);
    await t.http().get('/auth/me').set('authorization', `Bearer ${s.tokens.accessToken}`).expect(200);

    await t.http().delete(`/sessions/${b.sessionId}`).set(asA).expect(204);
    await t.http().get('/auth/me').set('authorization', `Bearer ${b.tokens.accessToken}`).expect(401);
    let list = await t.http().get('/sessions').set(asA).expect(200);
    expect(list.body.map((x: { id: string }) => x.id).sort()).toEqual([a.sessionId, c.sessionId].sort());

    await t.http().delete('/sessions').set(asA).expect(204);
    await t.http().get('/auth/me').set('authorization', `Bearer ${c.tokens.accessToken}`).expect(401);
    list = await t.http().get('/sessions').set(asA).expect(200);
    expect(list.body).toEqual([expect.objectContaining({ id: a.sessionId, current: true })]);
  });

  it('refuses protected routes without a token, with a malformed one, or with a non-bearer scheme', async () => {
    for (const authorization of [undefined, 'Bearer', 'Bearer abc.def.ghi', 'Basic dXNlcjpwYXNz']) {
      const req = t.http().get('/auth/me');
      const res = await (authorization ? req.set('authorization', authorization) : req).expect(401);
      expect(res.body).toEqual({ statusCode: 401, code: 'UNAUTHORIZED', message: expect.any(String) });
    }
  });

  it('publishes the signing key in the JWKS', async () => {
    const res = await t.http().get('/.well-known/jwks.json').expect(200);
    expect(res.body.keys).toEqual(
      expect.arrayContaining([expect.objectContaining({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig', kid: expect.any(String) })]),
    );
    expect(JSON.stringify(res.body)).not.toContain('"d"');
  });

  it('sets the security headers: nosniff everywhere, no-store on auth and session routes, no X-Powered-By', async () => {
    const res = await t.http().post('/auth/login').send({ email: 'x@example.com', password: 'whatever-password' });
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['x-powered-by']).toBeUndefined();
    const health = await t.http().get('/health/live').expect(200);
    expect(health.headers['x-content-type-options']).toBe('nosniff');
  });
});
