import { registerUser, signIn, type SignedIn } from '../support/accounts';
import { SmtpSink, tokenOf } from '../support/smtp-sink';
import { startTestApp, TestApp } from '../support/test-app';
import { decodeJwt } from '../support/tokens';

type Auth = { authorization: string };

/** An impersonation lives only as long as its admin's standing and the admin's session that started it. */
describe('impersonation on a short leash', () => {
  const sink = new SmtpSink();
  let t: TestApp;
  const root = { email: `leash-root-${process.pid}-${Date.now()}@example.com`, password: 'root admin password here' };
  let rootAuth: Auth;

  beforeAll(async () => {
    await sink.start();
    t = await startTestApp({ BOOTSTRAP_ADMIN_EMAIL: root.email, BOOTSTRAP_ADMIN_PASSWORD: root.password, SMTP_URL: sink.url });
    rootAuth = bearer((await t.http().post('/auth/login').send(root).expect(200)).body.tokens.accessToken);
  });
  afterAll(async () => {
    await t.close();
    await sink.stop();
  });

  const bearer = (token: string): Auth => ({ authorization: `Bearer ${token}` });

  async function member(admin = false): Promise<SignedIn> {
    const u = await registerUser(t, admin ? 'leashadm' : 'leash');
    if (admin)
      await t
        .http()
        .put(`/users/${u.id}/roles`)
        .set(rootAuth)
        .send({ roles: ['user', 'admin'] })
        .expect(200);
    return signIn(t, u);
  }

  async function impersonation(admin: { auth: Auth }, targetId: string): Promise<{ auth: Auth; sessionId: string; refreshToken: string }> {
    const res = (await t.http().post('/auth/impersonate').set(admin.auth).send({ userId: targetId }).expect(200)).body;
    return { auth: bearer(res.tokens.accessToken), sessionId: res.sessionId, refreshToken: res.tokens.refreshToken };
  }

  const alive = (auth: Auth) => t.http().get('/auth/me').set(auth);

  it('ends when the admin logs out of the session that started it, and only then', async () => {
    const admin = await member(true);
    const other = await t.http().post('/auth/login').send({ email: admin.email, password: admin.password }).expect(200);
    const target = await member();
    const imp = await impersonation(admin, target.id);
    // Logging out of another session of the admin leaves it.
    await t.http().post('/auth/logout').set(bearer(other.body.tokens.accessToken)).expect(204);
    await alive(imp.auth).expect(200);
    await t.http().post('/auth/logout').set(admin.auth).expect(204);
    await alive(imp.auth).expect(401);
    expect((await t.http().post('/auth/refresh').send({ refreshToken: imp.refreshToken }).expect(401)).body.code).toBe(
      'INVALID_REFRESH_TOKEN',
    );
    const row = await t.db.query('SELECT revoke_reason FROM sessions WHERE id = $1', [imp.sessionId]);
    expect(row).toEqual([{ revoke_reason: 'impersonator_session_ended' }]);
    await alive(target.auth).expect(200);
  });

  it("never outlives the admin's session that started it", async () => {
    const admin = await member(true);
    const short = await t.http().post('/auth/login').send({ email: admin.email, password: admin.password, ttl: 120 }).expect(200);
    const target = await member();
    const imp = await t.http().post('/auth/impersonate').set(bearer(short.body.tokens.accessToken)).send({ userId: target.id }).expect(200);
    expect(imp.body.tokens.refreshTokenExpiresAt).toBe(short.body.tokens.refreshTokenExpiresAt);
  });

  it('ends when the admin changes the password, or revokes its other sessions', async () => {
    const target = await member();
    const changer = await member(true);
    const byChanger = await impersonation(changer, target.id);
    await t
      .http()
      .post('/auth/password/change')
      .set(changer.auth)
      .send({ currentPassword: changer.password, newPassword: 'the admin changed it' })
      .expect(204);
    await alive(byChanger.auth).expect(401);
    await alive(changer.auth).expect(200);

    const revoker = await member(true);
    const byRevoker = await impersonation(revoker, target.id);
    await t.http().delete('/sessions').set(revoker.auth).expect(204);
    await alive(byRevoker.auth).expect(401);
    await alive(revoker.auth).expect(200);
    await alive(target.auth).expect(200);
  });

  it('ends when the admin resets the password', async () => {
    const target = await member();
    const admin = await member(true);
    const imp = await impersonation(admin, target.id);
    await t.http().post('/auth/password/forgot').send({ email: admin.email }).expect(202);
    // Registration mailed a verification link first.
    const [, reset] = await sink.waitFor(2, admin.email);
    expect(reset.subject).toBe('Reset your password');
    await t
      .http()
      .post('/auth/password/reset')
      .send({ token: tokenOf(reset.links[0]), password: 'the admin reset it' })
      .expect(204);
    await alive(imp.auth).expect(401);
  });

  it('never carries admin rights, even when its target is promoted later', async () => {
    const admin = await member(true);
    const target = await member();
    const imp = await impersonation(admin, target.id);
    await t
      .http()
      .put(`/users/${target.id}/roles`)
      .set(rootAuth)
      .send({ roles: ['user', 'admin'] })
      .expect(200);
    // The target's own new session is an admin's; the impersonation is not.
    const own = await t.http().post('/auth/login').send({ email: target.email, password: target.password }).expect(200);
    await t.http().get('/users').set(bearer(own.body.tokens.accessToken)).expect(200);
    expect((await t.http().get('/users').set(imp.auth).expect(403)).body.code).toBe('FORBIDDEN');
    await t
      .http()
      .put(`/users/${target.id}/roles`)
      .set(imp.auth)
      .send({ roles: ['user'] })
      .expect(403);
    const verified = await t.rpc.tcp.send<{ roles: string[]; isImpersonated: boolean }>('auth.verify', {
      accessToken: imp.auth.authorization.slice(7),
    });
    expect(verified).toMatchObject({ roles: ['user'], isImpersonated: true });
    const refreshed = await t.http().post('/auth/refresh').send({ refreshToken: imp.refreshToken }).expect(200);
    expect(decodeJwt(refreshed.body.tokens.accessToken).payload).toMatchObject({ roles: ['user'], isImpersonated: true });
    await t.http().get('/users').set(bearer(refreshed.body.tokens.accessToken)).expect(403);
  });

  it("cannot end the target's other sessions, but can end itself", async () => {
    const admin = await member(true);
    const target = await member();
    const imp = await impersonation(admin, target.id);
    expect((await t.http().delete('/sessions').set(imp.auth).expect(403)).body.code).toBe('FORBIDDEN');
    expect((await t.http().delete(`/sessions/${target.sessionId}`).set(imp.auth).expect(403)).body.code).toBe('FORBIDDEN');
    await alive(target.auth).expect(200);
    await t.http().delete(`/sessions/${imp.sessionId}`).set(imp.auth).expect(204);
    await alive(imp.auth).expect(401);
  });

  it('shows the admin the impersonation sessions it holds, which it can end', async () => {
    const admin = await member(true);
    const target = await member();
    const imp = await impersonation(admin, target.id);
    const list = (await t.http().get('/sessions').set(admin.auth).expect(200)).body as Array<Record<string, unknown>>;
    expect(list).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ id: admin.sessionId, current: true, impersonatedUserId: null, impersonatorId: null }),
        expect.objectContaining({ id: imp.sessionId, current: false, impersonatedUserId: target.id, impersonatorId: admin.id }),
      ]),
    );
    expect(list).toHaveLength(2);
    // The target sees it too, as a session of its own marked with the admin.
    const targetList = (await t.http().get('/sessions').set(target.auth).expect(200)).body as Array<Record<string, unknown>>;
    expect(targetList).toEqual(
      expect.arrayContaining([expect.objectContaining({ id: imp.sessionId, impersonatorId: admin.id, impersonatedUserId: null })]),
    );
    await t.http().delete(`/sessions/${imp.sessionId}`).set(admin.auth).expect(204);
    await alive(imp.auth).expect(401);
    // Another admin's impersonations are not this one's to see or end.
    const second = await member(true);
    const theirs = await impersonation(second, target.id);
    await t.http().delete(`/sessions/${theirs.sessionId}`).set(admin.auth).expect(404);
    await alive(theirs.auth).expect(200);
  });
});
