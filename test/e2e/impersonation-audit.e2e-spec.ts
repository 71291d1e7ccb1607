import { Redis } from 'ioredis';

import { AuditService } from '../../src/audit/audit.service';
import { signedInUser } from '../support/accounts';
import { TEST_REDIS_URL } from '../support/services';
import { startTestApp, TestApp } from '../support/test-app';
import { decodeJwt } from '../support/tokens';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Published {
  type?: string;
  userId?: string;
  pattern?: string;
  data?: { userId?: string };
}

describe('impersonation, events and the audit log', () => {
  let t: TestApp;
  let subscriber: Redis;
  const channelMessages: Array<{ channel: string; message: Published }> = [];
  const admin = { email: `imp-admin-${process.pid}-${Date.now()}@example.com`, password: 'admin password of good length' };
  let adminAuth: { authorization: string };
  let adminId: string;
  const prefix = `gatehouse-test-events-${process.pid}`;

  beforeAll(async () => {
    t = await startTestApp({ BOOTSTRAP_ADMIN_EMAIL: admin.email, BOOTSTRAP_ADMIN_PASSWORD: admin.password, REDIS_PREFIX: prefix });
    subscriber = new Redis(TEST_REDIS_URL);
    subscriber.on('message', (channel: string, message: string) =>
      channelMessages.push({ channel, message: JSON.parse(message) as Published }),
    );
    await subscriber.subscribe(`${prefix}.events`, 'user.logged_in');
    const res = await t.http().post('/auth/login').send(admin).expect(200);
    adminAuth = { authorization: `Bearer ${res.body.tokens.accessToken}` };
    adminId = res.body.user.id;
  });
  afterAll(async () => {
    subscriber.disconnect();
    await t.close();
  });

  it('gives an admin a marked session of the target; refresh keeps the mark', async () => {
    const m = await signedInUser(t, 'imp');
    const res = await t.http().post('/auth/impersonate').set(adminAuth).send({ userId: m.id }).expect(200);
    expect(res.body.user).toMatchObject({ id: m.id, email: m.email });
    const { payload } = decodeJwt(res.body.tokens.accessToken);
    expect(payload).toMatchObject({ sub: m.id, isImpersonated: true, act: { sub: adminId } });
    const asTarget = { authorization: `Bearer ${res.body.tokens.accessToken}` };
    expect((await t.http().get('/auth/me').set(asTarget).expect(200)).body.user.id).toBe(m.id);
    const sessions = await t.http().get('/sessions').set(m.auth).expect(200);
    expect(sessions.body).toEqual(expect.arrayContaining([expect.objectContaining({ id: res.body.sessionId, impersonatorId: adminId })]));
    const refreshed = await t.http().post('/auth/refresh').send({ refreshToken: res.body.tokens.refreshToken }).expect(200);
    expect(decodeJwt(refreshed.body.tokens.accessToken).payload).toMatchObject({ isImpersonated: true, act: { sub: adminId } });
    const verified = await t.rpc.tcp.send<{ isImpersonated: boolean }>('auth.verify', { accessToken: refreshed.body.tokens.accessToken });
    expect(verified.isImpersonated).toBe(true);
  });

  it('keeps impersonation sessions short, and ends them when their admin is demoted or deactivated', async () => {
    const target = await signedInUser(t, 'imp');
    const demoted = await signedInUser(t, 'imp');
    const fired = await signedInUser(t, 'imp');
    for (const a of [demoted, fired])
      await t
        .http()
        .put(`/users/${a.id}/roles`)
        .set(adminAuth)
        .send({ roles: ['user', 'admin'] })
        .expect(200);
    const viaDemoted = await t.http().post('/auth/impersonate').set(demoted.auth).send({ userId: target.id }).expect(200);
    const viaFired = await t.http().post('/auth/impersonate').set(fired.auth).send({ userId: target.id }).expect(200);
    const left = new Date(viaDemoted.body.tokens.refreshTokenExpiresAt).getTime() - Date.now();
    expect(left).toBeLessThanOrEqual(3600_000);
    await t
      .http()
      .get('/auth/me')
      .set({ authorization: `Bearer ${viaDemoted.body.tokens.accessToken}` })
      .expect(200);
    await t
      .http()
      .put(`/users/${demoted.id}/roles`)
      .set(adminAuth)
      .send({ roles: ['user'] })
      .expect(200);
    await t
      .http()
      .get('/auth/me')
      .set({ authorization: `Bearer ${viaDemoted.body.tokens.accessToken}` })
      .expect(401);
    await t.http().post('/auth/refresh').send({ refreshToken: viaDemoted.body.tokens.refreshToken }).expect(401);
    await t
      .http()
      .get('/auth/me')
      .set({ authorization: `Bearer ${viaFired.body.tokens.accessToken}` })
      .expect(200);
    await t.http().post(`/users/${fired.id}/deactivate`).set(adminAuth).expect(204);
    await t
      .http()
      .get('/auth/me')
      .set({ authorization: `Bearer ${viaFired.body.tokens.accessToken}` })
      .expect(401);
    // The target's own session is untouched.
    await t.http().get('/auth/me').set(target.auth).expect(200);
  });

  it('refuses an impersonated session to impersonate or change the password', async () => {
    const m = await signedInUser(t, 'imp');
    const other = await signedInUser(t, 'imp');
    const res = await t.http().post('/auth/impersonate').set(adminAuth).send({ userId: m.id }).expect(200);
    const asTarget = { authorization: `Bearer ${res.body.tokens.accessToken}` };
    await t.http().post('/auth/impersonate').set(asTarget).send({ userId: other.id }).expect(403);
    const change = await t
      .http()
      .post('/auth/password/change')
      .set(asTarget)
      .send({ currentPassword: m.password, newPassword: 'another good password' })
      .expect(403);
    expect(change.body.code).toBe('FORBIDDEN');
    await t.http().post('/auth/login').send({ email: m.email, password: m.password }).expect(200);
  });

  it('refuses oneself, another admin and a deactivated user (403), unknown users (404), non-admins (403)', async () => {
    const m = await signedInUser(t, 'imp');
    const otherAdmin = await signedInUser(t, 'imp');
    await t
      .http()
      .put(`/users/${otherAdmin.id}/roles`)
      .set(adminAuth)
      .send({ roles: ['user', 'admin'] })
      .expect(200);
    const deactivated = await signedInUser(t, 'imp');
    await t.http().post(`/users/${deactivated.id}/deactivate`).set(adminAuth).expect(204);
    const code = async (auth: { authorization: string }, userId: string, status: number): Promise<string> =>
      (await t.http().post('/auth/impersonate').set(auth).send({ userId }).expect(status)).body.code;
    expect(await code(adminAuth, adminId, 403)).toBe('FORBIDDEN');
    expect(await code(adminAuth, otherAdmin.id, 403)).toBe('FORBIDDEN');
    expect(await code(adminAuth, deactivated.id, 403)).toBe('FORBIDDEN');
    expect(await code(adminAuth, '00000000-0000-4000-8000-000000000000', 404)).toBe('NOT_FOUND');
    expect(await code(m.auth, deactivated.id, 403)).toBe('FORBIDDEN');
    expect(await code(adminAuth, 'not-a-uuid', 400)).toBe('VALIDATION_FAILED');
    const sessions = await t.db.query('SELECT count(*)::int AS n FROM sessions WHERE impersonator_id IS NOT NULL AND user_id = ANY($1)', [
      [otherAdmin.id, deactivated.id],
    ]);
    expect(sessions[0].n).toBe(0);
  });

  it('serves auth.impersonate over TCP with the same rules', async () => {
    const m = await signedInUser(t, 'imp');
    const adminToken = adminAuth.authorization.slice(7);
    const result = await t.rpc.tcp.send<{ user: { id: string }; tokens: { accessToken: string } }>('auth.impersonate', {
      accessToken: adminToken,
      userId: m.id,
    });
    expect(result.user.id).toBe(m.id);
    expect(decodeJwt(result.tokens.accessToken).payload.act).toEqual({ sub: adminId });
    expect(await t.rpc.tcp.fail('auth.impersonate', { accessToken: m.auth.authorization.slice(7), userId: m.id })).toMatchObject({
      statusCode: 403,
      code: 'FORBIDDEN',
    });
    expect(await t.rpc.tcp.fail('auth.impersonate', { accessToken: adminToken, userId: adminId })).toMatchObject({ code: 'FORBIDDEN' });
    expect(await t.rpc.tcp.fail('auth.impersonate', { userId: m.id })).toMatchObject({ code: 'UNAUTHORIZED' });
  });

  it('audits what happened to a user, for admins only, with filters and a cursor', async () => {
    const m = await signedInUser(t, 'imp');
    await t.http().post('/auth/login').send({ email: m.email, password: 'wrong password!' }).set('user-agent', 'audit-test').expect(401);
    await t.http().post('/auth/impersonate').set(adminAuth).send({ userId: m.id }).expect(200);
    await t.http().post('/auth/logout').set(m.auth).expect(204);
    await t.app.get(AuditService).flushed();
    const all = await t.http().get('/audit').query({ userId: m.id }).set(adminAuth).expect(200);
    const types = all.body.items.map((e: { type: string }) => e.type);
    expect(types.sort()).toEqual(['session.revoked', 'user.impersonated', 'user.logged_in', 'user.login_failed', 'user.registered'].sort());
    const failed = all.body.items.find((e: { type: string }) => e.type === 'user.login_failed');
    expect(failed).toMatchObject({ userId: m.id, ip: '127.0.0.1', userAgent: 'audit-test' });
    const impersonated = all.body.items.find((e: { type: string }) => e.type === 'user.impersonated');
    expect(impersonated).toMatchObject({ userId: m.id, actorId: adminId, sessionId: expect.any(String) });
    const page1 = await t.http().get('/audit').query({ userId: m.id, limit: 2 }).set(adminAuth).expect(200);
    const page2 = await t.http().get('/audit').query({ userId: m.id, limit: 2, cursor: page1.body.nextCursor }).set(adminAuth).expect(200);
    const page3 = await t.http().get('/audit').query({ userId: m.id, limit: 2, cursor: page2.body.nextCursor }).set(adminAuth).expect(200);
    expect([...page1.body.items, ...page2.body.items, ...page3.body.items].map((e: { id: string }) => e.id)).toEqual(
      all.body.items.map((e: { id: string }) => e.id),
    );
    expect(page3.body.nextCursor).toBeNull();
    const onlyFailed = await t.http().get('/audit').query({ userId: m.id, type: 'user.login_failed' }).set(adminAuth).expect(200);
    expect(onlyFailed.body.items).toHaveLength(1);
    await t.http().get('/audit').set(m.auth).expect(401);
    const other = await signedInUser(t, 'imp');
    await t.http().get('/audit').set(other.auth).expect(403);
    await t.http().get('/audit').query({ type: 'nope' }).set(adminAuth).expect(400);
  });

  it('publishes events on <prefix>.events and as Nest event patterns over Redis, never with a secret', async () => {
    const m = await signedInUser(t, 'imp');
    await t.http().post('/auth/logout').set(m.auth).expect(204);
    for (let i = 0; i < 100 && !channelMessages.some((x) => x.message.type === 'session.revoked' && x.message.userId === m.id); i += 1)
      await sleep(20);
    const mine = channelMessages.filter((x) => x.channel === `${prefix}.events` && x.message.userId === m.id).map((x) => x.message);
    expect(mine.map((e) => e.type)).toEqual(expect.arrayContaining(['user.registered', 'user.logged_in', 'session.revoked']));
    expect(mine.find((e) => e.type === 'session.revoked')).toMatchObject({
      userId: m.id,
      sessionId: expect.any(String),
      at: expect.any(String),
    });
    const pattern = channelMessages.find((x) => x.channel === 'user.logged_in' && x.message.data?.userId === m.id);
    expect(pattern?.message).toMatchObject({ pattern: 'user.logged_in', data: { type: 'user.logged_in', userId: m.id } });
    expect(JSON.stringify(mine)).not.toMatch(/password|argon2|token/i);
  });
});
