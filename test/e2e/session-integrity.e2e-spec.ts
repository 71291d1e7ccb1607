import { CredentialsService } from '../../src/auth/credentials.service';
import { LoginService } from '../../src/auth/login.service';
import { UsersService } from '../../src/users/users.service';
import { registerUser } from '../support/accounts';
import { startTestApp, TestApp } from '../support/test-app';
import { decodeJwt } from '../support/tokens';

describe('session integrity under races and failures; the claims hook', () => {
  let t: TestApp;
  let hookFails = false;

  beforeAll(async () => {
    t = await startTestApp(
      {},
      {
        createJwtPayload: (data, user) => {
          if (hookFails) throw new Error('claims backend down');
          // Tries to override registered claims too: those attempts must be ignored.
          return {
            plan: user.email.startsWith('pro') ? 'pro' : 'free',
            sub: 'forged',
            roles: ['admin'],
            isImpersonated: true,
            iss: data.iss + '/evil',
          };
        },
      },
    );
  });
  afterAll(() => t.close());

  it('adds hook claims to access tokens without letting them override registered claims', async () => {
    const u = await registerUser(t, 'pro');
    const login = await t.http().post('/auth/login').send({ email: u.email, password: u.password }).expect(200);
    const { payload } = decodeJwt(login.body.tokens.accessToken);
    expect(payload).toMatchObject({ plan: 'pro', sub: u.id, roles: ['user'], isImpersonated: false, iss: 'http://localhost:3000' });
    const verified = await t.rpc.tcp.send<{ claims: Record<string, unknown> }>('auth.verify', {
      accessToken: login.body.tokens.accessToken,
    });
    expect(verified.claims.plan).toBe('pro');
    const refreshed = await t.http().post('/auth/refresh').send({ refreshToken: login.body.tokens.refreshToken }).expect(200);
    expect(decodeJwt(refreshed.body.tokens.accessToken).payload.plan).toBe('pro');
  });

  it('does not use up a refresh token when issuing the new pair fails: the retry succeeds', async () => {
    const u = await registerUser(t, 'integrity');
    const login = await t.http().post('/auth/login').send({ email: u.email, password: u.password }).expect(200);
    hookFails = true;
    try {
      const failed = await t.http().post('/auth/refresh').send({ refreshToken: login.body.tokens.refreshToken }).expect(500);
      expect(failed.body).toEqual({ statusCode: 500, code: 'INTERNAL_ERROR', message: 'internal error' });
    } finally {
      hookFails = false;
    }
    // The rotation was undone: the presented token is the session's only one, and unrotated.
    expect(
      await t.db.query('SELECT rotated_at IS NOT NULL AS rotated FROM refresh_tokens WHERE session_id = $1', [login.body.sessionId]),
    ).toEqual([{ rotated: false }]);
    const retried = await t.http().post('/auth/refresh').send({ refreshToken: login.body.tokens.refreshToken }).expect(200);
    expect(retried.body.sessionId).toBe(login.body.sessionId);
  });

  it("ends a deactivated user's session that slipped through on its next refresh, and issues nothing", async () => {
    const u = await registerUser(t, 'integrity');
    const login = await t.http().post('/auth/login').send({ email: u.email, password: u.password }).expect(200);
    const bearer = { Authorization: `Bearer ${login.body.tokens.accessToken}` };
    await t.http().get('/auth/me').set(bearer).expect(200);
    // Deactivated behind the service's back, so nothing revoked the session.
    await t.db.query('UPDATE users SET deactivated_at = now() WHERE id = $1', [u.id]);
    const refused = await t.http().post('/auth/refresh').send({ refreshToken: login.body.tokens.refreshToken }).expect(401);
    expect(refused.body.code).toBe('INVALID_REFRESH_TOKEN');
    expect((await t.db.query('SELECT revoke_reason FROM sessions WHERE id = $1', [login.body.sessionId]))[0]).toEqual({
      revoke_reason: 'user_deactivated',
    });
    expect((await t.db.query('SELECT count(*)::int AS n FROM refresh_tokens WHERE session_id = $1', [login.body.sessionId]))[0].n).toBe(1);
    // The cached session state was dropped: the access token is refused at once.
    await t.http().get('/auth/me').set(bearer).expect(401);
  });

  it('refuses a session for a password checked before a concurrent reset changed it', async () => {
    const u = await registerUser(t, 'integrity');
    const checked = await t.app.get(CredentialsService).verify({ email: u.email, password: u.password });
    expect(Object.keys(checked.user)).not.toContain('passwordHash');
    // The reset lands between the password check and the session insert.
    await t.db.transaction((em) =>
      t.app.get(UsersService).updatePasswordHash(u.id, '$argon2id$v=19$m=19456,t=2,p=1$bmV3$bmV3', undefined, em),
    );
    await expect(
      t.app.get(LoginService).startSession(checked.user, { checkedPasswordHash: checked.checkedPasswordHash }),
    ).rejects.toMatchObject({ code: 'INVALID_CREDENTIALS' });
    const rows = await t.db.query('SELECT count(*)::int AS n FROM sessions WHERE user_id = $1', [u.id]);
    expect(rows[0].n).toBe(0);
  });

  it('refuses a password change whose checked password was replaced meanwhile (a racing reset wins)', async () => {
    const u = await registerUser(t, 'integrity');
    const users = t.app.get(UsersService);
    const checked = (await users.findByIdWithPassword(u.id))!.passwordHash!;
    await t.db.transaction((em) => users.updatePasswordHash(u.id, '$argon2id$v=19$m=19456,t=2,p=1$cmVzZXQ$cmVzZXQ', undefined, em));
    const changed = await t.db.transaction((em) =>
      users.updatePasswordHash(u.id, '$argon2id$v=19$m=19456,t=2,p=1$Y2hhbmdl$Y2hhbmdl', checked, em),
    );
    expect(changed).toBe(false);
    expect((await t.db.query('SELECT password_hash FROM users WHERE id = $1', [u.id]))[0].password_hash).toContain('cmVzZXQ');
  });

  it('refuses a session for a user deactivated after the check', async () => {
    const u = await registerUser(t, 'integrity');
    const checked = await t.app.get(CredentialsService).verify({ email: u.email, password: u.password });
    await t.app.get(UsersService).setDeactivated(u.id, true);
    await expect(
      t.app.get(LoginService).startSession(checked.user, { checkedPasswordHash: checked.checkedPasswordHash }),
    ).rejects.toMatchObject({ code: 'INVALID_CREDENTIALS' });
    await expect(t.app.get(LoginService).startSession(checked.user, {})).rejects.toMatchObject({ code: 'USER_DEACTIVATED' });
  });

  it('records the connection given on refresh, and refuses to revoke an expired session', async () => {
    const u = await registerUser(t, 'integrity');
    const login = await t.rpc.tcp.send<{ sessionId: string; tokens: { refreshToken: string } }>('auth.login', {
      email: u.email,
      password: u.password,
      connection: { ip: '192.0.2.1', userAgent: 'first' },
    });
    await t.rpc.tcp.send('auth.refresh', {
      refreshToken: login.tokens.refreshToken,
      connection: { ip: '::ffff:192.0.2.9', userAgent: 'second' },
    });
    expect((await t.db.query('SELECT ip, user_agent FROM sessions WHERE id = $1', [login.sessionId]))[0]).toEqual({
      ip: '192.0.2.9',
      user_agent: 'second',
    });
    await t.db.query(`UPDATE sessions SET expires_at = now() - interval '1 second' WHERE id = $1`, [login.sessionId]);
    expect(await t.rpc.tcp.fail('sessions.revoke', { sessionId: login.sessionId })).toMatchObject({ statusCode: 404, code: 'NOT_FOUND' });
  });
});
