import { AuditService } from '../../src/audit/audit.service';
import { RecoveryCodesService } from '../../src/mfa/recovery-codes.service';
import { TotpService } from '../../src/mfa/totp.service';
import { registerUser, type LoginBody, type Registered } from '../support/accounts';
import { SmtpSink } from '../support/smtp-sink';
import { startTestApp, type TestApp } from '../support/test-app';
import { decodeJwt } from '../support/tokens';
import { awayFromStepEdge, enrolTotp, totpCode } from '../support/totp';

interface MfaRequiredBody {
  mfaRequired: true;
  mfaToken: string;
  methods: string[];
  expiresIn: number;
}

const INVALID_CODE = { statusCode: 401, code: 'INVALID_MFA_CODE', message: 'invalid code' };
const DEAD_STEP = { statusCode: 401, code: 'INVALID_MFA_CODE', message: 'invalid or expired mfaToken: sign in again' };

/** The gate between factors: password login of a user with TOTP, and POST /auth/mfa/verify (auth.mfa.verify). */
describe('second factor at sign-in', () => {
  let t: TestApp;
  const sink = new SmtpSink();

  beforeAll(async () => {
    await sink.start();
    t = await startTestApp({ SMTP_URL: sink.url });
  });
  afterAll(async () => {
    await t.close();
    await sink.stop();
  });

  const audit = async (userId: string, type: string): Promise<unknown[]> => {
    await t.app.get(AuditService).flushed();
    return t.db.query('SELECT details FROM audit_log WHERE user_id = $1 AND type = $2 ORDER BY at', [userId, type]);
  };

  async function enrolled(prefix = 'mfa'): Promise<Registered & { secret: string }> {
    const u = await registerUser(t, prefix);
    return { ...u, secret: await enrolTotp(t, u) };
  }

  async function firstFactor(u: Registered, body: Record<string, unknown> = {}): Promise<MfaRequiredBody> {
    const res = await t
      .http()
      .post('/auth/login')
      .set('user-agent', 'mfa-agent/1')
      .send({ email: u.email, password: u.password, ...body })
      .expect(200);
    return res.body as MfaRequiredBody;
  }

  const verify = (mfaToken: string, code: string, method = 'totp') => t.http().post('/auth/mfa/verify').send({ mfaToken, method, code });

  it('a password login of a user with a confirmed factor answers the step, and no tokens, over REST and TCP', async () => {
    const u = await enrolled();
    const step = await firstFactor(u);
    expect(step).toEqual({
      mfaRequired: true,
      mfaToken: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
      methods: ['totp', 'recovery_code'],
      expiresIn: 300,
    });
    const overTcp = await t.rpc.tcp.send<MfaRequiredBody>('auth.login', { email: u.email, password: u.password });
    expect(overTcp).toEqual({ mfaRequired: true, mfaToken: expect.any(String), methods: ['totp', 'recovery_code'], expiresIn: 300 });
    expect(overTcp.mfaToken).not.toBe(step.mfaToken);
    // No session exists yet; the step is stored hashed.
    expect(await t.db.query('SELECT 1 FROM sessions WHERE user_id = $1', [u.id])).toEqual([]);
    const rows = await t.db.query('SELECT token_hash FROM mfa_challenges WHERE user_id = $1', [u.id]);
    expect(rows).toHaveLength(2);
    for (const row of rows) expect([step.mfaToken, overTcp.mfaToken]).not.toContain(row.token_hash);
    expect(await audit(u.id, 'user.mfa_challenged')).toEqual([{ details: { amr: ['pwd'] } }, { details: { amr: ['pwd'] } }]);
  });

  it('the right code opens the session the first factor asked for, at aal 2; the mfaToken works once', async () => {
    const u = await enrolled();
    const step = await firstFactor(u, { ttl: 3600 });
    await awayFromStepEdge();
    const res = await verify(step.mfaToken, totpCode(u.secret)).expect(200);
    const body = res.body as LoginBody;
    expect(body).toMatchObject({ sessionId: expect.any(String), user: { id: u.id, email: u.email }, tokens: { tokenType: 'Bearer' } });
    expect(decodeJwt(body.tokens.accessToken).payload).toMatchObject({
      sub: u.id,
      sid: body.sessionId,
      amr: ['mfa', 'otp', 'pwd'],
      aal: 2,
    });
    const [session] = await t.db.query('SELECT user_agent, aal, amr, expires_at - created_at AS lifetime FROM sessions WHERE id = $1', [
      body.sessionId,
    ]);
    expect(session).toMatchObject({ user_agent: 'mfa-agent/1', aal: 2, amr: ['mfa', 'otp', 'pwd'] });
    expect(session.lifetime).toMatchObject({ hours: 1 });
    // A refresh keeps the level.
    const refreshed = await t.http().post('/auth/refresh').send({ refreshToken: body.tokens.refreshToken }).expect(200);
    expect(decodeJwt(refreshed.body.tokens.accessToken).payload).toMatchObject({ aal: 2, amr: ['mfa', 'otp', 'pwd'] });

    expect((await verify(step.mfaToken, totpCode(u.secret, 1)).expect(401)).body).toEqual(DEAD_STEP);
  });

  it('accepts the steps −1, 0 and +1 in turn, refuses ±2, and never a step at or before the last one accepted', async () => {
    const u = await enrolled();
    await awayFromStepEdge();
    for (const offset of [-2, 2]) {
      const step = await firstFactor(u);
      expect((await verify(step.mfaToken, totpCode(u.secret, offset)).expect(401)).body).toEqual(INVALID_CODE);
    }
    for (const offset of [-1, 0, 1]) {
      const step = await firstFactor(u);
      await verify(step.mfaToken, totpCode(u.secret, offset)).expect(200);
    }
    // The code of +1 again, and the older ones: all used up.
    for (const offset of [1, 0, -1]) {
      const step = await firstFactor(u);
      expect((await verify(step.mfaToken, totpCode(u.secret, offset)).expect(401)).body).toEqual(INVALID_CODE);
    }
  });

  it('of 10 concurrent submissions of one code, on 10 mfaTokens, exactly one gets a session', async () => {
    const u = await enrolled();
    const steps = await Promise.all(Array.from({ length: 10 }, () => firstFactor(u)));
    await awayFromStepEdge();
    const code = totpCode(u.secret);
    const answers = await Promise.all(steps.map((s) => verify(s.mfaToken, code)));
    expect(answers.map((a) => a.status).sort()).toEqual([200, ...Array(9).fill(401)]);
    expect(await t.db.query('SELECT count(*)::int AS n FROM sessions WHERE user_id = $1', [u.id])).toEqual([{ n: 1 }]);
  });

  const checks = async (): Promise<Record<string, number>> => {
    const text = (await t.http().get('/metrics').expect(200)).text;
    const counts: Record<string, number> = {};
    for (const [, labels, value] of text.matchAll(/^gatehouse_second_factor_checks_total\{([^}]*)\} (\d+)$/gm))
      counts[labels] = Number(value);
    return counts;
  };
  const delta = (after: Record<string, number>, before: Record<string, number>, labels: string): number =>
    (after[labels] ?? 0) - (before[labels] ?? 0);

  it('an mfaToken dies after 5 wrong codes, and after 5 minutes; the metric counts each outcome', async () => {
    const before = await checks();
    const u = await enrolled();
    const step = await firstFactor(u);
    for (let i = 0; i < 5; i += 1) expect((await verify(step.mfaToken, '000000').expect(401)).body.code).toBe('INVALID_MFA_CODE');
    await awayFromStepEdge();
    expect((await verify(step.mfaToken, totpCode(u.secret)).expect(401)).body).toEqual(DEAD_STEP);

    const old = await firstFactor(u);
    await t.db.query(`UPDATE mfa_challenges SET expires_at = now() - interval '1 second' WHERE user_id = $1 AND consumed_at IS NULL`, [
      u.id,
    ]);
    expect((await verify(old.mfaToken, totpCode(u.secret)).expect(401)).body).toEqual(DEAD_STEP);
    expect((await verify('not-a-token', totpCode(u.secret)).expect(401)).body).toEqual(DEAD_STEP);
    const after = await checks();
    expect(delta(after, before, 'method="totp",outcome="wrong"')).toBe(5);
    expect(delta(after, before, 'method="totp",outcome="expired"')).toBe(3);
    expect(delta(after, before, 'method="totp",outcome="ok"')).toBe(0);
  });

  it('10 consecutive wrong codes lock the second factor (429, Retry-After); other accounts go on', async () => {
    const u = await enrolled('mfalock');
    const other = await enrolled('mfaother');
    for (let i = 0; i < 10; i += 1) {
      const step = await firstFactor(u);
      await verify(step.mfaToken, '000000').expect(401);
    }
    const step = await firstFactor(u);
    await awayFromStepEdge();
    const locked = await verify(step.mfaToken, totpCode(u.secret)).expect(429);
    expect(locked.body).toMatchObject({ statusCode: 429, code: 'TOO_MANY_REQUESTS' });
    expect(Number(locked.headers['retry-after'])).toBeGreaterThan(800);
    const otherStep = await firstFactor(other);
    await verify(otherStep.mfaToken, totpCode(other.secret)).expect(200);
  });

  it('a recovery code works once; the use is mailed and audited with the count left', async () => {
    const u = await enrolled();
    const codes = await t.app.get(RecoveryCodesService).regenerate(u.id);
    const step = await firstFactor(u);
    const res = await verify(step.mfaToken, codes[3].toUpperCase(), 'recovery_code').expect(200);
    expect(decodeJwt(res.body.tokens.accessToken).payload).toMatchObject({ amr: ['mfa', 'pwd'], aal: 2 });
    const again = await firstFactor(u);
    expect((await verify(again.mfaToken, codes[3], 'recovery_code').expect(401)).body).toEqual(INVALID_CODE);
    expect(await audit(u.id, 'user.recovery_code_used')).toEqual([{ details: { remaining: 9 } }]);
    const [mail] = await sink.waitForSubject(u.email, 'A recovery code was used (9 left)');
    expect(mail.text).toContain('9');
  });

  it('a password changed between the factors voids the step', async () => {
    const u = await enrolled();
    const step = await firstFactor(u);
    await t.db.query(`UPDATE users SET password_hash = password_hash || 'x' WHERE id = $1`, [u.id]);
    await awayFromStepEdge();
    expect((await verify(step.mfaToken, totpCode(u.secret)).expect(401)).body).toEqual(DEAD_STEP);
    expect(await t.db.query('SELECT 1 FROM sessions WHERE user_id = $1', [u.id])).toEqual([]);
  });

  it('a pending setup does not count; a trusted service login is not gated', async () => {
    const u = await registerUser(t, 'mfapending');
    expect(await t.app.get(TotpService).startSetup(u)).toMatchObject({ secret: expect.any(String) });
    const res = await t.http().post('/auth/login').send({ email: u.email, password: u.password }).expect(200);
    expect(res.body).toMatchObject({ tokens: { tokenType: 'Bearer' } });

    const v = await enrolled();
    const granted = await t.rpc.tcp.send<LoginBody>('auth.loginWithUser', { userId: v.id });
    expect(decodeJwt(granted.tokens.accessToken).payload).toMatchObject({ amr: [], aal: 1 });
  });

  it('once the factor is removed (DELETE /users/:id/mfa by an admin, say), the password alone signs in again', async () => {
    const u = await enrolled();
    expect(await firstFactor(u)).toMatchObject({ mfaRequired: true });
    expect(await t.rpc.tcp.send('users.mfa.reset', { id: u.id })).toEqual({ reset: true });
    const res = await t.http().post('/auth/login').send({ email: u.email, password: u.password }).expect(200);
    expect(decodeJwt(res.body.tokens.accessToken).payload).toMatchObject({ sub: u.id, aal: 1, amr: ['pwd'] });
  });

  it('over TCP: auth.mfa.verify answers the LoginResult; wrong codes the same body as REST', async () => {
    const u = await enrolled();
    const step = await t.rpc.tcp.send<MfaRequiredBody>('auth.login', { email: u.email, password: u.password });
    expect(await t.rpc.tcp.fail('auth.mfa.verify', { mfaToken: step.mfaToken, method: 'totp', code: '000000' })).toEqual(INVALID_CODE);
    expect(await t.rpc.tcp.fail('auth.mfa.verify', { mfaToken: step.mfaToken, method: 'sms', code: '000000' })).toMatchObject({
      statusCode: 400,
      code: 'VALIDATION_FAILED',
      errors: [{ field: 'method', messages: expect.any(Array) }],
    });
    await awayFromStepEdge();
    const body = await t.rpc.tcp.send<LoginBody>('auth.mfa.verify', { mfaToken: step.mfaToken, method: 'totp', code: totpCode(u.secret) });
    expect(decodeJwt(body.tokens.accessToken).payload).toMatchObject({ sub: u.id, aal: 2 });
  });

  it('re-authentication takes a code of the authenticator app', async () => {
    const u = await enrolled();
    const step = await firstFactor(u);
    await awayFromStepEdge();
    const signedIn = (await verify(step.mfaToken, totpCode(u.secret, -1)).expect(200)).body as LoginBody;
    const auth = { authorization: `Bearer ${signedIn.tokens.accessToken}` };
    expect(
      (
        await t
          .http()
          .post('/auth/reauthenticate')
          .set(auth)
          .send({ code: totpCode(u.secret, -1) })
          .expect(401)
      ).body,
    ).toEqual(INVALID_CODE);
    const res = await t
      .http()
      .post('/auth/reauthenticate')
      .set(auth)
      .send({ code: totpCode(u.secret) })
      .expect(200);
    expect(decodeJwt(res.body.tokens.accessToken).payload).toMatchObject({ sid: signedIn.sessionId, aal: 2, amr: ['mfa', 'otp', 'pwd'] });
    const both = await t.http().post('/auth/reauthenticate').set(auth).send({}).expect(400);
    expect(both.body.errors).toEqual([
      { field: 'password', messages: ['send password or code'] },
      { field: 'code', messages: ['send password or code'] },
    ]);
  });
});
