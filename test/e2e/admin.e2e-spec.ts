import { EventEmitter2 } from '@nestjs/event-emitter';

import { AuditService } from '../../src/audit/audit.service';
import { DomainEvents } from '../../src/events/domain-events.service';
import { DatabaseConnection } from '../../src/platform/database/database-connection';
import { BootstrapAdmin } from '../../src/users/bootstrap-admin.service';
import { PasswordHasher } from '../../src/users/password-hasher.service';
import { UsersService } from '../../src/users/users.service';
import { signedInUser } from '../support/accounts';
import { startTestApp, TestApp } from '../support/test-app';

describe('administration: bootstrap admin, roles, user management', () => {
  let t: TestApp;
  const admin = { email: `admin-${process.pid}-${Date.now()}@example.com`, password: 'admin password of good length' };
  let adminAuth: { authorization: string };

  beforeAll(async () => {
    t = await startTestApp({ BOOTSTRAP_ADMIN_EMAIL: admin.email, BOOTSTRAP_ADMIN_PASSWORD: admin.password });
    const res = await t.http().post('/auth/login').send(admin).expect(200);
    expect(res.body.user).toMatchObject({ email: admin.email, emailVerified: true, roles: ['user', 'admin'] });
    adminAuth = { authorization: `Bearer ${res.body.tokens.accessToken}` };
  });
  afterAll(() => t.close());

  it('keeps the bootstrap admin idempotent across starts, restoring a lost admin role', async () => {
    // Passport's strategy registry is process-wide, so a second app in this process would take over
    // the first one's strategies: the start-up step is run again on the same app instead.
    const bootstrap = t.app.get(BootstrapAdmin);
    await bootstrap.onApplicationBootstrap();
    expect(await t.db.query('SELECT roles, email_verified FROM users WHERE email = $1', [admin.email])).toEqual([
      { roles: ['user', 'admin'], email_verified: true },
    ]);
    await t.db.query(`UPDATE users SET roles = '{user}' WHERE email = $1`, [admin.email]);
    await bootstrap.onApplicationBootstrap();
    expect(await t.db.query('SELECT roles, email_verified FROM users WHERE email = $1', [admin.email])).toEqual([
      { roles: ['user', 'admin'], email_verified: true },
    ]);
    // A verified admin keeps its password and its sessions.
    await t.http().get('/users').set(adminAuth).expect(200);
  });

  it('does not hand the admin role to whoever squatted the bootstrap address with an unverified account', async () => {
    const squatter = await signedInUser(t, 'member'); // registered (unverified) before the operator configured the address
    const configured = 'the operator chose this one';
    const bootstrap = new BootstrapAdmin(
      { ...t.config, bootstrapAdmin: { email: squatter.email, password: configured } },
      t.app.get(UsersService),
      t.app.get(PasswordHasher),
      t.app.get(EventEmitter2),
      t.app.get(DatabaseConnection),
      t.app.get(DomainEvents),
    );
    await bootstrap.onApplicationBootstrap();
    await t.app.get(AuditService).flushed();
    const grants = await t.db.query(`SELECT actor_id, details FROM audit_log WHERE type = 'user.roles_changed' AND user_id = $1`, [
      squatter.id,
    ]);
    expect(grants).toEqual([{ actor_id: null, details: { roles: ['user', 'admin'], reason: 'bootstrap_admin' } }]);
    await t.http().get('/auth/me').set(squatter.auth).expect(401);
    await t.http().post('/auth/login').send({ email: squatter.email, password: squatter.password }).expect(401);
    const res = await t.http().post('/auth/login').send({ email: squatter.email, password: configured }).expect(200);
    expect(res.body.user).toMatchObject({ roles: ['user', 'admin'], emailVerified: true });
  });

  it('audits role changes with the admin who made them, and the bootstrap grant with none', async () => {
    const m = await signedInUser(t, 'member');
    const adminId = (await t.http().get('/auth/me').set(adminAuth).expect(200)).body.user.id;
    await t
      .http()
      .put(`/users/${m.id}/roles`)
      .set(adminAuth)
      .send({ roles: ['user', 'editor'] })
      .expect(200);
    await t.app.get(AuditService).flushed();
    const audit = await t.http().get(`/audit?userId=${m.id}&type=user.roles_changed`).set(adminAuth).expect(200);
    expect(audit.body.items).toEqual([
      expect.objectContaining({ type: 'user.roles_changed', userId: m.id, actorId: adminId, details: { roles: ['user', 'editor'] } }),
    ]);
    const bootstrap = t.app.get(BootstrapAdmin);
    await t.db.query(`UPDATE users SET roles = '{user}' WHERE id = $1`, [adminId]);
    await bootstrap.onApplicationBootstrap();
    await t.app.get(AuditService).flushed();
    const grants = await t.db.query(
      `SELECT actor_id, details FROM audit_log WHERE type = 'user.roles_changed' AND user_id = $1 ORDER BY at DESC LIMIT 1`,
      [adminId],
    );
    expect(grants).toEqual([{ actor_id: null, details: { roles: ['user', 'admin'], reason: 'bootstrap_admin' } }]);
  });

  it('audits a trusted loginWithUser as its own event type, naming the transport', async () => {
    const m = await signedInUser(t, 'member');
    await t.rpc.tcp.send('auth.loginWithUser', { userId: m.id });
    await t.rpc.redis.send('auth.loginWithUser', { userId: m.id });
    await t.app.get(AuditService).flushed();
    const rows = await t.db.query(`SELECT type, details FROM audit_log WHERE user_id = $1 AND type LIKE 'user.logged_in%' ORDER BY at`, [
      m.id,
    ]);
    expect(rows).toEqual([
      { type: 'user.logged_in', details: { amr: ['pwd'] } },
      { type: 'user.logged_in_by_service', details: { amr: [], transport: 'tcp' } },
      { type: 'user.logged_in_by_service', details: { amr: [], transport: 'redis' } },
    ]);
  });

  it('refuses admin routes to anonymous callers (401) and to non-admins (403)', async () => {
    const m = await signedInUser(t, 'member');
    expect((await t.http().get(`/users/${m.id}`).expect(401)).body.code).toBe('UNAUTHORIZED');
    expect((await t.http().get(`/users/${m.id}`).set(m.auth).expect(403)).body).toEqual({
      statusCode: 403,
      code: 'FORBIDDEN',
      message: expect.any(String),
    });
    await t.http().get('/users').set(m.auth).expect(403);
    await t.http().post(`/users/${m.id}/deactivate`).set(m.auth).expect(403);
    await t
      .http()
      .put(`/users/${m.id}/roles`)
      .set(m.auth)
      .send({ roles: ['admin'] })
      .expect(403);
    expect((await t.db.query('SELECT roles, deactivated_at FROM users WHERE id = $1', [m.id]))[0]).toEqual({
      roles: ['user'],
      deactivated_at: null,
    });
  });

  it('reads one user, 404 for unknown and malformed ids', async () => {
    const m = await signedInUser(t, 'member');
    const res = await t.http().get(`/users/${m.id}`).set(adminAuth).expect(200);
    expect(res.body.user).toMatchObject({ id: m.id, email: m.email, deactivated: false });
    await t.http().get('/users/00000000-0000-4000-8000-000000000000').set(adminAuth).expect(404);
    await t.http().get('/users/not-a-uuid').set(adminAuth).expect(404);
  });

  it('lists users newest first with a cursor, and filters by exact email and username', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const res: { body: { items: Array<{ id: string; createdAt: string }>; nextCursor: string | null } } = await t
        .http()
        .get('/users')
        .query({ limit: 7, ...(cursor ? { cursor } : {}) })
        .set(adminAuth)
        .expect(200);
      expect(res.body.items.length).toBeLessThanOrEqual(7);
      seen.push(...res.body.items.map((u) => u.id));
      cursor = res.body.nextCursor;
    } while (cursor);
    const all = await t.db.query('SELECT id FROM users');
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen.length).toBe(all.length);
    const m = await signedInUser(t, 'member');
    const byEmail = await t.http().get('/users').query({ email: m.email.toUpperCase() }).set(adminAuth).expect(200);
    expect(byEmail.body).toEqual({ items: [expect.objectContaining({ id: m.id })], nextCursor: null });
    const username = (await t.db.query('SELECT username FROM users WHERE id = $1', [m.id]))[0].username;
    const byName = await t.http().get('/users').query({ username }).set(adminAuth).expect(200);
    expect(byName.body.items.map((u: { id: string }) => u.id)).toEqual([m.id]);
    for (const query of [{ limit: 0 }, { limit: 101 }, { cursor: 'garbage' }, { email: 'nope' }, { unknown: 1 }]) {
      expect((await t.http().get('/users').query(query).set(adminAuth).expect(400)).body.code).toBe('VALIDATION_FAILED');
    }
  });

  it('deactivation ends every session at once; login answers USER_DEACTIVATED only after a correct password; activation restores login', async () => {
    const m = await signedInUser(t, 'member');
    await t.http().get('/auth/me').set(m.auth).expect(200);
    await t.http().post(`/users/${m.id}/deactivate`).set(adminAuth).expect(204);
    await t.http().get('/auth/me').set(m.auth).expect(401);
    expect((await t.http().post('/auth/refresh').send({ refreshToken: m.refreshToken }).expect(401)).body.code).toBe(
      'INVALID_REFRESH_TOKEN',
    );
    expect((await t.http().post('/auth/login').send({ email: m.email, password: 'wrong password!' }).expect(401)).body.code).toBe(
      'INVALID_CREDENTIALS',
    );
    expect((await t.http().post('/auth/login').send({ email: m.email, password: m.password }).expect(403)).body.code).toBe(
      'USER_DEACTIVATED',
    );
    const live = await t.db.query('SELECT count(*)::int AS n FROM sessions WHERE user_id = $1 AND revoked_at IS NULL', [m.id]);
    expect(live[0].n).toBe(0);
    expect((await t.http().get(`/users/${m.id}`).set(adminAuth).expect(200)).body.user.deactivated).toBe(true);
    await t.http().post(`/users/${m.id}/activate`).set(adminAuth).expect(204);
    await t.http().post('/auth/login').send({ email: m.email, password: m.password }).expect(200);
  });

  it('role changes apply at once to existing tokens: promoted, then demoted', async () => {
    const m = await signedInUser(t, 'member');
    await t.http().get('/users').set(m.auth).expect(403);
    const promoted = await t
      .http()
      .put(`/users/${m.id}/roles`)
      .set(adminAuth)
      .send({ roles: ['user', 'admin'] })
      .expect(200);
    expect(promoted.body.user.roles).toEqual(['user', 'admin']);
    await t.http().get('/users').set(m.auth).expect(200);
    await t
      .http()
      .put(`/users/${m.id}/roles`)
      .set(adminAuth)
      .send({ roles: ['user'] })
      .expect(200);
    await t.http().get('/users').set(m.auth).expect(403);
    for (const roles of [['Admin'], ['x'.repeat(40)], 'admin', ['a', 'a']]) {
      expect((await t.http().put(`/users/${m.id}/roles`).set(adminAuth).send({ roles }).expect(400)).body.code).toBe('VALIDATION_FAILED');
    }
  });

  it('users.deactivate and users.activate over TCP', async () => {
    const m = await signedInUser(t, 'member');
    const off = await t.rpc.tcp.send<{ user: { id: string; deactivated: boolean } }>('users.deactivate', { id: m.id });
    expect(off.user).toMatchObject({ id: m.id, deactivated: true });
    await t.http().get('/auth/me').set(m.auth).expect(401);
    expect(await t.rpc.tcp.fail('auth.login', { email: m.email, password: m.password })).toMatchObject({ code: 'USER_DEACTIVATED' });
    const on = await t.rpc.tcp.send<{ user: { deactivated: boolean } }>('users.activate', { id: m.id });
    expect(on.user.deactivated).toBe(false);
    expect(await t.rpc.tcp.fail('users.deactivate', { id: '00000000-0000-4000-8000-000000000000' })).toMatchObject({ code: 'NOT_FOUND' });
    expect(await t.rpc.tcp.fail('users.activate', { id: 'nope' })).toMatchObject({ code: 'VALIDATION_FAILED' });
  });
});
