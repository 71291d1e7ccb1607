import { sha256Hex } from '../../src/shared/crypto';
import { verifiedUser } from '../support/accounts';
import { SmtpSink, tokenOf } from '../support/smtp-sink';
import { startTestApp, TestApp, uniqueUser } from '../support/test-app';

const APP_URL = 'https://id.example.test';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('account mail through the outbox, over a real SMTP server', () => {
  const sink = new SmtpSink();
  let t: TestApp;

  beforeAll(async () => {
    await sink.start();
    t = await startTestApp({
      SMTP_URL: sink.url,
      REQUIRE_EMAIL_VERIFICATION: 'true',
      APP_URL,
      MAIL_FROM: 'Gatehouse <no-reply@example.test>',
    });
  });
  afterAll(async () => {
    await t.close();
    await sink.stop();
  });

  const login = (u: { email: string; password: string }) => t.http().post('/auth/login').send({ email: u.email, password: u.password });

  it('mails a working verification link once; the token works once and is stored only hashed', async () => {
    const u = uniqueUser('verify');
    await t.http().post('/auth/register').send(u).expect(202);
    const [mail] = await sink.waitFor(1, u.email);
    expect(mail.subject).toBe('Confirm your email address');
    expect(mail.links[0]).toMatch(new RegExp(`^${APP_URL}/verify-email\\?token=[A-Za-z0-9_-]{43}$`));
    expect(mail.html).toContain(mail.links[0]);
    const token = tokenOf(mail.links[0]);

    expect((await login(u).expect(403)).body.code).toBe('EMAIL_NOT_VERIFIED');
    const verified = await t.http().post('/auth/email/verify').send({ token }).expect(200);
    expect(verified.body.user).toMatchObject({ email: u.email, emailVerified: true });
    await login(u).expect(200);
    expect((await t.http().post('/auth/email/verify').send({ token }).expect(400)).body).toEqual({
      statusCode: 400,
      code: 'INVALID_TOKEN',
      message: expect.any(String),
    });

    const rows = await t.db.query(
      'SELECT token_hash FROM email_verification_tokens t JOIN users u ON u.id = t.user_id WHERE u.email = $1',
      [u.email],
    );
    expect(rows).toEqual([{ token_hash: sha256Hex(token) }]);
    const outbox = await t.db.query(`SELECT status, text_body, html_body FROM mail_outbox WHERE recipient = $1`, [u.email]);
    expect(outbox).toEqual([{ status: 'sent', text_body: null, html_body: null }]);
    const leaks = await t.db.query(
      `SELECT count(*)::int AS n FROM mail_outbox WHERE coalesce(text_body, '') || coalesce(html_body, '') LIKE '%' || $1 || '%'`,
      [token],
    );
    expect(leaks[0].n).toBe(0);
  });

  it('refuses an expired verification token', async () => {
    const u = uniqueUser('expired');
    await t.http().post('/auth/register').send(u).expect(202);
    const [mail] = await sink.waitFor(1, u.email);
    const token = tokenOf(mail.links[0]);
    await t.db.query(`UPDATE email_verification_tokens SET expires_at = now() - interval '1 second' WHERE token_hash = $1`, [
      sha256Hex(token),
    ]);
    expect((await t.http().post('/auth/email/verify').send({ token }).expect(400)).body.code).toBe('INVALID_TOKEN');
  });

  it('answers a second sign-up of a verified address alike, mails "account exists", and changes nothing', async () => {
    const u = await verifiedUser(t, { sink }, 'mail');
    const before = await t.db.query('SELECT password_hash, updated_at FROM users WHERE email = $1', [u.email]);
    const again = await t
      .http()
      .post('/auth/register')
      .send({ ...u, password: 'another password entirely' })
      .expect(202);
    expect(again.body).toEqual({ status: 'verification_sent' });
    const mails = await sink.waitFor(2, u.email);
    expect(mails[1].subject).toBe('You already have an account');
    expect(await t.db.query('SELECT password_hash, updated_at FROM users WHERE email = $1', [u.email])).toEqual(before);
  });

  it('gives the address to whoever proves the mailbox: a contested sign-up voids both passwords and its link asks for one', async () => {
    const owner = uniqueUser('owner');
    // Someone registers the owner's address first, with a password of their own (never verified).
    await t.http().post('/auth/register').send({ email: owner.email, password: 'squatter chose this one' }).expect(202);
    await sink.waitFor(1, owner.email);
    // The owner signs up later: same answer; no password stands, and the fresh link asks for one.
    await t.http().post('/auth/register').send({ email: owner.email, password: owner.password }).expect(202);
    const mails = await sink.waitFor(2, owner.email);
    expect(mails[1].subject).toBe('Confirm your email address and choose a password');
    const token = tokenOf(mails[1].links[0]);
    const bare = await t.http().post('/auth/email/verify').send({ token }).expect(400);
    expect(bare.body).toMatchObject({
      statusCode: 400,
      code: 'PASSWORD_REQUIRED',
      errors: [{ field: 'password', messages: [expect.any(String)] }],
    });
    await t.http().post('/auth/email/verify').send({ token, password: 'the owner picks this now' }).expect(200);
    await login({ email: owner.email, password: 'squatter chose this one' }).expect(401);
    await login({ email: owner.email, password: owner.password }).expect(401);
    await login({ email: owner.email, password: 'the owner picks this now' }).expect(200);
    const [, , notice] = await sink.waitFor(3, owner.email);
    expect(notice.subject).toBe('Your password was changed');
  });

  it('gives an unverified address a fresh link on a second sign-up and on resend; unknown addresses get nothing', async () => {
    const u = uniqueUser('fresh');
    await t.http().post('/auth/register').send(u).expect(202);
    await t.http().post('/auth/register').send(u).expect(202);
    await t.http().post('/auth/email/resend').send({ email: u.email }).expect(202);
    const unknown = `nobody-${u.email}`;
    await t.http().post('/auth/email/resend').send({ email: unknown }).expect(202);
    const mails = await sink.waitFor(3, u.email);
    expect(new Set(mails.map((m) => m.links[0])).size).toBe(3);
    await sleep(300);
    expect(sink.to(unknown)).toHaveLength(0);
    // The second sign-up contested the address: the resent link asks for a password too.
    expect(mails[2].subject).toBe('Confirm your email address and choose a password');
    await t
      .http()
      .post('/auth/email/verify')
      .send({ token: tokenOf(mails[1].links[0]), password: u.password })
      .expect(200);
    // Verifying voided the others.
    expect(
      (
        await t
          .http()
          .post('/auth/email/verify')
          .send({ token: tokenOf(mails[2].links[0]), password: u.password })
          .expect(400)
      ).body.code,
    ).toBe('INVALID_TOKEN');
  });

  it('resets a password with the mailed link: old sessions end, no tokens are returned, the token works once', async () => {
    const u = await verifiedUser(t, { sink }, 'mail');
    const old = (await login(u).expect(200)).body;
    await t.http().post('/auth/password/forgot').send({ email: u.email.toUpperCase() }).expect(202);
    const [, resetMail] = await sink.waitFor(2, u.email);
    expect(resetMail.subject).toBe('Reset your password');
    expect(resetMail.links[0]).toMatch(new RegExp(`^${APP_URL}/reset-password\\?token=`));
    const token = tokenOf(resetMail.links[0]);
    const stored = await t.db.query('SELECT token_hash FROM password_reset_tokens t JOIN users u ON u.id = t.user_id WHERE u.email = $1', [
      u.email,
    ]);
    expect(stored).toEqual([{ token_hash: sha256Hex(token) }]);

    // A password that fails the rules is refused and does not consume the token.
    const weak = await t.http().post('/auth/password/reset').send({ token, password: 'short' }).expect(400);
    expect(weak.body.errors).toEqual([{ field: 'password', messages: [expect.any(String)] }]);
    const done = await t.http().post('/auth/password/reset').send({ token, password: 'a brand new password' }).expect(204);
    expect(done.text).toBe('');

    await t.http().get('/auth/me').set('authorization', `Bearer ${old.tokens.accessToken}`).expect(401);
    expect((await t.http().post('/auth/refresh').send({ refreshToken: old.tokens.refreshToken }).expect(401)).body.code).toBe(
      'INVALID_REFRESH_TOKEN',
    );
    await login(u).expect(401);
    await login({ email: u.email, password: 'a brand new password' }).expect(200);
    expect((await t.http().post('/auth/password/reset').send({ token, password: 'yet another password' }).expect(400)).body.code).toBe(
      'INVALID_TOKEN',
    );
    const [, , notice] = await sink.waitFor(3, u.email);
    expect(notice.subject).toBe('Your password was changed');
  });

  it('voids older reset tokens when a newer one is requested, and refuses expired ones', async () => {
    const u = await verifiedUser(t, { sink }, 'mail');
    await t.http().post('/auth/password/forgot').send({ email: u.email }).expect(202);
    await sink.waitFor(2, u.email);
    await t.http().post('/auth/password/forgot').send({ email: u.email }).expect(202);
    const mails = await sink.waitFor(3, u.email);
    const [first, second] = [tokenOf(mails[1].links[0]), tokenOf(mails[2].links[0])];
    expect(
      (await t.http().post('/auth/password/reset').send({ token: first, password: 'a brand new password' }).expect(400)).body.code,
    ).toBe('INVALID_TOKEN');
    await t.db.query(`UPDATE password_reset_tokens SET expires_at = now() - interval '1 second' WHERE token_hash = $1`, [
      sha256Hex(second),
    ]);
    expect(
      (await t.http().post('/auth/password/reset').send({ token: second, password: 'a brand new password' }).expect(400)).body.code,
    ).toBe('INVALID_TOKEN');
  });

  it('answers forgot-password for an unknown address exactly as for a known one, and mails nothing', async () => {
    const u = await verifiedUser(t, { sink }, 'mail');
    const known = await t.http().post('/auth/password/forgot').send({ email: u.email }).expect(202);
    const unknown = await t
      .http()
      .post('/auth/password/forgot')
      .send({ email: `nobody-${u.email}` })
      .expect(202);
    expect(unknown.text).toBe(known.text);
    await sink.waitFor(2, u.email);
    await sleep(300);
    expect(sink.to(`nobody-${u.email}`)).toHaveLength(0);
  });

  it('sends at most 5 reset mails per address per hour, silently', async () => {
    const u = await verifiedUser(t, { sink }, 'mail');
    for (let i = 0; i < 7; i += 1) await t.http().post('/auth/password/forgot').send({ email: u.email }).expect(202);
    await sink.waitFor(6, u.email);
    await sleep(500);
    expect(sink.to(u.email).filter((m) => m.subject === 'Reset your password')).toHaveLength(5);
  });

  it('changes a password with the current one: other sessions end, this one lives, a notice is mailed', async () => {
    const u = await verifiedUser(t, { sink }, 'mail');
    const current = (await login(u).expect(200)).body;
    const other = (await login(u).expect(200)).body;
    const auth = { authorization: `Bearer ${current.tokens.accessToken}` };
    const wrong = await t
      .http()
      .post('/auth/password/change')
      .set(auth)
      .send({ currentPassword: 'not it at all', newPassword: 'a brand new password' })
      .expect(401);
    expect(wrong.body).toEqual({ statusCode: 401, code: 'INVALID_CREDENTIALS', message: 'login failed' });
    await t.http().post('/auth/password/change').set(auth).send({ currentPassword: u.password, newPassword: 'short' }).expect(400);
    await t
      .http()
      .post('/auth/password/change')
      .set(auth)
      .send({ currentPassword: u.password, newPassword: 'a brand new password' })
      .expect(204);
    await t.http().get('/auth/me').set(auth).expect(200);
    await t.http().get('/auth/me').set('authorization', `Bearer ${other.tokens.accessToken}`).expect(401);
    await login({ email: u.email, password: 'a brand new password' }).expect(200);
    const mails = await sink.waitFor(2, u.email);
    expect(mails[1].subject).toBe('Your password was changed');
    await t.http().post('/auth/password/change').send({ currentPassword: 'x', newPassword: 'a brand new password' }).expect(401);
  });

  it('never re-activates a deactivated account through a reset', async () => {
    const u = await verifiedUser(t, { sink }, 'mail');
    await t.db.query('UPDATE users SET deactivated_at = now() WHERE email = $1', [u.email]);
    await t.http().post('/auth/password/forgot').send({ email: u.email }).expect(202);
    const [, mail] = await sink.waitFor(2, u.email);
    await t
      .http()
      .post('/auth/password/reset')
      .send({ token: tokenOf(mail.links[0]), password: 'a brand new password' })
      .expect(204);
    expect((await login({ email: u.email, password: 'a brand new password' }).expect(403)).body.code).toBe('USER_DEACTIVATED');
  });

  it('refuses CR/LF in addresses (header injection) on every mail route', async () => {
    for (const route of ['/auth/register', '/auth/email/resend', '/auth/password/forgot']) {
      const res = await t
        .http()
        .post(route)
        .send({ email: 'victim@example.com\r\nBcc: all@example.com', password: 'long enough password' });
      expect(res.status).toBe(400);
      expect(res.body.errors.map((e: { field: string }) => e.field)).toContain('email');
    }
  });

  it('serves the same flows as message patterns over TCP', async () => {
    const rpc = t.rpc.tcp;
    const u = uniqueUser('rpcmail');
    expect(await rpc.send('auth.register', u)).toEqual({ status: 'verification_sent' });
    const [verifyMail] = await sink.waitFor(1, u.email);
    expect(
      (await rpc.send<{ user: { emailVerified: boolean } }>('auth.email.verify', { token: tokenOf(verifyMail.links[0]) })).user
        .emailVerified,
    ).toBe(true);
    expect(await rpc.fail('auth.email.verify', { token: 'nope' })).toMatchObject({ statusCode: 400, code: 'INVALID_TOKEN' });
    expect(await rpc.send('auth.email.resend', { email: u.email })).toEqual({ accepted: true });
    expect(await rpc.send('auth.password.forgot', { email: u.email })).toEqual({ accepted: true });
    const [, resetMail] = await sink.waitFor(2, u.email);
    expect(await rpc.fail('auth.password.reset', { token: tokenOf(resetMail.links[0]), password: 'short' })).toMatchObject({
      code: 'VALIDATION_FAILED',
    });
    expect(await rpc.send('auth.password.reset', { token: tokenOf(resetMail.links[0]), password: 'a brand new password' })).toEqual({
      reset: true,
    });
    const session = await rpc.send<{ tokens: { accessToken: string } }>('auth.login', { email: u.email, password: 'a brand new password' });
    expect(
      await rpc.fail('auth.password.change', {
        accessToken: session.tokens.accessToken,
        currentPassword: 'wrong one!',
        newPassword: 'another new password',
      }),
    ).toMatchObject({ code: 'INVALID_CREDENTIALS' });
    expect(
      await rpc.send('auth.password.change', {
        accessToken: session.tokens.accessToken,
        currentPassword: 'a brand new password',
        newPassword: 'another new password',
      }),
    ).toEqual({ changed: true });
    expect(await rpc.fail('auth.password.change', { currentPassword: 'x', newPassword: 'another new password' })).toMatchObject({
      code: 'UNAUTHORIZED',
    });
    expect(await rpc.fail('auth.password.forgot', { email: 'bad\r\naddress' })).toMatchObject({ code: 'VALIDATION_FAILED' });
  });
});
