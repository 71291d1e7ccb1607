import { AuditService } from '../../src/audit/audit.service';
import { BackgroundTasks } from '../../src/platform/lifecycle/background-tasks.service';
import { sha256Hex } from '../../src/shared/crypto';
import { bearer, mailedToken, registerUser, signedInUser, signIn } from '../support/accounts';
import { SmtpSink, type ReceivedMail } from '../support/smtp-sink';
import { startTestApp, TestApp, uniqueUser } from '../support/test-app';

const APP_URL = 'https://id.example.test';

describe('self-service account: profile and email change, over REST and TCP', () => {
  const sink = new SmtpSink();
  let t: TestApp;

  beforeAll(async () => {
    await sink.start();
    t = await startTestApp({ SMTP_URL: sink.url, APP_URL });
  });
  afterAll(async () => {
    await t.close();
    await sink.stop();
  });

  const settled = (): Promise<void> => t.app.get(BackgroundTasks).settled();
  /** The first mail to `address` with this subject, waiting for it to arrive. */
  const mailed = async (address: string, subject: string): Promise<ReceivedMail> => {
    for (let waited = 0; waited < 15_000; waited += 50) {
      const mail = sink.to(address).find((m) => m.subject === subject);
      if (mail) return mail;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`no mail "${subject}" reached ${address}`);
  };
  const auditTypes = async (userId: string): Promise<Array<{ type: string; details: unknown }>> => {
    await t.app.get(AuditService).flushed();
    return t.db.query(`SELECT type, details FROM audit_log WHERE user_id = $1 ORDER BY at`, [userId]);
  };

  describe('PATCH /auth/me and users.updateProfile', () => {
    it('sets the username (normalised as at registration) and the display name, and audits user.updated by field', async () => {
      const u = await signedInUser(t, 'profile');
      const wanted = uniqueUser('renamed').username;
      const res = await t
        .http()
        .patch('/auth/me')
        .set(u.auth)
        .send({ username: `  ${wanted.toUpperCase()} `, displayName: '  Ａda Lovelace  ' })
        .expect(200);
      expect(res.body.user).toMatchObject({ id: u.id, email: u.email, username: wanted, displayName: 'Ada Lovelace' });
      // The public User, as every other route answers it (its exact keys are the OpenAPI suite's subject).
      const me = await t.http().get('/auth/me').set(u.auth).expect(200);
      expect(Object.keys(res.body.user).sort()).toEqual(Object.keys(me.body.user).sort());
      expect(me.body.user).toEqual(res.body.user);
      const [row] = await t.db.query(`SELECT username, display_name FROM users WHERE id = $1`, [u.id]);
      expect(row).toEqual({ username: wanted, display_name: 'Ada Lovelace' });
      // The new username logs in.
      await t.http().post('/auth/login').send({ username: wanted, password: u.password }).expect(200);
      expect(await auditTypes(u.id)).toContainEqual({ type: 'user.updated', details: { fields: ['username', 'displayName'] } });

      // null clears either field; a blank display name is none.
      const cleared = await t.http().patch('/auth/me').set(u.auth).send({ username: null, displayName: '   ' }).expect(200);
      expect(cleared.body.user).toMatchObject({ username: null, displayName: null });
    });

    it.each([
      ['email', { email: 'other@example.com' }],
      ['roles', { roles: ['admin'] }],
      ['emailVerified', { emailVerified: true }],
      ['deactivated', { deactivated: false }],
    ])('refuses the unknown field %s with 400 VALIDATION_FAILED, changing nothing', async (field, body) => {
      const u = await signedInUser(t, 'massassign');
      const before = await t.db.query(`SELECT email, roles, email_verified, updated_at FROM users WHERE id = $1`, [u.id]);
      const res = await t
        .http()
        .patch('/auth/me')
        .set(u.auth)
        .send({ displayName: 'Mallory', ...body })
        .expect(400);
      expect(res.body).toEqual({
        statusCode: 400,
        code: 'VALIDATION_FAILED',
        message: expect.any(String),
        errors: [{ field, messages: [`property ${field} should not exist`] }],
      });
      expect(await t.db.query(`SELECT email, roles, email_verified, updated_at FROM users WHERE id = $1`, [u.id])).toEqual(before);
    });

    it.each([
      ['username', 'ab', 'username must be 3-32 characters of a-z, 0-9, ".", "_" or "-"'],
      ['username', 'with space', 'username must be 3-32 characters of a-z, 0-9, ".", "_" or "-"'],
      ['username', 42, 'username must be a string'],
      ['displayName', 'x'.repeat(65), 'displayName must be at most 64 characters'],
      ['displayName', 'Ada\u0000', 'displayName must not contain control characters'],
      ['displayName', 'Ada\nLovelace', 'displayName must not contain control characters'],
      ['displayName', 'evil\u202Egnp.exe', 'displayName must not contain bidirectional control characters'],
      ['displayName', 7, 'displayName must be a string'],
    ])('refuses %s %j with its message', async (field, value, message) => {
      const u = await signedInUser(t, 'badprofile');
      const res = await t
        .http()
        .patch('/auth/me')
        .set(u.auth)
        .send({ [field]: value })
        .expect(400);
      expect(res.body.code).toBe('VALIDATION_FAILED');
      expect(res.body.errors).toContainEqual({ field, messages: expect.arrayContaining([message]) });
    });

    it('answers 409 USERNAME_TAKEN for a username another account has (over REST and TCP)', async () => {
      const other = await registerUser(t, 'taken');
      const u = await signedInUser(t, 'taker');
      const res = await t.http().patch('/auth/me').set(u.auth).send({ username: other.username.toUpperCase() }).expect(409);
      expect(res.body).toEqual({ statusCode: 409, code: 'USERNAME_TAKEN', message: 'username is taken' });
      expect(await t.rpc.tcp.fail('users.updateProfile', { accessToken: u.accessToken, username: other.username })).toMatchObject({
        statusCode: 409,
        code: 'USERNAME_TAKEN',
      });
    });

    it('needs a token, and answers over TCP like REST', async () => {
      await t.http().patch('/auth/me').send({ displayName: 'x' }).expect(401);
      const u = await signedInUser(t, 'rpcprofile');
      const reply = await t.rpc.tcp.send<{ user: { displayName: string } }>('users.updateProfile', {
        accessToken: u.accessToken,
        displayName: 'Grace Hopper',
      });
      expect(reply.user).toMatchObject({ id: u.id, displayName: 'Grace Hopper' });
      expect(await t.rpc.tcp.fail('users.updateProfile', { accessToken: u.accessToken, roles: ['admin'] })).toMatchObject({
        statusCode: 400,
        code: 'VALIDATION_FAILED',
        errors: [{ field: 'roles', messages: ['property roles should not exist'] }],
      });
      expect(await t.rpc.tcp.fail('users.updateProfile', { displayName: 'x' })).toMatchObject({ statusCode: 401, code: 'UNAUTHORIZED' });
    });
  });

  describe('POST /auth/email/change and /auth/email/change/confirm', () => {
    it('keeps the old address as the login until the new one confirms; then only the new one works, verified', async () => {
      const u = await signedInUser(t, 'mover');
      const other = await signIn(t, u);
      const next = uniqueUser('moved').email;
      const res = await t
        .http()
        .post('/auth/email/change')
        .set(u.auth)
        .send({ newEmail: `  ${next.toUpperCase()} ` })
        .expect(202);
      expect(res.text).toBe('');
      await settled();

      const link = (await sink.waitFor(1, next))[0];
      expect(link.subject).toBe('Confirm your new email address');
      expect(link.links[0]).toMatch(new RegExp(`^${APP_URL}/email-change\\?token=[A-Za-z0-9_-]{43}$`));
      const token = await mailedToken(sink, next, '/email-change');
      const notice = await mailed(u.email, 'A change of your email address was requested');
      expect(notice.text).toContain(next);
      expect(notice.links.some((l) => l.includes('token='))).toBe(false);
      // Stored only hashed, bound to the new address.
      expect(await t.db.query(`SELECT token_hash, email FROM email_change_tokens WHERE user_id = $1`, [u.id])).toEqual([
        { token_hash: sha256Hex(token), email: next },
      ]);

      // Until confirmed, the old address is the login (and the reset target).
      await t.http().post('/auth/login').send({ email: u.email, password: u.password }).expect(200);
      await t.http().post('/auth/login').send({ email: next, password: u.password }).expect(401);
      await t.http().post('/auth/password/forgot').send({ email: u.email }).expect(202);
      await settled();
      const resetToken = await mailedToken(sink, u.email, '/reset-password');

      const confirmed = await t.http().post('/auth/email/change/confirm').send({ token }).expect(200);
      expect(confirmed.body.user).toMatchObject({ id: u.id, email: next, emailVerified: true });
      await t.http().post('/auth/login').send({ email: next, password: u.password }).expect(200);
      expect((await t.http().post('/auth/login').send({ email: u.email, password: u.password }).expect(401)).body.code).toBe(
        'INVALID_CREDENTIALS',
      );
      // The session that asked lives on; every other one ended; the old address's reset link is void.
      await t.http().get('/auth/me').set(u.auth).expect(200);
      await t.http().get('/auth/me').set(other.auth).expect(401);
      await t.http().post('/auth/refresh').send({ refreshToken: other.refreshToken }).expect(401);
      expect(
        (await t.http().post('/auth/password/reset').send({ token: resetToken, password: 'a brand new passphrase' }).expect(400)).body.code,
      ).toBe('INVALID_TOKEN');
      // One use.
      expect((await t.http().post('/auth/email/change/confirm').send({ token }).expect(400)).body).toEqual({
        statusCode: 400,
        code: 'INVALID_TOKEN',
        message: 'invalid or expired token',
      });
      expect((await auditTypes(u.id)).map((e) => e.type)).toEqual(expect.arrayContaining(['user.email_change_requested', 'user.updated']));
      expect(await auditTypes(u.id)).toContainEqual({ type: 'user.updated', details: { fields: ['email'] } });
    });

    it("answers alike for an address another account holds: that owner is told, the requester's old address too, no link", async () => {
      const owner = await registerUser(t, 'owner');
      const u = await signedInUser(t, 'squatter');
      const res = await t.http().post('/auth/email/change').set(u.auth).send({ newEmail: owner.email }).expect(202);
      expect(res.text).toBe('');
      await settled();
      const told = await mailed(owner.email, 'Someone tried to use your email address');
      expect(told.links).toEqual([]);
      await mailed(u.email, 'A change of your email address was requested');
      expect(await t.db.query(`SELECT 1 FROM email_change_tokens WHERE user_id = $1`, [u.id])).toEqual([]);
      expect((await t.db.query(`SELECT email FROM users WHERE id = $1`, [owner.id]))[0].email).toBe(owner.email);
    });

    it('refuses the confirmation with 409 EMAIL_TAKEN when someone registered the address meanwhile', async () => {
      const u = await signedInUser(t, 'racer');
      const next = uniqueUser('contested');
      await t.http().post('/auth/email/change').set(u.auth).send({ newEmail: next.email }).expect(202);
      await settled();
      const token = await mailedToken(sink, next.email, '/email-change');
      await registerUser(t, next);
      expect((await t.http().post('/auth/email/change/confirm').send({ token }).expect(409)).body).toEqual({
        statusCode: 409,
        code: 'EMAIL_TAKEN',
        message: 'email is already registered',
      });
      expect((await t.db.query(`SELECT email FROM users WHERE id = $1`, [u.id]))[0].email).toBe(u.email);
      await t.http().get('/auth/me').set(u.auth).expect(200);
    });

    it('refuses an expired link, its own address, and a bad address', async () => {
      const u = await signedInUser(t, 'expiry');
      const next = uniqueUser('late').email;
      await t.http().post('/auth/email/change').set(u.auth).send({ newEmail: next }).expect(202);
      await settled();
      const token = await mailedToken(sink, next, '/email-change');
      await t.db.query(`UPDATE email_change_tokens SET expires_at = now() - interval '1 second' WHERE token_hash = $1`, [sha256Hex(token)]);
      expect((await t.http().post('/auth/email/change/confirm').send({ token }).expect(400)).body.code).toBe('INVALID_TOKEN');

      const same = await t.http().post('/auth/email/change').set(u.auth).send({ newEmail: u.email.toUpperCase() }).expect(400);
      expect(same.body.errors).toEqual([{ field: 'newEmail', messages: ['newEmail is already the address of this account'] }]);
      const bad = await t.http().post('/auth/email/change').set(u.auth).send({ newEmail: 'not an address' }).expect(400);
      expect(bad.body.errors).toEqual([{ field: 'newEmail', messages: ['newEmail must be a valid email address'] }]);
      await t.http().post('/auth/email/change').send({ newEmail: next }).expect(401);
    });

    it('works over TCP: auth.email.change answers { accepted: true }, auth.email.change.confirm { user }', async () => {
      const u = await signedInUser(t.rpc.tcp, 'rpcmover');
      const next = uniqueUser('rpcmoved').email;
      expect(await t.rpc.tcp.send('auth.email.change', { accessToken: u.accessToken, newEmail: next })).toEqual({ accepted: true });
      await settled();
      const token = await mailedToken(sink, next, '/email-change');
      const reply = await t.rpc.tcp.send<{ user: { email: string; emailVerified: boolean } }>('auth.email.change.confirm', { token });
      expect(reply.user).toMatchObject({ email: next, emailVerified: true });
      expect(await t.rpc.tcp.fail('auth.email.change.confirm', { token })).toMatchObject({ statusCode: 400, code: 'INVALID_TOKEN' });
      expect(await t.rpc.tcp.fail('auth.email.change', { newEmail: next })).toMatchObject({ statusCode: 401, code: 'UNAUTHORIZED' });
    });

    it('a newer request voids the older link', async () => {
      const u = await signedInUser(t, 'twice');
      const first = uniqueUser('first').email;
      const second = uniqueUser('second').email;
      await t.http().post('/auth/email/change').set(u.auth).send({ newEmail: first }).expect(202);
      await settled();
      const old = await mailedToken(sink, first, '/email-change');
      await t.http().post('/auth/email/change').set(bearer(u.accessToken)).send({ newEmail: second }).expect(202);
      await settled();
      await mailedToken(sink, second, '/email-change');
      expect((await t.http().post('/auth/email/change/confirm').send({ token: old }).expect(400)).body.code).toBe('INVALID_TOKEN');
    });
  });
});
