import { AuditService } from '../../src/audit/audit.service';
import { bearer, registerUser, signedInUser, signIn, type LoginBody } from '../support/accounts';
import { startTestApp, type TestApp } from '../support/test-app';
import { decodeJwt } from '../support/tokens';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const nowSeconds = (): number => Math.floor(Date.now() / 1000);
const claimsOf = (body: LoginBody): Record<string, unknown> => decodeJwt(body.tokens.accessToken).payload;

/** amr, aal and auth_time in access tokens, and re-authentication (POST /auth/reauthenticate, auth.reauthenticate). */
describe('assurance claims and re-authentication', () => {
  let t: TestApp;
  const root = { email: `assurance-root-${process.pid}-${Date.now()}@example.com`, password: 'root admin password here' };

  beforeAll(async () => {
    t = await startTestApp({ LOCKOUT_THRESHOLD: '3', BOOTSTRAP_ADMIN_EMAIL: root.email, BOOTSTRAP_ADMIN_PASSWORD: root.password });
  });
  afterAll(() => t.close());

  describe('claims', () => {
    it('a password login says pwd, aal 1 and when; a refresh keeps all three', async () => {
      const before = nowSeconds();
      const s = await signedInUser(t, 'amr');
      const claims = claimsOf(s);
      expect(claims).toMatchObject({ amr: ['pwd'], aal: 1 });
      expect(claims.auth_time).toBeGreaterThanOrEqual(before);
      expect(claims.auth_time).toBeLessThanOrEqual(nowSeconds());
      await sleep(1100);
      const refreshed = (await t.http().post('/auth/refresh').send({ refreshToken: s.refreshToken }).expect(200)).body as LoginBody;
      expect(claimsOf(refreshed)).toMatchObject({ amr: ['pwd'], aal: 1, auth_time: claims.auth_time });
      expect(claimsOf(refreshed).iat).toBeGreaterThan(claims.iat as number);
      const rows = await t.db.query('SELECT amr, aal, auth_time FROM sessions WHERE id = $1', [s.sessionId]);
      expect(rows).toEqual([{ amr: ['pwd'], aal: 1, auth_time: expect.any(Date) }]);
      expect(Math.floor(rows[0].auth_time.getTime() / 1000)).toBe(claims.auth_time);
    });

    it('a session granted to a trusted service, or to an impersonating admin, proved no factor of the user', async () => {
      const u = await registerUser(t, 'granted');
      const granted = await t.rpc.tcp.send<LoginBody>('auth.loginWithUser', { userId: u.id });
      expect(claimsOf(granted)).toMatchObject({ amr: [], aal: 1, auth_time: expect.any(Number) });

      const admin = (await t.http().post('/auth/login').send(root).expect(200)).body as LoginBody;
      const impersonation = (
        await t.http().post('/auth/impersonate').set(bearer(admin.tokens.accessToken)).send({ userId: u.id }).expect(200)
      ).body as LoginBody;
      expect(claimsOf(impersonation)).toMatchObject({ sub: u.id, isImpersonated: true, amr: [], aal: 1 });
      // The admin cannot prove the user's password for the user.
      const refused = await t
        .http()
        .post('/auth/reauthenticate')
        .set(bearer(impersonation.tokens.accessToken))
        .send({ password: u.password })
        .expect(403);
      expect(refused.body).toEqual({ statusCode: 403, code: 'FORBIDDEN', message: 'an impersonated session cannot re-authenticate' });
    });
  });

  describe('re-authentication', () => {
    it('over REST: the same session, auth_time now, a new pair; the old refresh token is spent; audited', async () => {
      const s = await signedInUser(t, 'reauth');
      await sleep(1100);
      const res = await t.http().post('/auth/reauthenticate').set(s.auth).send({ password: s.password }).expect(200);
      const body = res.body as LoginBody;
      expect(body).toEqual({
        sessionId: s.sessionId,
        tokens: {
          accessToken: expect.any(String),
          refreshToken: expect.any(String),
          tokenType: 'Bearer',
          accessTokenExpiresAt: expect.any(String),
          refreshTokenExpiresAt: s.tokens.refreshTokenExpiresAt,
        },
        user: s.user,
      });
      expect(body.tokens.refreshToken).not.toBe(s.refreshToken);
      expect(claimsOf(body)).toMatchObject({ sid: s.sessionId, amr: ['pwd'], aal: 1 });
      expect(claimsOf(body).auth_time).toBeGreaterThan(claimsOf(s).auth_time as number);

      const spent = await t.http().post('/auth/refresh').send({ refreshToken: s.refreshToken }).expect(401);
      expect(spent.body.code).toBe('INVALID_REFRESH_TOKEN');
      await t.http().post('/auth/refresh').send({ refreshToken: body.tokens.refreshToken }).expect(200);
      // The token it answered to still works until it expires: re-authentication ends nothing.
      await t.http().get('/auth/me').set(s.auth).expect(200);

      await t.app.get(AuditService).flushed();
      const audit = await t.db.query(`SELECT session_id, details FROM audit_log WHERE user_id = $1 AND type = 'user.reauthenticated'`, [
        s.id,
      ]);
      expect(audit).toEqual([{ session_id: s.sessionId, details: { amr: ['pwd'] } }]);
    });

    it('over TCP: auth.reauthenticate answers the same LoginResult', async () => {
      const s = await signedInUser(t, 'reauthrpc');
      const body = await t.rpc.tcp.send<LoginBody>('auth.reauthenticate', { accessToken: s.accessToken, password: s.password });
      expect(body).toMatchObject({ sessionId: s.sessionId, user: s.user, tokens: { tokenType: 'Bearer' } });
      expect(claimsOf(body)).toMatchObject({ sid: s.sessionId, amr: ['pwd'], aal: 1 });
      expect(await t.rpc.tcp.fail('auth.reauthenticate', { accessToken: s.accessToken, password: 'not the password' })).toEqual({
        statusCode: 401,
        code: 'INVALID_CREDENTIALS',
        message: 'login failed',
      });
      expect(await t.rpc.tcp.fail('auth.reauthenticate', { password: s.password })).toMatchObject({
        statusCode: 401,
        code: 'UNAUTHORIZED',
      });
    });

    it('a wrong password is INVALID_CREDENTIALS and counts toward the lockout; a body without one is a 400', async () => {
      const u = await registerUser(t, 'reauthlock');
      const s = await signIn(t, u);
      for (let i = 0; i < 3; i += 1) {
        const wrong = await t.http().post('/auth/reauthenticate').set(s.auth).send({ password: 'wrong password here' }).expect(401);
        expect(wrong.body).toEqual({ statusCode: 401, code: 'INVALID_CREDENTIALS', message: 'login failed' });
      }
      const locked = await t.http().post('/auth/reauthenticate').set(s.auth).send({ password: u.password }).expect(429);
      expect(locked.body.code).toBe('TOO_MANY_REQUESTS');
      expect(Number(locked.headers['retry-after'])).toBeGreaterThan(0);

      const missing = await t.http().post('/auth/reauthenticate').set(s.auth).send({}).expect(400);
      expect(missing.body).toMatchObject({
        code: 'VALIDATION_FAILED',
        errors: [
          { field: 'password', messages: ['send password or code'] },
          { field: 'code', messages: ['send password or code'] },
        ],
      });
      await t.http().post('/auth/reauthenticate').send({ password: u.password }).expect(401);
    });
  });
});

// Apart: two apps of one process must not be up at the same time.
describe('assurance claims with a custom claims hook', () => {
  it('a custom claims hook cannot overwrite them', async () => {
    const hooked = await startTestApp({}, { createJwtPayload: () => ({ amr: ['hwk'], aal: 2, auth_time: 1, team: 'blue' }) });
    try {
      const s = await signedInUser(hooked, 'hooked');
      expect(claimsOf(s)).toMatchObject({ amr: ['pwd'], aal: 1, team: 'blue' });
      expect(claimsOf(s).auth_time).toBeGreaterThan(1);
    } finally {
      await hooked.close();
    }
  });
});
